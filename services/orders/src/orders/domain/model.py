"""The Order aggregate: lifecycle rules of an order from Open to Processed."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from oms_contracts import Message
from oms_contracts.common import OrderDetails
from oms_contracts.orders.v1 import (
    OrderCancelled,
    OrderLink,
    OrderLocked,
    OrderOpened,
    OrderParked,
    OrderProcessed,
    OrderProcessingStarted,
    OrderSnapshot,
    OrderUnlocked,
    OrderUnparked,
)
from orders.domain.errors import OrderRefused
from orders.domain.payments import OrderPayments
from orders.domain.returns import Rma


class OrderStatus(StrEnum):
    """Where an order is in its life."""

    OPEN = "open"
    PROCESSING = "processing"  # handed to fulfilment, waiting for the shipment to be confirmed
    PROCESSED = "processed"
    CANCELLED = "cancelled"  # terminal; its stock was released
    MERGED = "merged"  # terminal; its lines and stock live on in the merged order


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
    park_unpaid_channels: frozenset[str] = frozenset()  # park unpaid arrivals ("*": all)


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
    parked: bool = False  # on hold, keeps its stock
    locked: bool = False  # frozen, its stock released
    hold_reason: str | None = None
    cancelled_at: datetime | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    links: list[OrderLink] = Field(default_factory=list)  # split, merge and resend relatives
    returns: list[Rma] = Field(default_factory=list)  # RMAs booked on a processed order
    payments: OrderPayments = Field(default_factory=OrderPayments)  # payments and refunds recorded

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
        """Remember inventory's answer for one SKU (an answer reaching a locked or cancelled order is stale)."""
        if self.locked or self.status is OrderStatus.CANCELLED:
            self.note(now, "allocation ignored", "inventory", f"{sku}: the order holds no stock now")
            return
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
        if self.locked:
            raise OrderRefused(f"order is locked ({self.hold_reason}); unlock it first")
        if self.parked:
            raise OrderRefused(f"order is parked ({self.hold_reason}); unpark it first")
        if guards.require_paid and not self.details.paid:
            raise OrderRefused("order is not paid")
        if guards.require_stock and not self.stock_allocated:
            raise OrderRefused(f"stock is not allocated for: {', '.join(self.unallocated_skus())}")
        self.status = OrderStatus.PROCESSING
        self.note(now, "processing started", by)
        return [OrderProcessingStarted(order=self.snapshot(), requested_by=by)]

    def park(self, *, reason: str, by: str, now: datetime) -> list[Message]:
        """Put the order on hold; it keeps its stock."""
        self._require_open("parked")
        if self.parked:
            raise OrderRefused("order is already parked")
        self.parked, self.hold_reason = True, reason
        self.note(now, "parked", by, reason)
        return [OrderParked(order_id=self.order_id, reason=reason, by=by)]

    def unpark(self, *, reason: str, by: str, now: datetime) -> list[Message]:
        """Take the order off hold."""
        if not self.parked:
            raise OrderRefused("order is not parked")
        self.parked = False
        self.hold_reason = self.hold_reason if self.locked else None
        self.note(now, "unparked", by, reason)
        return [OrderUnparked(order_id=self.order_id, reason=reason, by=by)]

    def lock(self, *, reason: str, by: str, now: datetime) -> list[Message]:
        """Freeze the order; inventory releases its stock, so its allocations are forgotten."""
        self._require_open("locked")
        if self.locked:
            raise OrderRefused("order is already locked")
        self.locked, self.hold_reason = True, reason
        self.allocations = {}
        self.note(now, "locked", by, f"{reason}; stock released")
        return [OrderLocked(order=self.snapshot(), reason=reason, by=by)]

    def unlock(self, *, reason: str, by: str, now: datetime) -> list[Message]:
        """Unfreeze the order; inventory allocates its stock again."""
        if self.status is not OrderStatus.OPEN:
            raise OrderRefused(f"order is {self.status.value}, only an open order can be unlocked")
        if not self.locked:
            raise OrderRefused("order is not locked")
        self.locked = False
        self.hold_reason = self.hold_reason if self.parked else None
        self.note(now, "unlocked", by, f"{reason}; stock allocated again")
        return [OrderUnlocked(order=self.snapshot(), reason=reason, by=by)]

    def cancel(self, *, reason: str, by: str, now: datetime) -> list[Message]:
        """Cancel the order for good; inventory releases its stock unless locking released it already."""
        self._require_open("cancelled")
        stock_held = not self.locked
        self.status = OrderStatus.CANCELLED
        self.cancelled_at = now
        self.allocations = {}
        self.note(now, "cancelled", by, reason + ("; stock released" if stock_held else ""))
        return [OrderCancelled(order=self.snapshot(), reason=reason, by=by, stock_held=stock_held)]

    def _require_open(self, becoming: str) -> None:
        """Refuse unless the order is open."""
        if self.status is not OrderStatus.OPEN:
            raise OrderRefused(f"order is {self.status.value}, only an open order can be {becoming}")

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
