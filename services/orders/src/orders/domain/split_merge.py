"""Split, merge and resend: orders made from other orders, linked both ways, with their stock accounted exactly.

Split and merge hand inventory's allocation answers over with the lines (inventory's per-SKU totals do not change,
so stock stays exact without a release/allocate pair racing on the SKU partition). A resend allocates afresh.
"""

import hashlib
import json
import uuid
from datetime import datetime
from decimal import Decimal

from oms_contracts import Message
from oms_contracts.common import OrderDetails, OrderLine
from oms_contracts.orders.v1 import (
    AllocationShare,
    LineQuantity,
    OrderLink,
    OrderMerged,
    OrderOpened,
    OrderResent,
    OrderSplit,
)

from orders.domain.errors import OrderRefused
from orders.domain.model import Order, OrderStatus, SkuAllocation


def merge_key(order: Order) -> str:
    """What orders must share to be merged: buyer, shipping address, channel, currency, paid, shipping service."""
    d = order.details
    shared = {
        "buyer": d.buyer.model_dump(mode="json"), "address": d.shipping_address.model_dump(mode="json"),
        "channel": d.channel, "currency": d.currency, "paid": d.paid, "service": d.shipping.service,
    }
    return hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:32]


def merge_refusal(order: Order) -> str | None:
    """Why this order cannot be merged now (named by its number), or None."""
    name = f"order {order.details.order_number}"
    if order.status is not OrderStatus.OPEN:
        return f"{name} is {order.status.value}"
    if order.parked:
        return f"{name} is parked"
    if order.locked:
        return f"{name} is locked"
    if pending := _pending_skus(order, order.quantities_by_sku()):
        return f"{name}: stock allocation for {', '.join(pending)} is still pending"
    return None


def split(
    order: Order, *, new_order_id: uuid.UUID, lines: list[LineQuantity], reason: str, by: str, now: datetime
) -> list[Message]:
    """Move chosen lines (and quantities) into a new linked order; the source keeps at least one unit."""
    if order.status is not OrderStatus.OPEN:
        raise OrderRefused(f"order is {order.status.value}, only an open order can be split")
    if order.locked:
        raise OrderRefused(f"order is locked ({order.hold_reason}); unlock it first")
    moving = _take(order.details.lines, lines)
    moved_by_sku = _by_sku(moving)
    if pending := _pending_skus(order, moved_by_sku):
        raise OrderRefused(f"stock allocation for {', '.join(pending)} is still pending; try again shortly")
    kept = _remaining(order.details.lines, moving)
    if not kept:
        raise OrderRefused("a split must leave at least one line on the order")
    shares = []
    for sku, moved in moved_by_sku.items():
        mine, theirs = _divide(sku, order.allocations[sku], keep=order.quantities_by_sku()[sku] - moved)
        shares.append(theirs)
        if mine is None:
            del order.allocations[sku]
        else:
            order.allocations[sku] = mine
    number = f"{order.details.order_number}-S{1 + sum(link.kind == 'split_into' for link in order.links)}"
    new_details = order.details.model_copy(update={
        "lines": moving, "order_number": number, "discount": Decimal(0), "shipping": order.details.shipping.model_copy(
            update={"cost": Decimal(0)})})
    order.details = order.details.model_copy(update={"lines": kept})
    order.links.append(OrderLink(kind="split_into", order_id=new_order_id))
    summary = ", ".join(f"{line.sku}×{line.quantity}" for line in moving)
    order.note(now, "split", by, f"{summary} moved to {number}: {reason}")
    return [OrderSplit(order_id=order.order_id, new_order_id=new_order_id, order=new_details, allocations=shares,
                       reason=reason, by=by)]


def open_linked(
    *, order_id: uuid.UUID, details: OrderDetails, link: OrderLink, allocations: list[AllocationShare] | None,
    reason: str, by: str, now: datetime,
) -> tuple[Order, list[Message]]:
    """Open the order a split or resend made; it takes over the split stock, or allocates afresh (resend)."""
    source = {"split_from": "split", "resend_of": "resend"}.get(link.kind, link.kind)
    order, events = Order.place(order_id=order_id, details=details, source=source, placed_by=by, now=now)
    order.links.append(link)
    order.note(now, link.kind.replace("_", " "), by, f"order {link.order_id}: {reason}")
    if allocations is not None:
        order.allocations = {a.sku: SkuAllocation(requested=a.requested, short=a.short, known_sku=a.known_sku)
                             for a in allocations}
        order.awaiting = {}  # it took the stock over: inventory sends no answer for it
        events = [OrderOpened(order=order.snapshot(), allocates_stock=False)]
    return order, events


def merge_away(
    order: Order, *, merged_order_id: uuid.UUID, key: str, originals: list[uuid.UUID], by: str, now: datetime
) -> list[Message]:
    """Fold this order into the merged order: it ends Merged, its lines and stock move over."""
    if refusal := merge_refusal(order):
        raise OrderRefused(refusal)
    if merge_key(order) != key:
        raise OrderRefused(f"order {order.details.order_number} does not share buyer, address, channel, currency,"
                           " paid status and shipping service with the others")
    shares = [AllocationShare(sku=sku, requested=a.requested, short=a.short, known_sku=a.known_sku)
              for sku, a in order.allocations.items()]
    order.status = OrderStatus.MERGED
    order.allocations = {}
    order.links.append(OrderLink(kind="merged_into", order_id=merged_order_id))
    order.note(now, "merged", by, f"into order {merged_order_id}; its stock moved with the lines")
    return [OrderMerged(order_id=order.order_id, merged_order_id=merged_order_id, order=order.details,
                        allocations=shares, originals=originals, by=by)]


