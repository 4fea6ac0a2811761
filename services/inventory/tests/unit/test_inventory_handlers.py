"""The stock command handler and the order-event forwarder: exactly-once effects over at-least-once delivery."""

import uuid
from datetime import UTC, datetime

import pytest

from oms_contracts import derived_id, new_envelope
from oms_contracts.inventory.v1 import (
    AdjustStock,
    AllocateStock,
    ReleaseStock,
    ShipStock,
    StockAllocated,
    StockAvailableChanged,
    StockLevelChanged,
)
from oms_contracts.orders.v1 import (
    OrderCancelled,
    OrderLocked,
    OrderOpened,
    OrderParked,
    OrderProcessed,
    OrderProcessingStarted,
    OrderUnlocked,
)
from oms_platform.messaging import PermanentError
from inventory.service_layer.handlers import forward_event, handle_command


@pytest.fixture
def handle(repo, bus, clock):
    async def run(envelope):
        await handle_command(envelope, repo=repo, bus=bus, clock=clock)

    return run


@pytest.fixture
def stock_in(handle, command):
    async def run(sku="MUG", delta=10, location="default"):
        await handle(command(AdjustStock(sku=sku, location=location, delta=delta, reason="delivery",
                                         adjusted_by="ops-key-1")))

    return run


def levels(repo, sku="MUG") -> tuple[int, int, int]:
    doc = repo.stock[sku]
    return doc["on_hand"], doc["allocated"], doc["available"]


class TestAdjustStock:
    async def test_stock_in_creates_the_sku_records_seq_1_and_publishes_the_level(self, stock_in, repo, bus):
        await stock_in(delta=10)
        assert levels(repo) == (10, 0, 10) and repo.stock["MUG"]["seq"] == 1
        [entry] = repo.entries_of("MUG")
        assert (entry["seq"], entry["on_hand_delta"], entry["reason"], entry["by"]) == (1, 10, "delivery", "ops-key-1")
        [(level, key), (available, available_key)] = bus.published
        assert isinstance(level.payload, StockLevelChanged) and key == "MUG"
        assert isinstance(available.payload, StockAvailableChanged) and available_key == "MUG"
        assert (available.payload.previous_available, available.payload.available) == (0, 10)

    async def test_each_change_takes_the_next_seq_and_totals_cover_every_location(self, stock_in, repo):
        await stock_in(delta=10)
        await stock_in(delta=4, location="backroom")
        assert [e["seq"] for e in repo.entries_of("MUG")] == [1, 2]
        assert repo.stock["MUG"]["locations"] == {"default": {"on_hand": 10, "allocated": 0},
                                                  "backroom": {"on_hand": 4, "allocated": 0}}
        assert levels(repo) == (14, 0, 14) and repo.entries_of("MUG")[1]["totals"]["on_hand"] == 14

    async def test_same_command_twice_changes_nothing_and_republishes_the_same_event(
        self, handle, command, repo, bus
    ):
        envelope = command(AdjustStock(sku="MUG", delta=5, reason="count", adjusted_by="ops"))
        await handle(envelope)
        stored, ledger = dict(repo.stock["MUG"]), dict(repo.ledger)
        await handle(envelope)
        assert repo.stock["MUG"] == stored and repo.ledger == ledger
        assert bus.event_ids()[:2] == bus.event_ids()[2:] and len(bus.published) == 4

    async def test_taking_out_more_than_on_hand_is_refused_to_the_dlq_and_stays_refused(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=2)
        refused = command(AdjustStock(sku="MUG", delta=-5, reason="stock take", adjusted_by="ops"))
        with pytest.raises(PermanentError, match="would leave on_hand at -3"):
            await handle(refused)
        await stock_in(delta=10)
        with pytest.raises(PermanentError, match="would leave on_hand at -3"):
            await handle(refused)  # replayed later, it is still the refusal it was
        assert levels(repo) == (12, 0, 12) and len(bus.payloads(StockLevelChanged)) == 2
        assert repo.entries_of("MUG")[1]["refused"] and repo.stock["MUG"]["seq"] == 3


