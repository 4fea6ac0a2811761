"""Property test: random sequences of orders commands, with duplicate deliveries, keep the lifecycle invariants.

Checked after every step: processed is terminal; a redelivered command changes nothing; every processed order had
its shipment confirmed; every change to an order adds to its timeline; and the stock inventory would hold
(counting each stock-moving event once by id, as inventory's derived ids do) equals what the open orders need.
"""

import asyncio
import copy
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oms_contracts import Envelope, new_envelope, topics
from oms_contracts.orders.v1 import (
    BookReturn,
    CancelOrder,
    ConfirmShipment,
    LineQuantity,
    LockOrder,
    MergeOrder,
    OrderCancelled,
    OrderLocked,
    OrderOpened,
    OrderProcessed,
    OrderUnlocked,
    ParkOrder,
    PlaceOrder,
    ProcessOrder,
    ReceiveReturn,
    RecordStockAllocation,
    ResendOrder,
    ReturnLine,
    SplitOrder,
    UnlockOrder,
    UnparkOrder,
    order_id_for,
)
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details
from orders.domain.model import Order, OrderStatus, ProcessingGuards
from orders.domain.split_merge import merge_key
from orders.service_layer.handlers import forward_event, handle_command

ACTIONS = ["process", "cancel", "park", "unpark", "lock", "unlock", "allocate", "ship", "split", "resend",
           "merge", "return", "receive", "duplicate", "duplicate"]


class World(RecordingBus):
    """The orders worker and forwarder in-process, and what inventory would hold per SKU."""

    def __init__(self) -> None:
        super().__init__("orders")
        self.repo, self.clock = InMemoryDocuments(), SteppingClock()
        self.sent: list[Envelope] = []  # every command sent (for redelivery)
        self.seen_events: set[uuid.UUID] = set()
        self.inventory_allocated: dict[str, int] = {}
        self.confirmed: set[uuid.UUID] = set()

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        payload = envelope.payload
        if payload.TOPIC == topics.ORDERS_COMMANDS:
            self.sent.append(envelope)
            await handle_command(envelope, repo=self.repo, bus=self, guards=ProcessingGuards(), clock=self.clock)
        elif payload.TOPIC == topics.ORDERS_EVENTS:
            if envelope.event_id not in self.seen_events:
                self.seen_events.add(envelope.event_id)
                self._inventory(payload)
            await forward_event(envelope, bus=self)

    def _inventory(self, event) -> None:
        """Inventory's forwarding rules, applied to its allocated totals."""
        sign = 0
        if isinstance(event, OrderOpened) and event.allocates_stock or isinstance(event, OrderUnlocked):
            sign = 1
        elif isinstance(event, (OrderLocked, OrderProcessed)) or isinstance(event, OrderCancelled) and event.stock_held:
            sign = -1
        if sign:
            for line in event.order.details.lines:
                self.inventory_allocated[line.sku] = self.inventory_allocated.get(line.sku, 0) + sign * line.quantity

    async def send(self, payload) -> None:
        await self.publish(new_envelope(payload, producer="test"), key=str(payload.order_id))

    async def orders(self) -> dict[uuid.UUID, Order]:
        return {uuid.UUID(i): Order.model_validate(d["order"]) for i, d in self.repo.docs.items()}


