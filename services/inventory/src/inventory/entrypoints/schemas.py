"""Shapes of the inventory HTTP API."""

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from oms_contracts.inventory.v1 import DEFAULT_LOCATION
from inventory.domain.model import LOCATION_PATTERN, LedgerEntry, Levels, Stock


class StockAdjustmentCreate(BaseModel):
    """Stock counted in (positive delta) or out (negative) at a location, with the reason."""

    location: str = Field(DEFAULT_LOCATION, pattern=LOCATION_PATTERN)
    delta: int = Field(ge=-1_000_000, le=1_000_000, description="Change of on_hand; never zero.")
    reason: str = Field(min_length=1, max_length=200, examples=["opening stock", "stock take", "damaged"])

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("must not be zero")
        return delta


class AdjustmentAccepted(BaseModel):
    """The adjustment was queued as a command; poll `status_url` for the new levels."""

    command_id: uuid.UUID
    sku: str
    status_url: str


class LevelsPublic(BaseModel):
    """Stock levels; `available` below zero means oversold."""

    on_hand: int
    allocated: int
    available: int

    @classmethod
    def of(cls, levels: Levels) -> "LevelsPublic":
        """The API view of levels."""
        return cls(on_hand=levels.on_hand, allocated=levels.allocated, available=levels.available)


class StockPublic(BaseModel):
    """A SKU's stock: totals over all locations, and per location."""

    sku: str
    on_hand: int
    allocated: int
    available: int
    oversold: bool
    seq: int = Field(description="The ledger entry these levels reflect.")
    updated_at: datetime | None
    locations: dict[str, LevelsPublic]

    @classmethod
    def of(cls, stock: Stock) -> "StockPublic":
        """The API view of a SKU's stock."""
        totals = stock.totals
        return cls(
            sku=stock.sku,
            on_hand=totals.on_hand,
            allocated=totals.allocated,
            available=totals.available,
            oversold=totals.available < 0,
            seq=stock.seq,
            updated_at=stock.updated_at,
            locations={name: LevelsPublic.of(levels) for name, levels in sorted(stock.locations.items())},
        )


class LedgerEntryPublic(BaseModel):
    """One entry of a SKU's ledger: what changed, why, and the levels after it."""

    seq: int
    command_id: uuid.UUID
    command_type: str
    location: str
    on_hand_delta: int
    allocated_delta: int
    reason: str
    order_id: uuid.UUID | None
    by: str | None
    at: datetime
    levels: LevelsPublic = Field(description="The location's levels after the entry.")
    totals: LevelsPublic = Field(description="The SKU's levels over all locations after the entry.")
    refused: str | None

    @classmethod
    def of(cls, entry: LedgerEntry) -> "LedgerEntryPublic":
        """The API view of a ledger entry."""
        return cls(
            **entry.model_dump(include={"seq", "command_type", "location", "on_hand_delta", "allocated_delta",
                                        "reason", "order_id", "by", "at", "refused"}),
            command_id=entry.entry_id,
            levels=LevelsPublic.of(entry.levels),
            totals=LevelsPublic.of(entry.totals),
        )


class LedgerPage(BaseModel):
    """A page of a SKU's ledger in seq order; pass `next_after_seq` as `after_seq` for the next page."""

    sku: str
    entries: list[LedgerEntryPublic]
    next_after_seq: int | None = Field(description="None when this is the last page.")