class TestAllocateStock:
    async def test_allocation_reserves_stock_and_publishes_the_outcome_keyed_by_order(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=10)
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=3)))
        assert levels(repo) == (10, 3, 7)
        [allocated] = bus.payloads(StockAllocated)
        assert (allocated.requested, allocated.short, allocated.known_sku) == (3, 0, True)
        assert [key for e, key in bus.published if isinstance(e.payload, StockAllocated)] == [str(order_id)]
        assert repo.entries_of("MUG")[-1]["order_id"] == str(order_id)

    async def test_overselling_reserves_all_reports_short_and_leaves_available_negative(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=2)
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=5)))
        assert levels(repo) == (2, 5, -3)
        assert bus.payloads(StockAllocated)[0].short == 3
        assert bus.payloads(StockLevelChanged)[-1].available == -3

    async def test_an_unknown_sku_is_reported_all_short_without_inventing_stock(self, handle, command, repo, bus):
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="TYPO", quantity=2)))
        assert "TYPO" not in repo.stock
        assert bus.payloads() == [StockAllocated(order_id=order_id, sku="TYPO", requested=2, short=2, known_sku=False)]
        [entry] = repo.entries_of("TYPO")
        assert (entry["allocated_delta"], entry["applies_to_stock"]) == (0, False)

    async def test_two_unknown_sku_allocations_and_a_later_stock_in_take_consecutive_seqs(
        self, stock_in, handle, command, repo
    ):
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="NEW", quantity=1)))
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="NEW", quantity=1)))
        await stock_in(sku="NEW", delta=5)
        assert [e["seq"] for e in repo.entries_of("NEW")] == [1, 2, 3]
        assert repo.stock["NEW"]["seq"] == 3 and levels(repo, "NEW") == (5, 0, 5)

    async def test_an_unknown_sku_allocation_replayed_after_stock_arrives_still_allocates_nothing(
        self, stock_in, handle, command, repo, bus
    ):
        envelope = command(AllocateStock(order_id=uuid.uuid4(), sku="LATE", quantity=2))
        await handle(envelope)
        await stock_in(sku="LATE", delta=5)
        await handle(envelope)
        assert levels(repo, "LATE") == (5, 0, 5)
        assert [p.known_sku for p in bus.payloads(StockAllocated)] == [False, False]

    async def test_same_allocation_twice_republishes_the_same_events_and_reserves_once(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=10)
        envelope = command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=3))
        await handle(envelope)
        first = bus.event_ids()[2:]
        await handle(envelope)
        assert levels(repo) == (10, 3, 7) and bus.event_ids()[5:] == first and len(first) == 3


class TestShipStock:
    async def test_shipping_takes_on_hand_down_and_releases_the_allocation(self, stock_in, handle, command, repo):
        await stock_in(delta=10)
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=2)))
        await handle(command(ShipStock(order_id=order_id, sku="MUG", quantity=2)))
        assert levels(repo) == (8, 0, 8)

    async def test_shipping_more_than_on_hand_clamps_at_zero_and_notes_the_shortfall(
        self, stock_in, handle, command, repo
    ):
        await stock_in(delta=1)
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=3)))
        await handle(command(ShipStock(order_id=order_id, sku="MUG", quantity=3)))
        assert levels(repo) == (0, 0, 0)
        entry = repo.entries_of("MUG")[-1]
        assert entry["on_hand_delta"] == -1 and "clamped at 0, 2 unaccounted for" in entry["reason"]


class TestReleaseStock:
    async def test_releasing_gives_the_allocation_back_records_it_and_announces_the_level(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=10)
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=3)))
        await handle(command(ReleaseStock(order_id=order_id, sku="MUG", quantity=3)))
        assert levels(repo) == (10, 0, 10)
        entry = repo.entries_of("MUG")[-1]
        assert entry["allocated_delta"] == -3 and entry["order_id"] == str(order_id)
        assert bus.payloads(StockLevelChanged)[-1].available == 10

    async def test_releasing_more_than_is_allocated_stops_at_zero(self, stock_in, handle, command, repo):
        await stock_in(delta=10)
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=1)))
        await handle(command(ReleaseStock(order_id=uuid.uuid4(), sku="MUG", quantity=4)))
        assert levels(repo) == (10, 0, 10)

    async def test_same_release_twice_changes_nothing_and_republishes_the_same_event(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=10)
        order_id = uuid.uuid4()
        await handle(command(AllocateStock(order_id=order_id, sku="MUG", quantity=2)))
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=2)))
        release = command(ReleaseStock(order_id=order_id, sku="MUG", quantity=2))
        await handle(release)
        published = len(bus.published)
        await handle(release)
        assert levels(repo) == (10, 2, 8)
        assert bus.event_ids()[published:] == bus.event_ids()[published - 2:published]


