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
    OrderNote,
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
    """Which conditions processing requires (settings can switch them off).

    Being open is always required: a processed order is final and a cancelled or merged one is gone.
    """

    require_paid: bool = True
    require_stock: bool = True
    park_unpaid_channels: frozenset[str] = frozenset()  # park unpaid arrivals ("*": all)
    require_not_parked: bool = True
    require_not_locked: bool = True


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
    notes: list[OrderNote] = Field(default_factory=list)  # staff notes, internal or for the invoice
    tags: list[str] = Field(default_factory=list)
    folder: str | None = None
    shipped_on_channel: bool = False  # the channel already marks it shipped
    # Inventory answers per SKU still to come for stock this order asked for; answers to requests made before a
    # lock or cancel released the stock are stale and counted in `stale_answers`, so they change nothing.
    awaiting: dict[str, int] = Field(default_factory=dict)
    stale_answers: dict[str, int] = Field(default_factory=dict)

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
        lock_reason: str | None = None,
        shipped_on_channel: bool = False,
    ) -> tuple["Order", list[Message]]:
        """Open a new order; every new order enters Open Orders (locked on arrival when a reason is given)."""
        order = cls(
            order_id=order_id,
            details=details,
            source=source,
            opened_at=now,
            channel_updated_at=channel_updated_at,
            shipped_on_channel=shipped_on_channel,
        )
        order.note(now, "opened", placed_by, f"from {details.channel} as {details.order_number}")
        if shipped_on_channel:
            order.note(now, "shipped on channel", placed_by, "the channel already marks this order shipped")
        if lock_reason:
            order.locked, order.hold_reason = True, lock_reason
            order.note(now, "locked", placed_by, f"{lock_reason}; no stock allocated")
            return order, [OrderOpened(order=order.snapshot(), allocates_stock=False)]
        order.awaiting = {sku: 1 for sku in order.quantities_by_sku()}
        return order, [OrderOpened(order=order.snapshot())]

    def snapshot(self) -> OrderSnapshot:
        """The order as other contexts see it (with the notes meant for the invoice)."""
        printed = [note.text for note in self.notes if not note.internal]
        return OrderSnapshot(order_id=self.order_id, details=self.details, opened_at=self.opened_at,
                             invoice_note="\n".join(printed) or None)

    def note(self, at: datetime, what: str, by: str, detail: str | None = None) -> None:
        """Add an entry to the timeline."""
        self.timeline.append(TimelineEntry(at=at, what=what, by=by, detail=detail))

    def record_allocation(self, *, sku: str, requested: int, short: int, known_sku: bool, now: datetime) -> None:
        """Add inventory's answer for one request of one SKU (answers add up: an edit allocates only its delta).

        An answer to a request made before a lock or cancel released the stock is stale and changes nothing.
        """
        if self.stale_answers.get(sku):
            _take_one(self.stale_answers, sku)
            self.note(now, "allocation ignored", "inventory", f"{sku}: answer to a request released since")
            return
        if self.locked or self.status in (OrderStatus.CANCELLED, OrderStatus.MERGED):
            self.note(now, "allocation ignored", "inventory", f"{sku}: the order holds no stock now")
            return
        _take_one(self.awaiting, sku)
        before = self.allocations.get(sku)
        if before is not None:
            # a release that overtook this answer (negative `requested`) gives back the shortfall first
            released_early = max(0, -before.requested)
            requested, short = before.requested + requested, before.short + max(0, short - released_early)
            known_sku = known_sku and before.known_sku
        if requested == 0 and short == 0:
            self.allocations.pop(sku, None)
        else:
            self.allocations[sku] = SkuAllocation(requested=requested, short=short, known_sku=known_sku)
        if not known_sku:
            self.note(now, "unlinked item", "inventory", f"{sku} is not a stock item")
        elif short:
            self.note(now, "out of stock", "inventory", f"{sku}: {short} of {requested} short")
        elif self.stock_allocated:
            self.note(now, "stock allocated", "inventory")
        else:
            self.note(now, "stock allocated", "inventory", f"{sku}: {requested}; other SKUs still pending")

    def release_stock_quantity(self, sku: str, quantity: int) -> None:
        """The order gives back `quantity` of a SKU (a line edit): its allocation shrinks, shortfall first."""
        before = self.allocations.get(sku)
        if before is None:  # the answer is still to come: it will add up to the right figure
            self.allocations[sku] = SkuAllocation(requested=-quantity, short=0)
            return
        remaining = before.requested - quantity
        if remaining == 0 and not self.awaiting.get(sku):
            del self.allocations[sku]
            return
        self.allocations[sku] = SkuAllocation(requested=remaining, short=max(0, before.short - quantity),
                                              known_sku=before.known_sku)

    def _forget_stock(self) -> None:
        """Inventory releases everything (lock, cancel): answers still on their way are stale now."""
        for sku, count in self.awaiting.items():
            self.stale_answers[sku] = self.stale_answers.get(sku, 0) + count
        self.awaiting = {}
        self.allocations = {}

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
            raise OrderRefused(f"order is {self.status.value}, only an open order can be processed", guard="open")
        if guards.require_not_locked and self.locked:
            raise OrderRefused(f"order is locked ({self.hold_reason}); unlock it first", guard="locked")
        if guards.require_not_parked and self.parked:
            raise OrderRefused(f"order is parked ({self.hold_reason}); unpark it first", guard="parked")
        if guards.require_paid and not self.details.paid:
            raise OrderRefused("order is not paid", guard="paid")
        if guards.require_stock and not self.stock_allocated:
            raise OrderRefused(f"stock is not allocated for: {', '.join(self.unallocated_skus())}", guard="stock")
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
        self._forget_stock()
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
        self.awaiting = {sku: 1 for sku in self.quantities_by_sku()}
        self.note(now, "unlocked", by, f"{reason}; stock allocated again")
        return [OrderUnlocked(order=self.snapshot(), reason=reason, by=by)]

    def cancel(self, *, reason: str, by: str, now: datetime) -> list[Message]:
        """Cancel the order for good; inventory releases its stock unless locking released it already."""
        self._require_open("cancelled")
        stock_held = not self.locked
        self.status = OrderStatus.CANCELLED
        self.cancelled_at = now
        self._forget_stock()
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


def _take_one(counts: dict[str, int], sku: str) -> None:
    """Count one answer off `counts[sku]`, dropping the key at zero."""
    left = counts.get(sku, 0) - 1
    if left > 0:
        counts[sku] = left
    else:
        counts.pop(sku, None)