async def step(world: World, action: str, n: int) -> None:
    """Send the command `action` names to the n-th order (or redeliver the n-th command sent)."""
    orders = await world.orders()
    ids = sorted(orders, key=str)
    order = orders[ids[n % len(ids)]]
    oid, by = order.order_id, "ops"
    if action == "duplicate":
        await world.publish(world.sent[n % len(world.sent)], key=str(world.sent[n % len(world.sent)].payload.order_id))
    elif action == "process":
        await world.send(ProcessOrder(order_id=oid, requested_by=by))
    elif action in ("cancel", "park", "unpark", "lock", "unlock"):
        make = {"cancel": CancelOrder, "park": ParkOrder, "unpark": UnparkOrder, "lock": LockOrder,
                "unlock": UnlockOrder}[action]
        await world.send(make(order_id=oid, reason=f"step {n}", requested_by=by))
    elif action == "allocate":
        for sku, qty in order.quantities_by_sku().items():
            await world.send(RecordStockAllocation(order_id=oid, sku=sku, requested=qty, short=0))
    elif action == "ship":
        world.confirmed.add(oid)
        await world.send(ConfirmShipment(order_id=oid, shipment_id=uuid.uuid4(), carrier="OMS Post",
                                         tracking_number=f"OM{n}", shipped_at=datetime.now(UTC)))
    elif action == "split":
        line = order.details.lines[n % len(order.details.lines)]
        await world.send(SplitOrder(order_id=oid, new_order_id=uuid.uuid4(), reason="split", requested_by=by,
                                    lines=[LineQuantity(line_id=line.line_id, quantity=1 + n % line.quantity)]))
    elif action == "resend":
        line = order.details.lines[0]
        await world.send(ResendOrder(order_id=oid, resend_order_id=uuid.uuid4(), reason="lost", requested_by=by,
                                     lines=[LineQuantity(line_id=line.line_id, quantity=1)]))
    elif action == "merge":
        other = orders[ids[(n + 1) % len(ids)]]
        if other.order_id == oid:
            return
        merged_id, originals = uuid.uuid4(), [oid, other.order_id]
        for original in originals:
            await world.send(MergeOrder(order_id=original, merged_order_id=merged_id, merge_key=merge_key(order),
                                        originals=originals, requested_by=by))
    elif action == "return":
        line = order.details.lines[0]
        await world.send(BookReturn(order_id=oid, rma_id=uuid.uuid4(), reason_category="damaged", refund=Decimal(0),
                                    requested_by=by, lines=[ReturnLine(line_id=line.line_id, quantity=1,
                                                                       action="restock" if n % 2 else "scrap")]))
    elif action == "receive" and order.returns:
        await world.send(ReceiveReturn(order_id=oid, rma_id=order.returns[n % len(order.returns)].rma_id,
                                       requested_by=by))


def holding(order: Order) -> bool:
    """Whether inventory holds stock for the order."""
    return order.status in (OrderStatus.OPEN, OrderStatus.PROCESSING) and not order.locked


async def scenario(steps: list[tuple[str, int]]) -> None:
    world = World()
    details = sample_order_details(lines=[
        sample_order_details().lines[0].model_copy(update={"quantity": 3}), sample_order_details().lines[1]])
    await world.send(PlaceOrder(order_id=order_id_for(details.channel, details.channel_order_id), order=details,
                                source="staff", placed_by="ops"))
    processed: set[uuid.UUID] = set()
    for action, n in steps:
        before = copy.deepcopy(world.repo.docs)
        await step(world, action, n)
        after = world.repo.docs
        orders = await world.orders()
        for oid, order in orders.items():
            if oid in processed:
                assert order.status is OrderStatus.PROCESSED, f"processed order {oid} became {order.status}"
            if order.status is OrderStatus.PROCESSED:
                processed.add(oid)
                assert order.shipment is not None and oid in world.confirmed, "processed without a shipment"
            if str(oid) in before:
                was = {k: v for k, v in before[str(oid)]["order"].items() if k != "timeline"}
                now = {k: v for k, v in after[str(oid)]["order"].items() if k != "timeline"}
                grown = len(order.timeline) > len(before[str(oid)]["order"]["timeline"])
                assert was == now or grown, f"{action} changed order {oid} without a timeline entry"
        if action == "duplicate":
            assert after == before, "a redelivered command changed a document"
        needed: dict[str, int] = {}
        for order in orders.values():
            if holding(order):
                for sku, qty in order.quantities_by_sku().items():
                    needed[sku] = needed.get(sku, 0) + qty
        assert {k: v for k, v in world.inventory_allocated.items() if v} == needed, "stock bookkeeping drifted"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 1000)), min_size=1, max_size=40))
def test_random_command_sequences_with_duplicates_keep_the_lifecycle_invariants(steps):
    asyncio.run(scenario(steps))
