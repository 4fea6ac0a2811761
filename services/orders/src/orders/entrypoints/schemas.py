"""Shapes of the orders HTTP API."""

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.common import Address, Buyer, CurrencyCode, Money, OrderLine, Shipping


class OrderCreate(BaseModel):
    """A telephone sale typed in by staff."""

    model_config = ConfigDict(extra="forbid")

    order_number: str | None = Field(None, max_length=100, description="Leave out to get one generated.")
    buyer: Buyer
    shipping_address: Address
    billing_address: Address | None = None
    lines: list[OrderLine] = Field(min_length=1, max_length=500)
    shipping: Shipping
    currency: CurrencyCode
    discount: Money = Decimal("0")
    paid: bool = False
    notes: str | None = Field(None, max_length=2000)


class OrderAccepted(BaseModel):
    """The command was queued; poll `status_url` for the order."""

    order_id: uuid.UUID
    order_number: str | None = None
    command_id: uuid.UUID
    status_url: str


class OrderPublic(BaseModel):
    """An order as staff see it."""

    order_id: uuid.UUID
    order_number: str
    channel: str
    channel_order_id: str
    status: str
    paid: bool
    parked: bool
    locked: bool
    hold_reason: str | None
    stock_allocated: bool
    unallocated_skus: list[str]
    opened_at: datetime
    processed_at: datetime | None
    cancelled_at: datetime | None
    carrier: str | None
    tracking_number: str | None
    total: Decimal
    currency: str
    details: dict
    timeline: list[dict]
    links: list[dict] = Field(default_factory=list, description="Split, merge and resend relatives: {kind, order_id}.")
    returns: list[dict] = Field(default_factory=list, description="RMAs booked on the order.")


class OrderPage(BaseModel):
    """One page of the order list."""

    items: list[OrderPublic]
    total: int = Field(description="How many orders match the filters, over all pages.")
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page.")


class HoldRequest(BaseModel):
    """Why staff park, unpark, lock, unlock or cancel an order (shown in its timeline)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "buyer asked us to wait"}]})

    reason: str = Field(min_length=1, max_length=500)
