"""Inventory's side of an order lines edit: exactly the per-SKU delta is allocated or released."""

from inventory.service_layer.handlers import forward_event, handle_command
from oms_contracts import derived_id
from oms_contracts.inventory.v1 import AdjustStock, AllocateStock, ReleaseStock, StockAllocated
from oms_contracts.orders.v1 import OrderLinesChanged, OrderOpened, SkuDelta


def lines_changed(order, *deltas: tuple[str, int], stock_held: bool = True) -> OrderLinesChanged:
    return OrderLinesChanged(order=order, deltas=[SkuDelta(sku=s, delta=d) for s, d in deltas],
                             stock_held=stock_held, by="ops-key-1")


class TestLinesChanged:
    async def test_more_allocates_the_delta_and_less_releases_it(self, bus, command, make_order):
        event = command(lines_changed(make_order(("MUG", 3), ("TEE", 1)), ("MUG", 2), ("TEE", -1)))
        await forward_event(event, bus=bus)
        [allocate] = bus.payloads(AllocateStock)
        [release] = bus.payloads(ReleaseStock)
        assert (allocate.sku, allocate.quantity, release.sku, release.quantity) == ("MUG", 2, "TEE", 1)
        assert [key for _, key in bus.published] == ["MUG", "TEE"]
        assert bus.published[0][0].event_id == derived_id(event.event_id, "allocate-delta", "MUG")

    async def test_a_locked_order_moves_no_stock(self, bus, command, make_order):
        await forward_event(command(lines_changed(make_order(("MUG", 3)), ("MUG", 2), stock_held=False)), bus=bus)
        assert bus.published == []

    async def test_levels_move_by_exactly_the_delta_and_the_answer_names_it(
        self, repo, bus, clock, command, make_order
    ):
        await handle_command(command(AdjustStock(sku="MUG", delta=10, reason="count", adjusted_by="ops")),
                             repo=repo, bus=bus, clock=clock)
        order = make_order(("MUG", 3))
        await forward_event(command(OrderOpened(order=order)), bus=bus)
        await forward_event(command(lines_changed(order, ("MUG", 2))), bus=bus)
        await forward_event(command(lines_changed(order, ("MUG", -4))), bus=bus)
        for envelope, _ in list(bus.published):
            if isinstance(envelope.payload, (AllocateStock, ReleaseStock)):
                await handle_command(envelope, repo=repo, bus=bus, clock=clock)
        totals = (await repo.get_stock("MUG")).totals
        assert (totals.on_hand, totals.allocated) == (10, 1)
        assert [a.requested for a in bus.payloads(StockAllocated)] == [3, 2]

    async def test_the_same_event_twice_forwards_the_same_commands(self, bus, command, make_order):
        event = command(lines_changed(make_order(("MUG", 3)), ("MUG", 2)))
        await forward_event(event, bus=bus)
        await forward_event(event, bus=bus)
        first, second = bus.event_ids()
        assert first == second