def absorb(
    order: Order | None, *, merged_order_id: uuid.UUID, original_id: uuid.UUID, details: OrderDetails,
    allocations: list[AllocationShare], originals: list[uuid.UUID], by: str, now: datetime,
) -> tuple[Order, list[Message]]:
    """Add one original to the merged order, creating it with the first one; its line ids get the original's index."""
    prefix = f"{originals.index(original_id) + 1 if original_id in originals else len(originals) + 1}-"
    lines = [line.model_copy(update={"line_id": (prefix + line.line_id)[:64]}) for line in details.lines]
    events: list[Message] = []
    if order is None:
        merged = details.model_copy(update={"lines": lines, "order_number": f"{details.order_number}-M"})
        order = Order(order_id=merged_order_id, details=merged, source="merge", opened_at=now)
        order.note(now, "opened", by, f"merge of {len(originals)} orders")
        events = [OrderOpened(order=order.snapshot(), allocates_stock=False)]
    elif any(link.kind == "merged_from" and link.order_id == original_id for link in order.links):
        return order, []
    else:
        order.details = order.details.model_copy(update={
            "lines": [*order.details.lines, *lines], "discount": order.details.discount + details.discount})
    for share in allocations:
        before = order.allocations.get(share.sku)
        order.allocations[share.sku] = SkuAllocation(
            requested=share.requested + (before.requested if before else 0),
            short=share.short + (before.short if before else 0),
            known_sku=share.known_sku and (before.known_sku if before else True),
        )
    order.links.append(OrderLink(kind="merged_from", order_id=original_id))
    order.note(now, "merged in", by, f"order {details.order_number} ({len(lines)} lines)")
    if order.status is not OrderStatus.OPEN:
        order.note(now, "merged in late", by, f"the merged order was already {order.status.value}")
    return order, events


def resend(
    order: Order, *, resend_order_id: uuid.UUID, lines: list[LineQuantity], reason: str, by: str, now: datetime
) -> list[Message]:
    """Send chosen lines of a processed order again as a new zero-value open order; the original is only noted."""
    if order.status is not OrderStatus.PROCESSED:
        raise OrderRefused(f"order is {order.status.value}, only a processed order can be resent")
    chosen = [line.model_copy(update={"unit_price": Decimal(0)}) for line in _take(order.details.lines, lines)]
    number = f"{order.details.order_number}-R{1 + sum(link.kind == 'resent_as' for link in order.links)}"
    details = order.details.model_copy(update={
        "lines": chosen, "order_number": number, "discount": Decimal(0), "paid": True,
        "shipping": order.details.shipping.model_copy(update={"cost": Decimal(0)})})
    order.links.append(OrderLink(kind="resent_as", order_id=resend_order_id))
    order.note(now, "resent", by, f"as {number}: {reason}")
    return [OrderResent(order_id=order.order_id, resend_order_id=resend_order_id, order=details, reason=reason,
                        by=by)]


def _take(lines: list[OrderLine], wanted: list[LineQuantity]) -> list[OrderLine]:
    """The chosen part of each chosen line; refuses unknown lines, repeats and more than the line has."""
    by_id = {line.line_id: line for line in lines}
    seen: set[str] = set()
    taken = []
    for want in wanted:
        line = by_id.get(want.line_id)
        if line is None:
            raise OrderRefused(f"line {want.line_id} is not on the order")
        if want.line_id in seen:
            raise OrderRefused(f"line {want.line_id} is chosen twice")
        if want.quantity > line.quantity:
            raise OrderRefused(f"line {want.line_id} has {line.quantity}, cannot take {want.quantity}")
        seen.add(want.line_id)
        taken.append(line.model_copy(update={"quantity": want.quantity}))
    return taken


def _remaining(lines: list[OrderLine], taken: list[OrderLine]) -> list[OrderLine]:
    """What stays of each line once `taken` left."""
    moved = {line.line_id: line.quantity for line in taken}
    left = []
    for line in lines:
        quantity = line.quantity - moved.get(line.line_id, 0)
        if quantity:
            left.append(line.model_copy(update={"quantity": quantity}))
    return left


def _by_sku(lines: list[OrderLine]) -> dict[str, int]:
    """Total quantity per SKU."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return totals


def _pending_skus(order: Order, skus: dict[str, int]) -> list[str]:
    """SKUs whose inventory answer for the order's current quantity has not arrived (stock would be miscounted)."""
    needed = order.quantities_by_sku()
    return [sku for sku in skus
            if (a := order.allocations.get(sku)) is None or a.requested != needed[sku] or order.awaiting.get(sku)]


def _divide(sku: str, allocation: SkuAllocation, *, keep: int) -> tuple[SkuAllocation | None, AllocationShare]:
    """Split one SKU's allocation: the source keeps `keep` (allocated first), the rest goes with the moved lines."""
    held = allocation.requested - allocation.short
    kept_held = min(held, keep)
    moved = allocation.requested - keep
    share = AllocationShare(sku=sku, requested=moved, short=moved - (held - kept_held), known_sku=allocation.known_sku)
    mine = None if keep == 0 else SkuAllocation(requested=keep, short=keep - kept_held,
                                                known_sku=allocation.known_sku)
    return mine, share
