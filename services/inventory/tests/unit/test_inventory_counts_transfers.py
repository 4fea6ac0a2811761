"""Stock counts, transfers between locations, allocation by location, availability events and oversold orders."""

import uuid

import pytest

from oms_contracts.inventory.v1 import (
    AdjustStock,
    AllocateStock,
    CountStock,
    DefineStockItem,
    ReceiveTransfer,
    ReleaseStock,
    ShipStock,
    StockAllocated,
    StockAvailableChanged,
    TransferStock,
)
from oms_platform.messaging import PermanentError
from inventory.domain.model import overselling
from inventory.domain.verify import verify
from inventory.service_layer.handlers import handle_command


@pytest.fixture
def handle(repo, bus, clock):
    async def run(envelope):
        await handle_command(envelope, repo=repo, bus=bus, clock=clock)

    return run


@pytest.fixture
def stock_in(handle, command):
    async def run(sku="MUG", delta=10, location="default"):
        await handle(command(AdjustStock(sku=sku, location=location, delta=delta, reason="delivery",
                                         adjusted_by="ops")))

    return run


async def consistent(repo, sku="MUG") -> bool:
    """Stored levels equal their recomputation from the ledger (what GET /stock/{sku}/verify answers)."""
    entries = await repo.entries(sku, after_seq=0, limit=10_000)
    return verify(sku, await repo.get_stock(sku), entries).consistent


def at(repo, location, sku="MUG") -> dict:
    return repo.stock[sku]["locations"][location]


class TestCountStock:
    async def test_a_count_sets_on_hand_and_the_ledger_holds_the_difference_and_the_reason(
        self, stock_in, handle, command, repo
    ):
        await stock_in(delta=10, location="main")
        await handle(command(CountStock(sku="MUG", location="main", counted=7, reason="stock take", counted_by="amy")))
        assert at(repo, "main") == {"on_hand": 7, "allocated": 0}
        entry = repo.entries_of("MUG")[-1]
        assert (entry["on_hand_delta"], entry["by"], entry["command_type"]) == (-3, "amy", "inventory.count_stock")
        assert entry["reason"] == "stock count at main: counted 7, was 10 (-3): stock take"
        assert await consistent(repo)

    async def test_counting_a_new_location_or_sku_starts_it_at_the_count(self, handle, command, repo):
        await handle(command(CountStock(sku="JUG", location="shop", counted=4, reason="first count", counted_by="a")))
        assert repo.stock["JUG"]["on_hand"] == 4 and repo.entries_of("JUG")[0]["on_hand_delta"] == 4

    async def test_a_count_equal_to_on_hand_is_still_recorded_and_announces_no_availability_change(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=5)
        before = len(bus.payloads(StockAvailableChanged))
        await handle(command(CountStock(sku="MUG", counted=5, reason="check", counted_by="a")))
        assert repo.entries_of("MUG")[-1]["on_hand_delta"] == 0
        assert len(bus.payloads(StockAvailableChanged)) == before

    async def test_a_count_below_what_is_allocated_leaves_the_sku_oversold(self, stock_in, handle, command, repo):
        await stock_in(delta=5)
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=4)))
        await handle(command(CountStock(sku="MUG", counted=1, reason="breakage found", counted_by="a")))
        assert (repo.stock["MUG"]["on_hand"], repo.stock["MUG"]["available"]) == (1, -3)

    async def test_same_count_twice_changes_nothing(self, stock_in, handle, command, repo):
        await stock_in(delta=10)
        count = command(CountStock(sku="MUG", counted=8, reason="take", counted_by="a"))
        await handle(count)
        await stock_in(delta=1)
        await handle(count)  # a redelivery, after another change: not counted again
        assert repo.stock["MUG"]["on_hand"] == 9 and len(repo.entries_of("MUG")) == 3