class TestCrashBetweenLedgerAndStock:
    async def test_the_redelivered_command_finishes_the_update_and_publishes_once_more(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=10)
        envelope = command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=4))
        repo.crash_before_stock_save = True
        with pytest.raises(ConnectionError):
            await handle(envelope)
        assert levels(repo) == (10, 0, 10) and len(repo.entries_of("MUG")) == 2 and len(bus.published) == 2
        await handle(envelope)
        assert levels(repo) == (10, 4, 6) and repo.stock["MUG"]["seq"] == 2 and len(repo.entries_of("MUG")) == 2
        assert [type(p) for p in bus.payloads()[2:]] == [StockLevelChanged, StockAllocated, StockAvailableChanged]

    async def test_the_next_command_for_the_sku_finishes_a_pending_entry_first(
        self, stock_in, handle, command, repo, bus
    ):
        await stock_in(delta=10)
        repo.crash_before_stock_save = True
        with pytest.raises(ConnectionError):
            await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=4)))
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=1)))
        assert levels(repo) == (10, 5, 5) and repo.stock["MUG"]["seq"] == 3
        assert [p.allocated for p in bus.payloads(StockLevelChanged)] == [0, 4, 5]

    async def test_a_crash_while_creating_a_new_sku_is_finished_by_its_redelivery(self, handle, command, repo):
        envelope = command(AdjustStock(sku="NEW", delta=3, reason="opening stock", adjusted_by="ops"))
        repo.crash_before_stock_save = True
        with pytest.raises(ConnectionError):
            await handle(envelope)
        assert "NEW" not in repo.stock
        await handle(envelope)
        assert levels(repo, "NEW") == (3, 0, 3) and repo.stock["NEW"]["seq"] == 1


    async def test_a_finished_entry_adds_to_its_orders_holding_once(self, stock_in, handle, command, repo):
        await stock_in(delta=10)
        order_id = uuid.uuid4()
        envelope = command(AllocateStock(order_id=order_id, sku="MUG", quantity=4))
        repo.crash_before_stock_save = True
        with pytest.raises(ConnectionError):
            await handle(envelope)
        await handle(envelope)
        await handle(envelope)
        assert await repo.order_allocation("MUG", order_id) == {"default": 4} == repo.held_by_ledger("MUG", order_id)


class TestLedgerPositions:
    async def test_a_position_claimed_by_a_writer_that_died_is_skipped(self, stock_in, handle, command, repo):
        await stock_in(delta=10)
        envelope = command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=4))
        repo.crash_after_claim = True
        with pytest.raises(ConnectionError):
            await handle(envelope)
        await handle(envelope)
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=1)))
        assert [e["seq"] for e in repo.entries_of("MUG")] == [1, 3, 4]
        assert levels(repo) == (10, 5, 5) and repo.stock["MUG"]["seq"] == 4

    async def test_many_entries_that_leave_stock_alone_are_walked_past(self, stock_in, handle, command, repo):
        for _ in range(120):  # an unknown SKU: more than two pages of positions, and no stock document
            await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="NEW", quantity=1)))
        await stock_in(sku="NEW", delta=5)
        assert repo.stock["NEW"]["seq"] == 121 and levels(repo, "NEW") == (5, 0, 5)

    async def test_an_orders_holding_follows_its_allocations_shipments_and_releases(
        self, stock_in, handle, command, repo
    ):
        await stock_in(delta=10)
        kept, released = uuid.uuid4(), uuid.uuid4()
        await handle(command(AllocateStock(order_id=kept, sku="MUG", quantity=3)))
        await handle(command(AllocateStock(order_id=released, sku="MUG", quantity=2)))
        await handle(command(AllocateStock(order_id=kept, sku="MUG", quantity=1)))
        await handle(command(ReleaseStock(order_id=released, sku="MUG", quantity=2)))
        assert await repo.order_allocation("MUG", kept) == {"default": 4} == repo.held_by_ledger("MUG", kept)
        assert await repo.order_allocation("MUG", released) == {"default": 0}
        await handle(command(ShipStock(order_id=kept, sku="MUG", quantity=4)))
        assert await repo.order_allocation("MUG", kept) == {"default": 0} and levels(repo) == (6, 0, 6)


