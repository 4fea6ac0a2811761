"""Edits of an open order (notes, tags, folder, addresses, shipping, lines), newer versions from the channel, and
the reopening of an order whose shipment fulfilment voided. Every change leaves one timeline entry.

A lines change publishes the per-SKU delta: inventory allocates what is added and releases what is taken away,
and its allocation answers add up on the order (see Order.record_allocation).
"""

import uuid
from datetime import datetime

from oms_contracts import Message
from oms_contracts.common import Address, OrderDetails, OrderLine
from oms_contracts.orders.v1 import (
    EditOrder,
    LineQuantity,
    OrderEdited,
    OrderLinesChanged,
    OrderNote,
    OrderReopened,
    SkuDelta,
)

from orders.domain.errors import OrderRefused
from orders.domain.model import Order, OrderStatus

MAX_LINES = 500


def _require_open(order: Order, what: str, *, frozen_too: bool = False) -> None:
    """Refuse unless the order is open (and, for what a lock freezes, not locked)."""
    if order.status is not OrderStatus.OPEN:
        raise OrderRefused(f"order is {order.status.value}, only an open order can be edited")
    if order.locked and not frozen_too:
        raise OrderRefused(f"order is locked ({order.hold_reason}); unlock it before changing its {what}")


def add_note(order: Order, *, note_id: uuid.UUID, text: str, internal: bool, by: str, now: datetime) -> list[Message]:
    """Write a note on the order; a note not internal is printed on the invoice."""
    _require_open(order, "notes", frozen_too=True)
    if any(note.note_id == note_id for note in order.notes):
        return []  # the same note again (a replayed request)
    order.notes.append(OrderNote(note_id=note_id, text=text, internal=internal, by=by, at=now))
    order.note(now, "note added", by, f"{'internal' if internal else 'on the invoice'}: {text}")
    return [OrderEdited(order=order.snapshot(), changed=["notes"], by=by)]


def remove_note(order: Order, *, note_id: uuid.UUID, by: str, now: datetime) -> list[Message]:
    """Delete a note from the order."""
    _require_open(order, "notes", frozen_too=True)
    note = next((n for n in order.notes if n.note_id == note_id), None)
    if note is None:
        raise OrderRefused(f"no note {note_id} on this order")
    order.notes.remove(note)
    order.note(now, "note removed", by, note.text)
    return [OrderEdited(order=order.snapshot(), changed=["notes"], by=by)]


def edit(order: Order, command: EditOrder, *, by: str, now: datetime) -> list[Message]:
    """Change addresses, shipping service and cost, tags or folder; one timeline entry per field that changed."""
    d = order.details
    frozen_fields = (command.shipping_address, command.billing_address, command.shipping_service,
                     command.shipping_cost)
    _require_open(order, "addresses or shipping", frozen_too=all(f is None for f in frozen_fields))
    changed: list[str] = []
    if command.shipping_address is not None and command.shipping_address != d.shipping_address:
        order.note(now, "shipping address changed", by, f"{_address(d.shipping_address)} → "
                   f"{_address(command.shipping_address)}")
        d = d.model_copy(update={"shipping_address": command.shipping_address})
        changed.append("shipping_address")
    if command.billing_address is not None and command.billing_address != d.billing_address:
        was = _address(d.billing_address) if d.billing_address else "none"
        order.note(now, "billing address changed", by, f"{was} → {_address(command.billing_address)}")
        d = d.model_copy(update={"billing_address": command.billing_address})
        changed.append("billing_address")
    shipping = d.shipping.model_copy(update={
        k: v for k, v in (("service", command.shipping_service), ("cost", command.shipping_cost)) if v is not None})
    if shipping != d.shipping:
        order.note(now, "shipping changed", by, f"{d.shipping.service} ({d.shipping.cost}) → {shipping.service}"
                   f" ({shipping.cost})")
        d = d.model_copy(update={"shipping": shipping})
        changed.append("shipping")
    order.details = d
    if command.tags is not None:
        tags = sorted(set(command.tags))
        if tags != order.tags:
            order.note(now, "tags changed", by, f"{', '.join(order.tags) or 'none'} → {', '.join(tags) or 'none'}")
            order.tags = tags
            changed.append("tags")
    if command.folder is not None and (command.folder or None) != order.folder:
        order.note(now, "folder changed", by, f"{order.folder or 'none'} → {command.folder or 'none'}")
        order.folder = command.folder or None
        changed.append("folder")
    return [OrderEdited(order=order.snapshot(), changed=changed, by=by)] if changed else []