class TestTransferStock:
    async def test_a_transfer_leaves_one_location_and_arrives_at_the_other_with_an_entry_each_side(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=10, location="main")
        transfer = command(TransferStock(sku="MUG", from_location="main", to_location="shop", quantity=4,
                                         reason="restock shop", transferred_by="amy"))
        await handle(transfer)
        assert at(repo, "main")["on_hand"] == 6 and "shop" not in repo.stock["MUG"]["locations"]
        [(arrive, key)] = [(e, k) for e, k in bus.published if isinstance(e.payload, ReceiveTransfer)]
        assert key == "MUG" and arrive.payload.transfer_id == transfer.event_id
        await handle(arrive)
        assert (at(repo, "main")["on_hand"], at(repo, "shop")["on_hand"]) == (6, 4)
        out, into = repo.entries_of("MUG")[-2:]
        assert (out["location"], out["on_hand_delta"], into["location"], into["on_hand_delta"]) == (
            "main", -4, "shop", 4)
        assert out["reason"] == "transfer of 4 to shop: restock shop" and into["by"] == "amy"
        assert await consistent(repo)

    async def test_a_redelivered_transfer_moves_the_stock_once(self, stock_in, handle, command, repo, bus):
        await stock_in(delta=10, location="main")
        transfer = command(TransferStock(sku="MUG", from_location="main", to_location="shop", quantity=4,
                                         reason="r", transferred_by="a"))
        await handle(transfer)
        await handle(transfer)
        arrivals = [e for e, _ in bus.published if isinstance(e.payload, ReceiveTransfer)]
        assert len(arrivals) == 2 and arrivals[0].event_id == arrivals[1].event_id
        for arrive in arrivals:
            await handle(arrive)
        assert (at(repo, "main")["on_hand"], at(repo, "shop")["on_hand"]) == (6, 4)

    async def test_transferring_more_than_on_hand_is_refused_with_the_reason(self, stock_in, handle, command, repo):
        await stock_in(delta=3, location="main")
        with pytest.raises(PermanentError, match="would leave on_hand at -2"):
            await handle(command(TransferStock(sku="MUG", from_location="main", to_location="shop", quantity=5,
                                               reason="r", transferred_by="a")))
        assert at(repo, "main")["on_hand"] == 3 and repo.entries_of("MUG")[-1]["refused"]

    async def test_a_transfer_to_the_same_location_is_refused(self, stock_in, handle, command):
        await stock_in(delta=3, location="main")
        with pytest.raises(PermanentError, match="two different locations"):
            await handle(command(TransferStock(sku="MUG", from_location="main", to_location="main", quantity=1,
                                               reason="r", transferred_by="a")))


class TestAllocationByLocation:
    async def test_an_order_allocates_at_the_items_default_location_and_ships_from_there(
        self, stock_in, handle, command, repo
    ):
        await handle(command(DefineStockItem(sku="MUG", title="Mug", default_location="main", defined_by="ops")))
        await stock_in(delta=10, location="main")
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=3)))
        assert at(repo, "main") == {"on_hand": 10, "allocated": 3}
        await handle(command(ShipStock(order_id=order_id, sku="MUG", quantity=3)))
        assert at(repo, "main") == {"on_hand": 7, "allocated": 0} and "default" not in repo.stock["MUG"]["locations"]

    async def test_a_release_finds_the_allocation_after_the_default_location_moved(
        self, stock_in, handle, command, repo
    ):
        await handle(command(DefineStockItem(sku="MUG", title="Mug", default_location="main", defined_by="ops")))
        await stock_in(delta=10, location="main")
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=3)))
        await handle(command(DefineStockItem(sku="MUG", title="Mug", default_location="shop", defined_by="ops")))
        await handle(command(ReleaseStock(order_id=order_id, sku="MUG", quantity=3)))
        assert at(repo, "main") == {"on_hand": 10, "allocated": 0}
        assert await consistent(repo)

    async def test_without_an_item_orders_use_the_default_location(self, stock_in, handle, command, repo, bus):
        await stock_in(delta=2)
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=3)))
        assert at(repo, "default") == {"on_hand": 2, "allocated": 3}
        assert bus.payloads(StockAllocated)[-1].short == 1


class TestAvailabilityEvents:
    async def test_each_change_of_available_is_announced_once_with_the_before_and_after(
        self, stock_in, handle, command, bus
    ):
        await stock_in(delta=10)
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=4)))
        await handle(command(ShipStock(order_id=order_id, sku="MUG", quantity=4)))  # on_hand and allocated: no change
        changes = [(p.previous_available, p.available) for p in bus.payloads(StockAvailableChanged)]
        assert changes == [(0, 10), (10, 6)]

    async def test_a_redelivery_announces_nothing_new(self, handle, command, bus):
        adjust = command(AdjustStock(sku="MUG", delta=5, reason="in", adjusted_by="ops"))
        await handle(adjust)
        await handle(adjust)
        ids = [e.event_id for e, _ in bus.published if isinstance(e.payload, StockAvailableChanged)]
        assert len(ids) == 2 and len(set(ids)) == 1


class TestOversold:
    def test_on_hand_covers_the_first_orders_and_the_later_ones_are_short(self):
        a, b, c = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
        assert overselling(5, [(a, 3), (b, 3), (c, 2)]) == [(b, 3, 1), (c, 2, 2)]
        assert overselling(8, [(a, 3), (b, 5)]) == []

    async def test_the_ledger_knows_which_orders_hold_stock(self, stock_in, handle, command, repo):
        await stock_in(delta=2)
        first, second, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for order_id in (first, gone, second):
            await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=2)))
        await handle(command(ReleaseStock(order_id=gone, sku="MUG", quantity=2)))
        holdings = await repo.order_holdings("MUG")
        assert [(h.order_id, h.allocated) for h in holdings] == [(first, 2), (second, 2)]
        assert [s.sku for s in await repo.oversold(after=None, limit=10)] == ["MUG"]
