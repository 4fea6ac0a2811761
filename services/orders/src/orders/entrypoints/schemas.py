"""Shapes of the orders HTTP API."""

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.common import Address, Buyer, CurrencyCode, Money, OrderLine, Shipping
from oms_contracts.orders.v1 import LineQuantity, Tag


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
    notes: list[dict] = Field(default_factory=list, description="Staff notes: {note_id, text, internal, by, at}.")
    tags: list[str] = Field(default_factory=list)
    folder: str | None = None
    shipped_on_channel: bool = False


class OrderPage(BaseModel):
    """One page of the order list."""

    items: list[OrderPublic]
    total: int = Field(description="How many orders match the filters, over all pages.")
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page.")


class HoldRequest(BaseModel):
    """Why staff park, unpark, lock, unlock or cancel an order (shown in its timeline)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "buyer asked us to wait"}]})

    reason: str = Field(min_length=1, max_length=500)


class TimelineEntryPublic(BaseModel):
    """One change of an order: when, what, who (user, key, channel, inventory, fulfilment) and the detail."""

    at: datetime
    what: str
    who: str
    detail: str | None


class TimelinePublic(BaseModel):
    """The order's whole history, oldest first."""

    order_id: uuid.UUID
    order_number: str
    entries: list[TimelineEntryPublic]


class NoteCreate(BaseModel):
    """A note on an order: internal (default) or printed on the invoice."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Gift: no prices on the packing slip", "internal": False}]})

    text: str = Field(min_length=1, max_length=2000)
    internal: bool = True


class OrderEdit(BaseModel):
    """What to change on an open order; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"shipping_service": "Express 24", "tags": ["vip"], "folder": "wholesale"}]})

    shipping_address: Address | None = None
    billing_address: Address | None = None
    shipping_service: str | None = Field(None, min_length=1, max_length=100)
    shipping_cost: Money | None = None
    tags: list[Tag] | None = Field(None, max_length=50, description="The whole set of tags (each 1-50 chars).")
    folder: str | None = Field(None, max_length=50, description="'' takes the order out of its folder.")


class LinesChange(BaseModel):
    """Lines to add, lines to remove (by id), and new quantities of lines already on the order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"add": [{"line_id": "3", "sku": "MUG-RED", "title": "Red mug", "quantity": 1, "unit_price": "4.99"}],
         "remove": ["2"], "quantities": [{"line_id": "1", "quantity": 3}]}]})

    add: list[OrderLine] = Field(default_factory=list, max_length=500)
    remove: list[str] = Field(default_factory=list, max_length=500)
    quantities: list[LineQuantity] = Field(default_factory=list, max_length=500)


class BatchProcessRequest(BaseModel):
    """The open orders to process."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"order_ids": ["0b5f3f4e-1b7b-4c44-8c4b-7f1f0e3c2a11"]}]})

    order_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class BatchProcessOutcome(BaseModel):
    """What became of one order of a batch."""

    order_id: uuid.UUID
    order_number: str | None = None
    outcome: str = Field(description="accepted, refused, not_found, or pending (the worker did not answer in time)")
    guard: str | None = Field(None, description="The guard that refused it: open, paid, parked, locked or stock.")
    reason: str | None = None


class BatchProcessPublic(BaseModel):
    """Per order: accepted into processing, or refused and why."""

    accepted: int
    refused: int
    results: list[BatchProcessOutcome]


class OrderCounts(BaseModel):
    """How many orders hold each value of each grid filter (Open Orders by default)."""

    total: int
    channel: dict[str, int]
    paid: dict[str, int]
    parked: dict[str, int]
    locked: dict[str, int]
    out_of_stock: dict[str, int]
    tag: dict[str, int]
    folder: dict[str, int]
