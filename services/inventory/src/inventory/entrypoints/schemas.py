"""Shapes of the inventory HTTP API."""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oms_contracts.inventory.v1 import DEFAULT_LOCATION
from inventory.domain.items import BIN_PATTERN
from inventory.domain.model import LOCATION_PATTERN, LedgerEntry, Levels, Stock
from inventory.domain.purchase_orders import PurchaseOrder


class StockAdjustmentCreate(BaseModel):
    """Stock counted in (positive delta) or out (negative) at a location, with the reason."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(DEFAULT_LOCATION, pattern=LOCATION_PATTERN)
    delta: int = Field(ge=-1_000_000, le=1_000_000, description="Change of on_hand; never zero.")
    reason: str = Field(min_length=1, max_length=200, examples=["opening stock", "stock take", "damaged"])

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("must not be zero")
        return delta


class StockCountCreate(BaseModel):
    """A stock take at a location: on_hand becomes `counted`; the ledger records the difference."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(DEFAULT_LOCATION, pattern=LOCATION_PATTERN)
    counted: int = Field(ge=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=200, examples=["quarterly stock take"])


class StockTransferCreate(BaseModel):
    """Move stock from one location to another."""

    model_config = ConfigDict(extra="forbid")

    from_location: str = Field(pattern=LOCATION_PATTERN)
    to_location: str = Field(pattern=LOCATION_PATTERN)
    quantity: int = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=200, examples=["restock the shop floor"])


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
    due: int = Field(0, description="Ordered on open purchase orders, not yet received.")
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
            due=stock.due,
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
    due_delta: int = 0
    reason: str
    order_id: uuid.UUID | None
    purchase_order_id: uuid.UUID | None = None
    short: int = 0
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
                                        "due_delta", "reason", "order_id", "purchase_order_id", "short", "by", "at",
                                        "refused"}),
            command_id=entry.entry_id,
            levels=LevelsPublic.of(entry.levels),
            totals=LevelsPublic.of(entry.totals),
        )


class LedgerPage(BaseModel):
    """A page of a SKU's ledger in seq order; pass `next_after_seq` as `after_seq` for the next page."""

    sku: str
    entries: list[LedgerEntryPublic]
    next_after_seq: int | None = Field(description="None when this is the last page.")


class StockItemCreate(BaseModel):
    """What a SKU is; PUT replaces every field (unknown fields are refused)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    barcode: str | None = Field(None, max_length=64)
    weight: float | None = Field(None, ge=0, description="Kilograms.")
    default_location: str = Field(DEFAULT_LOCATION, pattern=LOCATION_PATTERN)
    default_bin: str | None = Field(None, pattern=BIN_PATTERN, description="Bin within the default location.")
    minimum_level: int = Field(0, ge=0, description="Below this available level a reorder is suggested.")
    supplier: str | None = Field(None, max_length=200)


class StockItemPublic(BaseModel):
    """A stock item as staff see it."""

    sku: str
    title: str
    barcode: str | None
    weight: float | None
    default_location: str
    default_bin: str | None = None
    minimum_level: int
    supplier: str | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    defined_by: str | None = None

    @classmethod
    def of(cls, doc: dict) -> "StockItemPublic":
        """The API view of a stored item document."""
        return cls.model_validate({name: doc.get(name) for name in cls.model_fields})


class StockItemPage(BaseModel):
    """A page of stock items in SKU order; pass `next_after` as `after` for the next page."""

    items: list[StockItemPublic]
    next_after: str | None = Field(description="None when this is the last page.")


class CommandAccepted(BaseModel):
    """The command was sent but the worker has not answered yet; poll `status_url`."""

    command_id: uuid.UUID
    status_url: str


class ImportAccepted(BaseModel):
    """Every row was valid and sent as one command; the items appear as the worker applies them."""

    accepted: int
    command_ids: list[uuid.UUID]


class PurchaseOrderLineCreate(BaseModel):
    """A quantity of one SKU."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=1_000_000)


