"""Split, merge, resend and return: the orders commands they use, and the forwarding of the events that link orders.

`decide` is called by handlers.handle_command (the one writer of orders); `forward` by handlers.forward_event
(writes nothing). Each event that makes or feeds another order is forwarded to that order's own key.
"""

from datetime import datetime

from oms_contracts import Message
from oms_contracts.orders.v1 import (
    AbsorbMergedOrder,
    BookReturn,
    MergeOrder,
    OpenLinkedOrder,
    OrderLink,
    OrderMerged,
    OrderResent,
    OrderSplit,
    ReceiveReturn,
    ResendOrder,
    SplitOrder,
)

from orders.domain import returns, split_merge
from orders.domain.errors import OrderRefused
from orders.domain.model import Order

COMMANDS = (SplitOrder, OpenLinkedOrder, MergeOrder, AbsorbMergedOrder, ResendOrder, BookReturn, ReceiveReturn)


def decide(order: Order | None, command: Message, *, now: datetime) -> tuple[Order, list[Message]] | None:
    """What a lifecycle command does to its order, or None when the command is not one of these."""
    if not isinstance(command, COMMANDS):
        return None
    by = command.requested_by
    if isinstance(command, OpenLinkedOrder):
        if order is not None:  # opened already (the same event forwarded twice under another id)
            return order, []
        return split_merge.open_linked(
            order_id=command.order_id, details=command.order, link=command.link, allocations=command.allocations,
            reason=command.reason, by=by, now=now,
        )
    if isinstance(command, AbsorbMergedOrder):
        return split_merge.absorb(
            order, merged_order_id=command.order_id, original_id=command.original_order_id, details=command.order,
            allocations=command.allocations, originals=command.originals, by=by, now=now,
        )
    if order is None:
        raise OrderRefused("no such order")
    if isinstance(command, SplitOrder):
        return order, split_merge.split(order, new_order_id=command.new_order_id, lines=command.lines,
                                        reason=command.reason, by=by, now=now)
    if isinstance(command, MergeOrder):
        return order, split_merge.merge_away(order, merged_order_id=command.merged_order_id, key=command.merge_key,
                                             originals=command.originals, by=by, now=now)
    if isinstance(command, ResendOrder):
        return order, split_merge.resend(order, resend_order_id=command.resend_order_id, lines=command.lines,
                                         reason=command.reason, by=by, now=now)
    if isinstance(command, BookReturn):
        return order, returns.book_return(order, rma_id=command.rma_id, lines=command.lines,
                                          reason_category=command.reason_category, refund=command.refund, by=by,
                                          now=now)
    return order, returns.receive_return(order, rma_id=command.rma_id, by=by, now=now)


def forward(event: Message) -> Message | None:
    """The command an orders event sends to the order it makes or feeds, or None."""
    if isinstance(event, OrderSplit):
        return OpenLinkedOrder(
            order_id=event.new_order_id, order=event.order, link=OrderLink(kind="split_from", order_id=event.order_id),
            allocations=event.allocations, reason=event.reason, requested_by=event.by,
        )
    if isinstance(event, OrderResent):
        return OpenLinkedOrder(
            order_id=event.resend_order_id, order=event.order,
            link=OrderLink(kind="resend_of", order_id=event.order_id), reason=event.reason, requested_by=event.by,
        )
    if isinstance(event, OrderMerged):
        return AbsorbMergedOrder(
            order_id=event.merged_order_id, original_order_id=event.order_id, order=event.order,
            allocations=event.allocations, originals=event.originals, requested_by=event.by,
        )
    return None
