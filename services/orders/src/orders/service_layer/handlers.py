"""Handlers of the order book: each command loads the order, asks the domain, stores, then publishes.

Only the consumer of oms.orders.commands runs `handle_command`, so each order document has one writer.
Events from other contexts are forwarded here as commands by `forward_event`; it stores nothing.
"""

import uuid
from collections.abc import Callable
from datetime import datetime

from oms_contracts import Envelope, Message, derived_id
from oms_contracts.fulfilment.v1 import ShipmentConfirmed
from oms_contracts.ingest.v1 import OrderReceived
from oms_contracts.inventory.v1 import StockAllocated
from oms_contracts.orders.v1 import (
    CancelOrder,
    CommandRejected,
    ConfirmShipment,
    LockOrder,
    ParkOrder,
    PlaceOrder,
    ProcessOrder,
    RecordStockAllocation,
    UnlockOrder,
    UnparkOrder,
    order_id_for,
)
from oms_platform.documents import Decision, handle_once
from oms_platform.messaging import Bus, PermanentError
from orders.adapters.repository import OrderRepository, list_fields
from orders.domain import edits as edit_domain
from orders.domain.errors import OrderRefused
from orders.domain.model import Order, ProcessingGuards, Shipment
from orders.service_layer import edits, lifecycle, payments

Clock = Callable[[], datetime]


async def handle_command(
    envelope: Envelope, *, repo: OrderRepository, bus: Bus, guards: ProcessingGuards, clock: Clock
) -> None:
    """Apply one orders command exactly once, then publish what it caused."""
    command = envelope.payload
    order_id: uuid.UUID = command.order_id

    async def decide(doc: dict | None) -> Decision:
        order = Order.model_validate(doc["order"]) if doc else None
        now = clock()
        try:
            order, payloads = _decide(order, command, now=now, guards=guards)
        except OrderRefused as refusal:
            if order is None:
                raise PermanentError(f"{envelope.type} for unknown order {order_id}") from refusal
            order.note(now, f"{envelope.type} refused", _actor(command), str(refusal))
            payloads = [
                CommandRejected(
                    order_id=order_id, command_type=envelope.type, command_id=envelope.event_id, reason=str(refusal),
                    guard=refusal.guard,
                )
            ]
        fields = {**list_fields(order), "order": order.model_dump(mode="json")}
        return fields, [(p, str(order_id)) for p in payloads]

    await handle_once(envelope, aggregate_id=order_id, store=repo, bus=bus, decide=decide)


def _decide(
    order: Order | None, command: Message, *, now: datetime, guards: ProcessingGuards
) -> tuple[Order, list[Message]]:
    """Ask the domain what the command does to the order."""
    if isinstance(command, PlaceOrder):
        if order is None:
            return payments.park_if_unpaid(Order.place(
                order_id=command.order_id,
                details=command.order,
                source=command.source,
                placed_by=command.placed_by,
                now=now,
                channel_updated_at=command.channel_updated_at,
                lock_reason=command.lock_reason,
                shipped_on_channel=command.shipped_on_channel,
            ), guards=guards, now=now)
        return order, edit_domain.update_from_channel(
            order, details=command.order, channel_updated_at=command.channel_updated_at,
            shipped_on_channel=command.shipped_on_channel, by=command.placed_by, now=now,
        )
    if (decided := lifecycle.decide(order, command, now=now)) is not None:
        return decided
    if (decided := edits.decide(order, command, now=now)) is not None:
        return decided
    if (decided := payments.decide(order, command, now=now)) is not None:
        return decided
    if order is None:
        raise OrderRefused("no such order")
    if isinstance(command, ProcessOrder):
        return order, order.start_processing(by=command.requested_by, now=now, guards=guards)
    hold = _HOLD_ACTIONS.get(type(command))
    if hold is not None:
        return order, hold(order, reason=command.reason, by=command.requested_by, now=now)
    if isinstance(command, RecordStockAllocation):
        order.record_allocation(
            sku=command.sku, requested=command.requested, short=command.short, known_sku=command.known_sku, now=now
        )
        return order, []
    if isinstance(command, ConfirmShipment):
        shipment = Shipment(
            shipment_id=command.shipment_id,
            carrier=command.carrier,
            tracking_number=command.tracking_number,
            shipped_at=command.shipped_at,
        )
        return order, order.confirm_shipment(shipment=shipment, now=now)
    raise PermanentError(f"orders cannot handle {command.TYPE}")


# Hold and cancel commands: each is one Order method taking (reason, by, now).
_HOLD_ACTIONS = {
    ParkOrder: Order.park,
    UnparkOrder: Order.unpark,
    LockOrder: Order.lock,
    UnlockOrder: Order.unlock,
    CancelOrder: Order.cancel,
}


def _actor(command: Message) -> str:
    """Who asked for a command, for the timeline."""
    return getattr(command, "requested_by", None) or getattr(command, "placed_by", None) or "system"


async def forward_event(envelope: Envelope, *, bus: Bus) -> None:
    """Turn another context's event into an orders command keyed by order id; other events are ignored."""
    event = envelope.payload
    command: Message | None = None
    if isinstance(event, OrderReceived):
        command = PlaceOrder(
            order_id=order_id_for(event.order.channel, event.order.channel_order_id),
            order=event.order,
            source="channel",
            placed_by=f"channel:{event.order.channel}",
            channel_updated_at=event.channel_updated_at,
            lock_reason=event.lock_reason,
            shipped_on_channel=event.shipped_on_channel,
        )
    elif isinstance(event, StockAllocated):
        command = RecordStockAllocation(
            order_id=event.order_id,
            sku=event.sku,
            requested=event.requested,
            short=event.short,
            known_sku=event.known_sku,
        )
    elif isinstance(event, ShipmentConfirmed):
        command = ConfirmShipment(
            order_id=event.order_id,
            shipment_id=event.shipment_id,
            carrier=event.carrier,
            tracking_number=event.tracking_number,
            shipped_at=event.shipped_at,
        )
    else:
        command = lifecycle.forward(event) or edits.forward(event)
    if command is None:
        return
    forwarded = bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, "orders-forward"))
    await bus.publish(forwarded, key=str(command.order_id))