class TestCommandsInventoryCannotHandle:
    async def test_an_event_on_the_command_topic_is_a_permanent_error(self, handle, command):
        with pytest.raises(PermanentError, match="cannot handle inventory.stock_allocated"):
            await handle(command(StockAllocated(order_id=uuid.uuid4(), sku="MUG", requested=1, short=0)))

    async def test_an_event_id_reused_for_another_sku_is_a_permanent_error(self, stock_in, handle, repo):
        await stock_in(sku="MUG")
        [entry] = repo.entries_of("MUG")
        reused = new_envelope(AdjustStock(sku="TEE", delta=1, reason="x", adjusted_by="ops"), producer="test",
                              event_id=uuid.UUID(entry["_id"]))
        with pytest.raises(PermanentError, match="already used for SKU MUG"):
            await handle(reused)


class TestForwardOrderEvents:
    async def test_an_opened_order_becomes_one_allocation_per_sku_with_quantities_summed(
        self, bus, command, make_order
    ):
        order = make_order(("MUG", 2), ("TEE", 1), ("MUG", 3))
        event = command(OrderOpened(order=order))
        await forward_event(event, bus=bus)
        assert [(p.sku, p.quantity, p.order_id) for p in bus.payloads(AllocateStock)] == [
            ("MUG", 5, order.order_id), ("TEE", 1, order.order_id)]
        assert [key for _, key in bus.published] == ["MUG", "TEE"]
        envelope = bus.published[0][0]
        assert envelope.event_id == derived_id(event.event_id, "allocate", "MUG")
        assert envelope.causation_id == event.event_id and envelope.correlation_id == event.correlation_id

    async def test_a_processed_order_becomes_one_shipment_per_sku(self, bus, command, make_order):
        event = command(OrderProcessed(order=make_order(("MUG", 2)), carrier="OMS Post", tracking_number="OM1",
                                       processed_at=datetime.now(UTC)))
        await forward_event(event, bus=bus)
        [(envelope, key)] = bus.published
        assert isinstance(envelope.payload, ShipStock) and envelope.payload.quantity == 2 and key == "MUG"
        assert envelope.event_id == derived_id(event.event_id, "ship", "MUG")

    async def test_the_same_event_forwarded_twice_derives_the_same_command_ids(self, bus, command, make_order):
        event = command(OrderOpened(order=make_order(("MUG", 1), ("TEE", 1))))
        await forward_event(event, bus=bus)
        await forward_event(event, bus=bus)
        assert bus.event_ids()[:2] == bus.event_ids()[2:]

    async def test_other_order_events_are_ignored(self, bus, command, make_order):
        await forward_event(command(OrderProcessingStarted(order=make_order(), requested_by="ops")), bus=bus)
        assert bus.published == []

    async def test_a_locked_order_releases_its_stock_per_sku(self, bus, command, make_order):
        event = command(OrderLocked(order=make_order(("MUG", 2), ("TEE", 1)), reason="fraud check", by="ops"))
        await forward_event(event, bus=bus)
        assert [(p.sku, p.quantity) for p in bus.payloads(ReleaseStock)] == [("MUG", 2), ("TEE", 1)]
        assert bus.published[0][0].event_id == derived_id(event.event_id, "release", "MUG")

    async def test_an_unlocked_order_allocates_its_stock_again(self, bus, command, make_order):
        event = command(OrderUnlocked(order=make_order(("MUG", 2)), reason="checked", by="ops"))
        await forward_event(event, bus=bus)
        [(envelope, key)] = bus.published
        assert isinstance(envelope.payload, AllocateStock) and envelope.payload.quantity == 2 and key == "MUG"
        assert envelope.event_id == derived_id(event.event_id, "reallocate", "MUG")

    async def test_a_cancelled_order_that_held_stock_releases_it(self, bus, command, make_order):
        await forward_event(command(OrderCancelled(order=make_order(("MUG", 2)), reason="buyer", by="ops")), bus=bus)
        assert [(p.sku, p.quantity) for p in bus.payloads(ReleaseStock)] == [("MUG", 2)]

    async def test_a_cancelled_order_that_was_locked_releases_nothing_twice(self, bus, command, make_order):
        cancelled = OrderCancelled(order=make_order(("MUG", 2)), reason="buyer", by="ops", stock_held=False)
        await forward_event(command(cancelled), bus=bus)
        assert bus.published == []

    async def test_a_parked_order_keeps_its_stock(self, bus, command, make_order):
        await forward_event(command(OrderParked(order_id=make_order().order_id, reason="wait", by="ops")), bus=bus)
        assert bus.published == []
