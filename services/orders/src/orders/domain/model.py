"""The Order aggregate: lifecycle rules of an order from Open to Processed."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from oms_contracts import Message
from oms_contracts.common import OrderDetails
from oms_contracts.orders.v1 import OrderOpened, OrderProcessed, OrderProcessingStarted, OrderSnapshot
from orders.domain.errors import OrderRefused


class OrderStatus(StrEnum):
    """Where an order is in its life."""

    OPEN = "open"
    PROCESSING = "processing"  # handed to fulfilment, waiting for the shipment to be confirmed
    PROCESSED = "processed"


class SkuAllocation(BaseModel):
    """Inventory's latest answer for one SKU of the order."""

    requested: int
    short: int
    known_sku: bool = True


class Shipment(BaseModel):
    """How the order left the warehouse."""

    shipment_id: uuid.UUID
    carrier: str
    tracking_number: str
    shipped_at: datetime


class TimelineEntry(BaseModel):
    """One thing that happened to the order: what, who or what did it, and when."""

    at: datetime
    what: str
    by: str
    detail: str | None = None
    event_id: uuid.UUID | None = None


class ProcessingGuards(BaseModel):
    """Which conditions processing requires (settings can switch them off)."""

    require_paid: bool = True
    require_stock: bool = True


class Order(BaseModel):
    """An order in the book."""

    order_id: uuid.UUID
    details: OrderDetails
    source: str
    status: OrderStatus = OrderStatus.OPEN
    opened_at: datetime
    channel_updated_at: datetime | None = None
    allocations: dict[str, SkuAllocation] = Field(default_factory=dict)
    shipment: Shipment | None = None
    processed_at: datetime | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @classmethod
    def place(
        cls,
        *,
        order_id: uuid.UUID,
        details: OrderDetails,
        source: str,
        placed_by: str,
        now: datetime,
        channel_updated_at: datetime | None = None,
    ) -> tuple["Order", list[Message]]:
        """Open a new order; every new order enters Open Orders."""
        order = cls(
            order_id=order_id,
            details=details,
            source=source,
            opened_at=now,
            channel_updated_at=channel_updated_at,
        )
        order.note(now, "opened", placed_by, f"from {details.channel} as {details.order_number}")
        return order, [OrderOpened(order=order.snapshot())]

    def snapshot(self) -> OrderSnapshot:
        """The order as other contexts see it."""
        return OrderSnapshot(order_id=self.order_id, details=self.details, opened_at=self.opened_at)

    def note(self, at: datetime, what: str, by: str, detail: str | None = None) -> None:
        """Add an entry to the timeline."""
        self.timeline.append(TimelineEntry(at=at, what=what, by=by, detail=detail))

    def receive_again(self, *, by: str, now: datetime, channel_updated_at: datetime | None) -> list[Message]:
        """The same order arrived again (a retry or a newer channel version): recorded, one order stays one."""
        newer = (
            channel_updated_at is not None
            and self.channel_updated_at is not None
            and channel_updated_at > self.channel_updated_at
        )
        self.note(now, "received again", by, "newer channel version" if newer else "duplicate delivery")
        return []

    def record_allocation(self, *, sku: str, requested: int, short: int, known_sku: bool, now: datetime) -> None:
        """Remember inventory's answer for one SKU."""
        self.allocations[sku] = SkuAllocation(requested=requested, short=short, known_sku=known_sku)
        if not known_sku:
            self.note(now, "unlinked item", "inventory", f"{sku} is not a stock item")
        elif short:
            self.note(now, "out of stock", "inventory", f"{sku}: {short} of {requested} short")
        elif self.stock_allocated:
            self.note(now, "stock allocated", "inventory")

    @property
    def stock_allocated(self) -> bool:
        """Every SKU of the order is allocated in full."""
        needed = self.quantities_by_sku()
        return all(
            (alloc := self.allocations.get(sku)) is not None and alloc.known_sku and alloc.short == 0
            and alloc.requested == qty
            for sku, qty in needed.items()
        )

    def quantities_by_sku(self) -> dict[str, int]:
        """Total quantity per SKU over all lines."""
        totals: dict[str, int] = {}
        for line in self.details.lines:
            totals[line.sku] = totals.get(line.sku, 0) + line.quantity
        return totals

    def start_processing(self, *, by: str, now: datetime, guards: ProcessingGuards) -> list[Message]:
        """Hand the order to fulfilment, if every guard passes; otherwise raise OrderRefused saying why."""
        if self.status is not OrderStatus.OPEN:
            raise OrderRefused(f"order is {self.status.value}, only an open order can be processed")
        if guards.require_paid and not self.details.paid:
            raise OrderRefused("order is not paid")
        if guards.require_stock and not self.stock_allocated:
            raise OrderRefused(f"stock is not allocated for: {', '.join(self.unallocated_skus())}")
        self.status = OrderStatus.PROCESSING
        self.note(now, "processing started", by)
        return [OrderProcessingStarted(order=self.snapshot(), requested_by=by)]

    def unallocated_skus(self) -> list[str]:
        """SKUs whose stock is not (yet) allocated in full."""
        return [
            sku
            for sku, qty in self.quantities_by_sku().items()
            if not (a := self.allocations.get(sku)) or a.short or not a.known_sku or a.requested != qty
        ]

    def confirm_shipment(self, *, shipment: Shipment, now: datetime) -> list[Message]:
        """Fulfilment shipped it: the order becomes Processed, for good."""
        if self.status is OrderStatus.PROCESSED:
            return []
        if self.status is not OrderStatus.PROCESSING:
            raise OrderRefused(f"order is {self.status.value}; a shipment can only confirm an order in processing")
        self.status = OrderStatus.PROCESSED
        self.shipment = shipment
        self.processed_at = now
        self.note(now, "processed", "fulfilment", f"{shipment.carrier} {shipment.tracking_number}")
        return [
            OrderProcessed(
                order=self.snapshot(),
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                processed_at=now,
            )
        ]
