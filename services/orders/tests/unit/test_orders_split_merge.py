"""Split, merge and resend through the orders handlers, with the orders forwarder feeding the orders they make."""

import uuid
from datetime import UTC, datetime

import pytest
from oms_contracts import new_envelope
from oms_contracts.orders.v1 import (
    AbsorbMergedOrder,
    CommandRejected,
    ConfirmShipment,
    LineQuantity,
    MergeOrder,
    OpenLinkedOrder,
    OrderLink,
    OrderOpened,
    OrderResent,
    OrderSplit,
    ParkOrder,
    PlaceOrder,
    ProcessOrder,
    RecordStockAllocation,
    ResendOrder,
    SplitOrder,
    order_id_for,
)
from orders.domain.model import Order, OrderStatus, ProcessingGuards
from orders.domain.split_merge import merge_key
from orders.service_layer.handlers import handle_command


@pytest.fixture
def send(linked_bus):
    """Send one orders command through the in-process worker; returns its envelope."""

    async def run(payload, envelope=None):
        envelope = envelope or new_envelope(payload, producer="test")
        await linked_bus.publish(envelope, key=str(payload.order_id))
        return envelope

    return run


@pytest.fixture
def open_order(send, make_details):
    """An open order with its stock allocated (MUG-BLUE×2, TEE-L×1 unless other lines are given)."""

    async def run(short: dict | None = None, **overrides):
        details = make_details(**overrides)
        order_id = order_id_for(details.channel, details.channel_order_id)
        await send(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="ops"))
        for line in details.lines:
            await send(RecordStockAllocation(order_id=order_id, sku=line.sku, requested=line.quantity,
                                             short=(short or {}).get(line.sku, 0)))
        return order_id

    return run


@pytest.fixture
def load(repo):
    async def run(order_id) -> Order:
        return Order.model_validate((await repo.get(order_id))["order"])

    return run


def allocated(*orders: Order) -> dict[str, int]:
    """Stock the orders hold between them, per SKU (requested minus short)."""
    totals: dict[str, int] = {}
    for order in orders:
        for sku, a in order.allocations.items():
            totals[sku] = totals.get(sku, 0) + a.requested - a.short
    return totals


def split(order_id, *lines, new_order_id=None):
    return SplitOrder(order_id=order_id, new_order_id=new_order_id or uuid.uuid4(), reason="ship what we have",
                      requested_by="ops", lines=[LineQuantity(line_id=i, quantity=q) for i, q in lines])


class TestSplit:
    async def test_moves_the_chosen_quantity_into_a_new_linked_open_order(self, send, open_order, load):
        source_id = await open_order()
        command = split(source_id, ("1", 1), ("2", 1))
        await send(command)
        source, new = await load(source_id), await load(command.new_order_id)
        assert [(l.sku, l.quantity) for l in source.details.lines] == [("MUG-BLUE", 1)]
        assert [(l.sku, l.quantity) for l in new.details.lines] == [("MUG-BLUE", 1), ("TEE-L", 1)]
        assert new.status is OrderStatus.OPEN and new.details.order_number == "PH-1001-S1"
        assert [(k.kind, k.order_id) for k in source.links] == [("split_into", command.new_order_id)]
        assert [(k.kind, k.order_id) for k in new.links] == [("split_from", source_id)]
        assert "split" in [e.what for e in source.timeline] and "split from" in [e.what for e in new.timeline]

    async def test_stock_moves_with_the_lines_so_both_stay_allocated_and_inventory_is_not_asked_again(
        self, send, open_order, load, linked_bus
    ):
        source_id = await open_order()
        command = split(source_id, ("1", 1))
        await send(command)
        source, new = await load(source_id), await load(command.new_order_id)
        assert source.stock_allocated and new.stock_allocated
        assert allocated(source, new) == {"MUG-BLUE": 2, "TEE-L": 1}
        [opened] = [p for p in linked_bus.payloads(OrderOpened) if p.order.order_id == command.new_order_id]
        assert opened.allocates_stock is False

    async def test_a_short_sku_keeps_the_stock_on_the_source_first(self, send, open_order, load):
        source_id = await open_order(short={"MUG-BLUE": 1})
        command = split(source_id, ("1", 1))
        await send(command)
        source, new = await load(source_id), await load(command.new_order_id)
        assert source.stock_allocated and new.unallocated_skus() == ["MUG-BLUE"]

    @pytest.mark.parametrize("lines, reason", [
        ((("1", 2), ("2", 1)), "at least one line"),
        ((("9", 1),), "line 9 is not on the order"),
        ((("1", 3),), "cannot take 3"),
    ])
    async def test_is_refused_with_the_reason(self, send, open_order, linked_bus, lines, reason, load):
        source_id = await open_order()
        command = split(source_id, *lines)
        await send(command)
        [rejected] = linked_bus.payloads(CommandRejected)
        assert reason in rejected.reason
        assert len((await load(source_id)).details.lines) == 2 and linked_bus.payloads(OrderSplit) == []

    async def test_is_refused_while_an_allocation_answer_is_pending(self, send, make_details, linked_bus):
        details = make_details()
        order_id = order_id_for(details.channel, details.channel_order_id)
        await send(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="ops"))
        await send(split(order_id, ("1", 1)))
        assert "pending" in linked_bus.payloads(CommandRejected)[0].reason

    async def test_the_same_split_delivered_twice_makes_one_new_order(self, send, open_order, load, repo):
        source_id = await open_order()
        command = split(source_id, ("1", 1))
        envelope = await send(command)
        await send(command, envelope)
        assert len((await load(source_id)).links) == 1 and len(repo.docs) == 2
        assert [l.quantity for l in (await load(command.new_order_id)).details.lines] == [1]


