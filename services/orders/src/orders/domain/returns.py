"""Returns (RMAs) on processed orders: booked now, actioned when the goods arrive."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from oms_contracts import Message
from oms_contracts.orders.v1 import ReturnBooked, ReturnedStock, ReturnLine, ReturnReceived
from pydantic import BaseModel

from orders.domain.errors import OrderRefused

if TYPE_CHECKING:
    from orders.domain.model import Order


class Rma(BaseModel):
    """A return booked on an order: which lines come back, why, the refund, and whether it arrived."""

    rma_id: uuid.UUID
    lines: list[ReturnLine]
    reason_category: str
    refund: Decimal
    booked_at: datetime
    booked_by: str
    received_at: datetime | None = None


def book_return(
    order: "Order", *, rma_id: uuid.UUID, lines: list[ReturnLine], reason_category: str, refund: Decimal, by: str,
    now: datetime,
) -> list[Message]:
    """Book an RMA on a processed order; refuses returning more of a line than was shipped and not yet returned."""
    from orders.domain.model import OrderStatus

    if order.status is not OrderStatus.PROCESSED:
        raise OrderRefused(f"order is {order.status.value}, only a processed order can be returned")
    if any(rma.rma_id == rma_id for rma in order.returns):
        raise OrderRefused(f"RMA {rma_id} is already booked")
    shipped = {line.line_id: line.quantity for line in order.details.lines}
    asked: dict[str, int] = {}
    for line in lines:
        if line.line_id not in shipped:
            raise OrderRefused(f"line {line.line_id} is not on the order")
        asked[line.line_id] = asked.get(line.line_id, 0) + line.quantity
    for line_id, quantity in asked.items():
        already = sum(line.quantity for rma in order.returns for line in rma.lines if line.line_id == line_id)
        if already + quantity > shipped[line_id]:
            raise OrderRefused(
                f"line {line_id}: returning {quantity} more than was shipped ({shipped[line_id]} shipped,"
                f" {already} already returned)"
            )
    if refund > order.details.total():
        raise OrderRefused(f"refund {refund} is more than the order total {order.details.total()}")
    order.returns.append(Rma(rma_id=rma_id, lines=lines, reason_category=reason_category, refund=refund,
                             booked_at=now, booked_by=by))
    summary = ", ".join(f"{line.line_id}×{line.quantity} {line.action}" for line in lines)
    order.note(now, "return booked", by, f"RMA {rma_id} ({reason_category}, refund {refund}): {summary}")
    return [ReturnBooked(order_id=order.order_id, rma_id=rma_id, lines=lines, reason_category=reason_category,
                         refund=refund, by=by)]


def receive_return(order: "Order", *, rma_id: uuid.UUID, by: str, now: datetime) -> list[Message]:
    """The goods of a booked RMA arrived: inventory is told which lines to restock; received twice is refused."""
    rma = next((r for r in order.returns if r.rma_id == rma_id), None)
    if rma is None:
        raise OrderRefused(f"no RMA {rma_id} on this order")
    if rma.received_at is not None:
        raise OrderRefused(f"RMA {rma_id} was already received")
    rma.received_at = now
    skus = {line.line_id: line.sku for line in order.details.lines}
    returned = [ReturnedStock(sku=skus[line.line_id], quantity=line.quantity, action=line.action)
                for line in rma.lines]
    restocked = sum(line.quantity for line in returned if line.action == "restock")
    order.note(now, "return received", by, f"RMA {rma_id}: {restocked} restocked,"
               f" {sum(line.quantity for line in returned) - restocked} scrapped")
    return [ReturnReceived(order_id=order.order_id, rma_id=rma_id, lines=returned, by=by)]