def change_lines(
    order: Order, *, add: list[OrderLine], remove: list[str], quantities: list[LineQuantity], by: str, now: datetime
) -> list[Message]:
    """Add lines, remove lines and set quantities; inventory allocates or releases exactly the per-SKU delta."""
    _require_open(order, "lines")
    by_id = {line.line_id: line for line in order.details.lines}
    for line_id in remove:
        if line_id not in by_id:
            raise OrderRefused(f"line {line_id} is not on the order")
    if len(set(remove)) != len(remove):
        raise OrderRefused("a line is removed twice")
    new_quantity: dict[str, int] = {}
    for want in quantities:
        if want.line_id not in by_id:
            raise OrderRefused(f"line {want.line_id} is not on the order")
        if want.line_id in remove or want.line_id in new_quantity:
            raise OrderRefused(f"line {want.line_id} is changed twice")
        new_quantity[want.line_id] = want.quantity
    added_ids = [line.line_id for line in add]
    if len(set(added_ids)) != len(added_ids) or any(i in by_id for i in added_ids):
        raise OrderRefused("added lines need line ids that are new on the order")
    lines = [line.model_copy(update={"quantity": new_quantity.get(line.line_id, line.quantity)})
             for line in order.details.lines if line.line_id not in remove] + list(add)
    if not lines:
        raise OrderRefused("an order keeps at least one line; cancel the order instead")
    if len(lines) > MAX_LINES:
        raise OrderRefused(f"an order has at most {MAX_LINES} lines")
    what = [f"added {line.sku}×{line.quantity} (line {line.line_id})" for line in add]
    what += [f"removed line {i} ({by_id[i].sku}×{by_id[i].quantity})" for i in remove]
    what += [f"line {i}: {by_id[i].quantity} → {q}" for i, q in new_quantity.items() if q != by_id[i].quantity]
    if not what:
        return []
    deltas = _set_lines(order, order.details.model_copy(update={"lines": lines}))
    stock = ", ".join(f"{d.sku} {d.delta:+d}" for d in deltas) or "no change"
    order.note(now, "lines changed", by, f"{'; '.join(what)}; stock: {stock}")
    return [OrderLinesChanged(order=order.snapshot(), deltas=deltas, stock_held=not order.locked, by=by)]


def update_from_channel(
    order: Order, *, details: OrderDetails, channel_updated_at: datetime | None, shipped_on_channel: bool, by: str,
    now: datetime,
) -> list[Message]:
    """The same order arrived again: a newer version updates an open order; anything else is only recorded."""
    newer = channel_updated_at is not None and (
        order.channel_updated_at is None or channel_updated_at > order.channel_updated_at)
    if not newer:
        same = channel_updated_at is None or channel_updated_at == order.channel_updated_at
        detail = "duplicate delivery" if same else f"older channel version ({channel_updated_at:%Y-%m-%d %H:%M:%S}) ignored"
        order.note(now, "received again", by, detail)
        return []
    if order.status is not OrderStatus.OPEN:
        order.note(now, "received again", by, f"newer channel version ({channel_updated_at:%Y-%m-%d %H:%M:%S})"
                   f" recorded; the order is {order.status.value}, nothing changed")
        return []
    order.channel_updated_at = channel_updated_at
    changed = [name for name in OrderDetails.model_fields
               if name != "lines" and getattr(order.details, name) != getattr(details, name)]
    lines_changed = order.details.lines != details.lines
    events: list[Message] = []
    if shipped_on_channel and not order.shipped_on_channel:
        order.shipped_on_channel = True
        changed.append("shipped_on_channel")
    if not changed and not lines_changed:
        order.note(now, "received again", by, "newer channel version, nothing changed")
        return []
    deltas = _set_lines(order, details) if lines_changed else []
    order.details = details
    summary = ", ".join(changed + (["lines"] if lines_changed else []))
    stock = f"; stock: {', '.join(f'{d.sku} {d.delta:+d}' for d in deltas)}" if deltas else ""
    order.note(now, "updated from channel", by, f"newer channel version: {summary}{stock}")
    if changed:
        events.append(OrderEdited(order=order.snapshot(), changed=changed, by=by))
    if lines_changed:
        events.append(OrderLinesChanged(order=order.snapshot(), deltas=deltas, stock_held=not order.locked, by=by))
    return events


def reopen(
    order: Order, *, tracking_number: str, reason: str, by: str, now: datetime
) -> list[Message]:
    """Fulfilment voided the shipment: the order leaves processing and is open again, its stock still allocated."""
    if order.status is OrderStatus.OPEN:
        order.note(now, "shipment voided", by, f"{tracking_number}: {reason}; the order was open already")
        return []
    if order.status is not OrderStatus.PROCESSING:
        raise OrderRefused(f"order is {order.status.value}; a voided shipment reopens only an order in processing")
    order.status = OrderStatus.OPEN
    order.note(now, "shipment voided", by, f"{tracking_number}: {reason}; open again, stock stays allocated")
    return [OrderReopened(order=order.snapshot(), reason=reason, by=by)]


def _set_lines(order: Order, details: OrderDetails) -> list[SkuDelta]:
    """Give the order new details (lines) and book the per-SKU delta against its allocations."""
    before = order.quantities_by_sku()
    order.details = details
    after = order.quantities_by_sku()
    deltas = [SkuDelta(sku=sku, delta=after.get(sku, 0) - before.get(sku, 0))
              for sku in [*before, *(s for s in after if s not in before)]
              if after.get(sku, 0) != before.get(sku, 0)]
    if not order.locked:  # a locked order holds no stock: unlocking allocates the new quantities
        for d in deltas:
            if d.delta > 0:
                order.awaiting[d.sku] = order.awaiting.get(d.sku, 0) + 1
            else:
                order.release_stock_quantity(d.sku, -d.delta)
    return deltas


def _address(a: Address) -> str:
    """An address on one line, for the timeline."""
    return ", ".join(filter(None, [a.name, a.line1, a.line2, f"{a.postcode} {a.city}", a.country]))