class PurchaseOrderCreate(BaseModel):
    """Stock ordered from a supplier."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    supplier: str = Field(min_length=1, max_length=200)
    lines: list[PurchaseOrderLineCreate] = Field(min_length=1, max_length=500)
    expected_on: date | None = None
    status: Literal["pending", "open"] = Field(
        "open", description="pending: a draft, nothing due until POST .../open; open: sent, its lines are due.")


class PurchaseOrderCancel(BaseModel):
    """Why nothing more will arrive on a purchase order."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, examples=["supplier discontinued the item"])


class DeliveryCreate(BaseModel):
    """What arrived against a purchase order (part of it is fine; more than ordered is refused)."""

    model_config = ConfigDict(extra="forbid")

    lines: list[PurchaseOrderLineCreate] = Field(min_length=1, max_length=500)


class PurchaseOrderLinePublic(BaseModel):
    """One SKU of a purchase order."""

    sku: str
    ordered: int
    received: int
    outstanding: int


class PurchaseOrderPublic(BaseModel):
    """A purchase order as staff see it."""

    po_id: uuid.UUID
    supplier: str
    expected_on: date | None
    status: str
    lines: list[PurchaseOrderLinePublic]
    deliveries: int
    created_by: str
    cancel_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, doc: dict) -> "PurchaseOrderPublic":
        """The API view of a stored purchase order document."""
        po = PurchaseOrder.model_validate(doc["purchase_order"])
        return cls(
            **po.model_dump(include={"po_id", "supplier", "expected_on", "deliveries", "created_by", "cancel_reason"}),
            status=po.status.value,
            lines=[PurchaseOrderLinePublic(sku=li.sku, ordered=li.ordered, received=li.received,
                                           outstanding=li.outstanding) for li in po.lines],
            created_at=doc.get("created_at"),
            updated_at=doc.get("updated_at"),
        )


class LocationStockPublic(BaseModel):
    """One SKU's levels at one location."""

    sku: str
    location: str
    on_hand: int
    allocated: int
    available: int


class LocationStockPage(BaseModel):
    """Every SKU recorded at a location, in SKU order; pass `next_after` as `after` for the next page."""

    location: str
    items: list[LocationStockPublic]
    next_after: str | None = Field(description="None when this is the last page.")


class OversellingOrder(BaseModel):
    """An open order holding stock that is not there: allocated last, beyond what is on hand."""

    order_id: uuid.UUID
    allocated: int = Field(description="What the order holds of the SKU.")
    short: int = Field(description="How much of that is not covered by on_hand.")


class OversoldPublic(BaseModel):
    """A SKU with available below zero and the open orders that took it there."""

    sku: str
    on_hand: int
    allocated: int
    available: int
    oversold_by: int
    orders: list[OversellingOrder]


class OversoldPage(BaseModel):
    """Oversold SKUs in SKU order; pass `next_after` as `after` for the next page."""

    items: list[OversoldPublic]
    next_after: str | None = Field(description="None when this is the last page.")


class LowStockPublic(BaseModel):
    """A SKU whose available stock is below its minimum level, with what to reorder."""

    sku: str
    title: str
    supplier: str | None
    minimum_level: int
    on_hand: int
    allocated: int
    available: int
    due: int
    suggested_reorder: int = Field(description="minimum + open orders (allocated) − available − due, at least 0.")


class LowStockPage(BaseModel):
    """Low SKUs in SKU order; pass `next_after` as `after` for the next page."""

    items: list[LowStockPublic]
    next_after: str | None = Field(description="None when this is the last page.")


class PurchaseOrderPage(BaseModel):
    """Purchase orders in id order; pass `next_after` as `after` for the next page."""

    purchase_orders: list[PurchaseOrderPublic]
    next_after: str | None = Field(description="None when this is the last page.")
