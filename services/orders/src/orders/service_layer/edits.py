"""Edits of open orders and reopening after a voided shipment: the commands they use, and the forwarding of
fulfilment's `shipment_voided`.

`decide` is called by handlers.handle_command (the one writer of orders); `forward` by handlers.forward_event.
"""

from datetime import datetime

from oms_contracts import Message
from oms_contracts.fulfilment.v1 import ShipmentVoided
from oms_contracts.orders.v1 import AddOrderNote, ChangeOrderLines, EditOrder, RemoveOrderNote, ReopenOrder

from orders.domain import edits
from orders.domain.errors import OrderRefused
from orders.domain.model import Order

COMMANDS = (AddOrderNote, RemoveOrderNote, EditOrder, ChangeOrderLines, ReopenOrder)


def decide(order: Order | None, command: Message, *, now: datetime) -> tuple[Order, list[Message]] | None:
    """What an edit command does to its order, or None when the command is not one of these."""
    if not isinstance(command, COMMANDS):
        return None
    if order is None:
        raise OrderRefused("no such order")
    by = command.requested_by
    if isinstance(command, AddOrderNote):
        return order, edits.add_note(order, note_id=command.note_id, text=command.text, internal=command.internal,
                                     by=by, now=now)
    if isinstance(command, RemoveOrderNote):
        return order, edits.remove_note(order, note_id=command.note_id, by=by, now=now)
    if isinstance(command, EditOrder):
        return order, edits.edit(order, command, by=by, now=now)
    if isinstance(command, ChangeOrderLines):
        return order, edits.change_lines(order, add=command.add, remove=command.remove,
                                         quantities=command.quantities, by=by, now=now)
    return order, edits.reopen(order, tracking_number=command.tracking_number, reason=command.reason, by=by,
                               now=now)


def forward(event: Message) -> Message | None:
    """The orders command a fulfilment event sends to its order, or None."""
    if isinstance(event, ShipmentVoided):
        return ReopenOrder(order_id=event.order_id, shipment_id=event.shipment_id,
                           tracking_number=event.tracking_number, reason=event.reason, requested_by=event.by)
    return None