class TestMerge:
    async def merge(self, send, load, *order_ids):
        merged_id = uuid.uuid4()
        key = merge_key(await load(order_ids[0]))
        for oid in order_ids:
            await send(MergeOrder(order_id=oid, merged_order_id=merged_id, merge_key=key, originals=list(order_ids),
                                  requested_by="ops"))
        return merged_id

    async def test_two_matching_orders_become_one_linked_order_and_end_merged(self, send, open_order, load):
        first = await open_order(channel_order_id="same-buyer")
        second = await open_order(channel_order_id="same-buyer-2", order_number="PH-1002")
        merged_id = await self.merge(send, load, first, second)
        merged = await load(merged_id)
        assert [(l.line_id, l.sku) for l in merged.details.lines] == [
            ("1-1", "MUG-BLUE"), ("1-2", "TEE-L"), ("2-1", "MUG-BLUE"), ("2-2", "TEE-L")]
        assert {(k.kind, k.order_id) for k in merged.links} == {("merged_from", first), ("merged_from", second)}
        assert merged.stock_allocated and allocated(merged) == {"MUG-BLUE": 4, "TEE-L": 1 * 2}
        for oid in (first, second):
            original = await load(oid)
            assert original.status is OrderStatus.MERGED and original.allocations == {}
            assert [(k.kind, k.order_id) for k in original.links] == [("merged_into", merged_id)]

    async def test_a_parked_order_refuses_naming_itself(self, send, open_order, load, linked_bus):
        first = await open_order()
        await send(ParkOrder(order_id=first, reason="address check", requested_by="ops"))
        second = await open_order()
        await self.merge(send, load, first, second)
        assert "order PH-1001 is parked" in [p.reason for p in linked_bus.payloads(CommandRejected)]
        assert (await load(first)).status is OrderStatus.OPEN

    async def test_an_order_of_another_buyer_refuses(self, send, open_order, load, linked_bus, make_details):
        first = await open_order()
        other = await open_order(buyer=make_details().buyer.model_copy(update={"name": "Charles Babbage"}))
        merged_id = uuid.uuid4()
        await send(MergeOrder(order_id=other, merged_order_id=merged_id, merge_key=merge_key(await load(first)),
                              originals=[first, other], requested_by="ops"))
        assert "does not share buyer" in linked_bus.payloads(CommandRejected)[0].reason

    async def test_the_same_original_absorbed_twice_is_counted_once(self, send, open_order, load, linked_bus):
        first, second = await open_order(), await open_order()
        merged_id = await self.merge(send, load, first, second)
        [absorb, _] = linked_bus.payloads(AbsorbMergedOrder)
        await send(absorb)  # the same original again, under a new command id
        assert len((await load(merged_id)).details.lines) == 4


class TestResend:
    async def processed(self, send, open_order):
        order_id = await open_order()
        await send(ProcessOrder(order_id=order_id, requested_by="ops"))
        await send(ConfirmShipment(order_id=order_id, shipment_id=uuid.uuid4(), carrier="OMS Post",
                                   tracking_number="OM1", shipped_at=datetime.now(UTC)))
        return order_id

    async def test_makes_a_zero_value_open_order_that_allocates_stock_afresh(self, send, open_order, load,
                                                                            linked_bus):
        order_id = await self.processed(send, open_order)
        command = ResendOrder(order_id=order_id, resend_order_id=uuid.uuid4(), reason="lost in the post",
                              requested_by="ops", lines=[LineQuantity(line_id="1", quantity=1)])
        await send(command)
        resend = await load(command.resend_order_id)
        assert resend.status is OrderStatus.OPEN and resend.details.total() == 0 and resend.details.paid
        assert [(k.kind, k.order_id) for k in resend.links] == [("resend_of", order_id)]
        [opened] = [p for p in linked_bus.payloads(OrderOpened) if p.order.order_id == command.resend_order_id]
        assert opened.allocates_stock is True
        original = await load(order_id)
        assert original.status is OrderStatus.PROCESSED and len(original.details.lines) == 2
        assert [(k.kind, k.order_id) for k in original.links] == [("resent_as", command.resend_order_id)]
        assert original.timeline[-1].what == "resent"

    async def test_an_open_order_cannot_be_resent(self, send, open_order, linked_bus):
        order_id = await open_order()
        await send(ResendOrder(order_id=order_id, resend_order_id=uuid.uuid4(), reason="x", requested_by="ops",
                               lines=[LineQuantity(line_id="1", quantity=1)]))
        assert "only a processed order can be resent" in linked_bus.payloads(CommandRejected)[0].reason
        assert linked_bus.payloads(OrderResent) == []


class TestOpenLinkedOrder:
    async def test_opening_the_same_linked_order_twice_keeps_the_first(self, repo, bus, clock, make_details):
        command = OpenLinkedOrder(order_id=uuid.uuid4(), order=make_details(), reason="split", requested_by="ops",
                                  link=OrderLink(kind="split_from", order_id=uuid.uuid4()), allocations=[])
        for _ in range(2):
            await handle_command(new_envelope(command, producer="test"), repo=repo, bus=bus,
                                 guards=ProcessingGuards(), clock=clock)
        assert len(bus.payloads(OrderOpened)) == 1
