"""Stock follows an edited order: `orders.order_lines_changed` becomes one stock command per SKU delta.

More of a SKU: AllocateStock of the delta (its StockAllocated answer goes back to the order, which adds it up);
less: ReleaseStock of the delta. A locked order holds no stock, so its line changes move nothing. Stores nothing.
"""

from oms_contracts import Envelope, derived_id
from oms_contracts.inventory.v1 import AllocateStock, ReleaseStock
from oms_contracts.orders.v1 import OrderLinesChanged
from oms_platform.messaging import Bus


async def forward(envelope: Envelope, *, bus: Bus) -> bool:
    """Forward a lines change as stock commands keyed by SKU (ids derived from the event); False for other events."""
    event = envelope.payload
    if not isinstance(event, OrderLinesChanged):
        return False
    if not event.stock_held:
        return True
    for delta in event.deltas:
        if delta.delta == 0:
            continue
        make, purpose = (AllocateStock, "allocate-delta") if delta.delta > 0 else (ReleaseStock, "release-delta")
        command = make(order_id=event.order.order_id, sku=delta.sku, quantity=abs(delta.delta))
        forwarded = bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, purpose, delta.sku))
        await bus.publish(forwarded, key=delta.sku)
    return True
