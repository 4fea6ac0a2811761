"""Edits of open orders, newer channel versions, import marks, processing guards and voided shipments."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms_contracts import new_envelope
from oms_contracts.common import Address, OrderLine
from oms_contracts.fulfilment.v1 import ShipmentVoided
from oms_contracts.ingest.v1 import OrderReceived
from oms_contracts.orders.v1 import (
    AddOrderNote,
    ChangeOrderLines,
    CommandRejected,
    EditOrder,
    LineQuantity,
    OrderEdited,
    OrderLinesChanged,
    OrderOpened,
    OrderReopened,
    PlaceOrder,
    ProcessOrder,
    ReopenOrder,
    SkuDelta,
)
from orders.adapters.repository import OrderFilter, filter_query, list_fields
from orders.domain import edits
from orders.domain.errors import OrderRefused
from orders.domain.model import Order, OrderStatus, ProcessingGuards
from orders.service_layer.handlers import forward_event, handle_command

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NEW_ADDRESS = Address(name="Ada Lovelace", line1="1 Ockham Park", city="Ockham", postcode="GU23 6NG", country="GB")


@pytest.fixture
def open_order(make_details):
    def place(**overrides) -> Order:
        order, _ = Order.place(order_id=uuid.uuid4(), details=make_details(**overrides), source="staff",
                               placed_by="ops", now=NOW)
        return order

    return place


def answer_all(order: Order) -> None:
    """Inventory answers every request the order is waiting for, in full."""
    for sku, count in list(order.awaiting.items()):
        for _ in range(count):
            wanted = order.quantities_by_sku().get(sku, 0) - (order.allocations[sku].requested
                                                                if sku in order.allocations else 0)
            order.record_allocation(sku=sku, requested=wanted, short=0, known_sku=True, now=NOW)


def change(order: Order, **kwargs) -> list:
    return edits.change_lines(order, add=kwargs.get("add", []), remove=kwargs.get("remove", []),
                              quantities=kwargs.get("quantities", []), by="alice", now=NOW)


class TestNotes:
    def test_an_invoice_note_reaches_the_snapshot_and_an_internal_one_does_not(self, open_order):
        order = open_order()
        edits.add_note(order, note_id=uuid.uuid4(), text="call before delivery", internal=True, by="alice", now=NOW)
        [event] = edits.add_note(order, note_id=uuid.uuid4(), text="Happy birthday!", internal=False, by="alice",
                                 now=NOW)
        assert isinstance(event, OrderEdited) and event.changed == ["notes"]
        assert event.order.invoice_note == "Happy birthday!" and order.snapshot().invoice_note == "Happy birthday!"
        assert order.timeline[-1].what == "note added" and order.timeline[-1].by == "alice"

    def test_removing_a_note_takes_it_off_the_invoice(self, open_order):
        order = open_order()
        note_id = uuid.uuid4()
        edits.add_note(order, note_id=note_id, text="gift", internal=False, by="alice", now=NOW)
        edits.remove_note(order, note_id=note_id, by="bob", now=NOW)
        assert order.notes == [] and order.snapshot().invoice_note is None
        assert order.timeline[-1].what == "note removed" and order.timeline[-1].by == "bob"
        with pytest.raises(OrderRefused, match="no note"):
            edits.remove_note(order, note_id=note_id, by="bob", now=NOW)

    @pytest.mark.parametrize("end", ["cancel", "process"])
    def test_a_cancelled_or_processing_order_cannot_be_noted(self, open_order, end):
        order = open_order()
        if end == "cancel":
            order.cancel(reason="x", by="ops", now=NOW)
        else:
            answer_all(order)
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        with pytest.raises(OrderRefused, match="only an open order can be edited"):
            edits.add_note(order, note_id=uuid.uuid4(), text="late", internal=True, by="alice", now=NOW)


class TestEdit:
    def test_each_changed_field_is_one_timeline_entry_and_one_event_names_them(self, open_order):
        order = open_order()
        command = EditOrder(order_id=order.order_id, shipping_address=NEW_ADDRESS, shipping_service="Express",
                            tags=["vip", "gift", "vip"], folder="wholesale", requested_by="alice")
        [event] = edits.edit(order, command, by="alice", now=NOW)
        assert event.changed == ["shipping_address", "shipping", "tags", "folder"]
        assert order.details.shipping_address == NEW_ADDRESS and order.details.shipping.service == "Express"
        assert order.details.shipping.cost == Decimal("3.95")
        assert order.tags == ["gift", "vip"] and order.folder == "wholesale"
        assert [e.what for e in order.timeline[-4:]] == ["shipping address changed", "shipping changed",
                                                         "tags changed", "folder changed"]
        assert "Ockham" in order.timeline[-4].detail

    def test_the_same_values_again_change_nothing(self, open_order):
        order = open_order()
        command = EditOrder(order_id=order.order_id, tags=["vip"], requested_by="alice")
        edits.edit(order, command, by="alice", now=NOW)
        entries = len(order.timeline)
        assert edits.edit(order, command, by="alice", now=NOW) == [] and len(order.timeline) == entries

    def test_an_empty_folder_takes_the_order_out_of_its_folder(self, open_order):
        order = open_order()
        edits.edit(order, EditOrder(order_id=order.order_id, folder="hold", requested_by="a"), by="a", now=NOW)
        edits.edit(order, EditOrder(order_id=order.order_id, folder="", requested_by="a"), by="a", now=NOW)
        assert order.folder is None

    def test_a_locked_order_keeps_its_address_but_can_be_tagged(self, open_order):
        order = open_order()
        order.lock(reason="fraud check", by="ops", now=NOW)
        with pytest.raises(OrderRefused, match="locked .*unlock it before changing its addresses"):
            edits.edit(order, EditOrder(order_id=order.order_id, shipping_address=NEW_ADDRESS, requested_by="a"),
                       by="a", now=NOW)
        assert edits.edit(order, EditOrder(order_id=order.order_id, tags=["fraud"], requested_by="a"), by="a",
                          now=NOW)


class TestLines:
    def test_a_quantity_change_publishes_the_delta_and_needs_its_answer(self, open_order):
        order = open_order()
        answer_all(order)
        [event] = change(order, quantities=[LineQuantity(line_id="1", quantity=5)])
        assert isinstance(event, OrderLinesChanged) and event.deltas == [SkuDelta(sku="MUG-BLUE", delta=3)]
        assert event.stock_held and not order.stock_allocated and order.unallocated_skus() == ["MUG-BLUE"]
        order.record_allocation(sku="MUG-BLUE", requested=3, short=0, known_sku=True, now=NOW)
        assert order.stock_allocated and order.allocations["MUG-BLUE"].requested == 5

    def test_adding_and_removing_lines_gives_a_delta_per_sku(self, open_order):
        order = open_order()
        answer_all(order)
        new = OrderLine(line_id="3", sku="CAP", title="Cap", quantity=2, unit_price=Decimal("9"))
        [event] = change(order, add=[new], remove=["2"])
        assert {d.sku: d.delta for d in event.deltas} == {"TEE-L": -1, "CAP": 2}
        assert "TEE-L" not in order.allocations  # released at once: inventory needs no answer for a release
        order.record_allocation(sku="CAP", requested=2, short=1, known_sku=True, now=NOW)
        assert order.unallocated_skus() == ["CAP"] and order.timeline[-1].what == "out of stock"
        assert "added CAP×2" in order.timeline[-2].detail and "TEE-L -1" in order.timeline[-2].detail

    def test_less_gives_back_the_shortfall_first(self, open_order):
        order = open_order()
        order.record_allocation(sku="MUG-BLUE", requested=2, short=1, known_sku=True, now=NOW)
        change(order, quantities=[LineQuantity(line_id="1", quantity=1)])
        assert order.allocations["MUG-BLUE"].requested == 1 and order.allocations["MUG-BLUE"].short == 0

    def test_a_release_that_overtakes_the_opening_answer_adds_up_right(self, open_order):
        order = open_order()  # MUG-BLUE ×2 asked for, not answered yet
        change(order, quantities=[LineQuantity(line_id="1", quantity=1)])
        order.record_allocation(sku="MUG-BLUE", requested=2, short=0, known_sku=True, now=NOW)
        order.record_allocation(sku="TEE-L", requested=1, short=0, known_sku=True, now=NOW)
        assert order.allocations["MUG-BLUE"].requested == 1 and order.stock_allocated

    def test_a_lock_makes_answers_still_on_their_way_stale(self, open_order):
        order = open_order()
        change(order, quantities=[LineQuantity(line_id="1", quantity=4)])  # two MUG-BLUE requests out
        order.lock(reason="check", by="ops", now=NOW)
        order.unlock(reason="ok", by="ops", now=NOW)
        for sku, requested in (("MUG-BLUE", 2), ("MUG-BLUE", 2), ("TEE-L", 1)):  # released by the lock: stale
            order.record_allocation(sku=sku, requested=requested, short=0, known_sku=True, now=NOW)
        assert order.allocations == {}
        order.record_allocation(sku="MUG-BLUE", requested=4, short=0, known_sku=True, now=NOW)
        order.record_allocation(sku="TEE-L", requested=1, short=0, known_sku=True, now=NOW)
        assert order.stock_allocated

    def test_a_split_off_order_waits_for_no_answer_so_its_unlock_answer_counts(self, open_order):
        from orders.domain import split_merge

        order = open_order()
        answer_all(order)
        [split] = split_merge.split(order, new_order_id=uuid.uuid4(), lines=[LineQuantity(line_id="1", quantity=1)],
                                    reason="ship now", by="ops", now=NOW)
        new, _ = split_merge.open_linked(order_id=split.new_order_id, details=split.order, link=split_merge.OrderLink(
            kind="split_from", order_id=order.order_id), allocations=split.allocations, reason="x", by="ops", now=NOW)
        assert new.awaiting == {} and new.stock_allocated
        new.lock(reason="check", by="ops", now=NOW)
        new.unlock(reason="ok", by="ops", now=NOW)
        new.record_allocation(sku="MUG-BLUE", requested=1, short=0, known_sku=True, now=NOW)
        assert new.stock_allocated

    @pytest.mark.parametrize(("kwargs", "reason"), [
        ({"remove": ["9"]}, "line 9 is not on the order"),
        ({"remove": ["1", "2"]}, "at least one line"),
        ({"remove": ["1"], "quantities": [LineQuantity(line_id="1", quantity=2)]}, "changed twice"),
        ({"add": [OrderLine(line_id="1", sku="X", title="X", quantity=1, unit_price=Decimal(1))]}, "new on the order"),
    ])
    def test_impossible_changes_are_refused_with_the_reason(self, open_order, kwargs, reason):
        order = open_order()
        before = order.details
        with pytest.raises(OrderRefused, match=reason):
            change(order, **kwargs)
        assert order.details == before

    def test_a_locked_order_refuses_line_changes(self, open_order):
        order = open_order()
        order.lock(reason="check", by="ops", now=NOW)
        with pytest.raises(OrderRefused, match="unlock it before changing its lines"):
            change(order, quantities=[LineQuantity(line_id="1", quantity=4)])


class TestChannelVersions:
    def channel_order(self, make_details, **overrides) -> Order:
        order, _ = Order.place(order_id=uuid.uuid4(), details=make_details(channel="ebay", **overrides),
                               source="channel", placed_by="channel:ebay", now=NOW, channel_updated_at=NOW)
        return order

    def test_a_newer_version_updates_an_open_order_and_its_stock(self, make_details):
        order = self.channel_order(make_details, paid=False)
        answer_all(order)
        newer = order.details.model_copy(update={"paid": True, "shipping_address": NEW_ADDRESS,
                                                 "lines": [order.details.lines[0].model_copy(update={"quantity": 3})]})
        events = edits.update_from_channel(order, details=newer, channel_updated_at=NOW + timedelta(hours=1),
                                           shipped_on_channel=False, by="channel:ebay", now=NOW)
        edited, lines = events
        assert set(edited.changed) == {"paid", "shipping_address"}
        assert {d.sku: d.delta for d in lines.deltas} == {"MUG-BLUE": 1, "TEE-L": -1}
        assert order.details == newer and order.channel_updated_at == NOW + timedelta(hours=1)
        assert order.timeline[-1].what == "updated from channel" and "paid" in order.timeline[-1].detail

    def test_an_older_version_is_recorded_and_changes_nothing(self, make_details):
        order = self.channel_order(make_details)
        older = order.details.model_copy(update={"paid": False})
        assert edits.update_from_channel(order, details=older, channel_updated_at=NOW - timedelta(hours=1),
                                         shipped_on_channel=False, by="channel:ebay", now=NOW) == []
        assert order.details.paid and "older channel version" in order.timeline[-1].detail

    def test_after_processing_a_newer_version_is_recorded_and_changes_nothing(self, make_details):
        order = self.channel_order(make_details)
        answer_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        newer = order.details.model_copy(update={"shipping_address": NEW_ADDRESS})
        assert edits.update_from_channel(order, details=newer, channel_updated_at=NOW + timedelta(hours=1),
                                         shipped_on_channel=False, by="channel:ebay", now=NOW) == []
        assert order.details.shipping_address != NEW_ADDRESS
        assert "the order is processing, nothing changed" in order.timeline[-1].detail

    def test_an_order_imported_locked_opens_locked_without_stock(self, make_details):
        order, [event] = Order.place(order_id=uuid.uuid4(), details=make_details(channel="amazon"),
                                     source="channel", placed_by="channel:amazon", now=NOW,
                                     lock_reason="Fulfilled by Amazon", shipped_on_channel=True)
        assert isinstance(event, OrderOpened) and not event.allocates_stock
        assert order.locked and order.hold_reason == "Fulfilled by Amazon" and order.awaiting == {}
        assert order.shipped_on_channel and list_fields(order)["shipped_on_channel"] is True
        assert [e.what for e in order.timeline] == ["opened", "shipped on channel", "locked"]


class TestProcessingGuards:
    @pytest.mark.parametrize(("setup", "guard"), [
        (lambda o: o.park(reason="wait", by="ops", now=NOW), "parked"),
        (lambda o: o.lock(reason="check", by="ops", now=NOW), "locked"),
        (lambda o: None, "stock"),
    ])
    def test_a_refusal_names_its_guard(self, open_order, setup, guard):
        order = open_order()
        setup(order)
        with pytest.raises(OrderRefused) as refused:
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        assert refused.value.guard == guard

    def test_unpaid_is_refused_as_paid_and_passes_when_switched_off(self, open_order):
        order = open_order(paid=False)
        answer_all(order)
        with pytest.raises(OrderRefused) as refused:
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        assert refused.value.guard == "paid"
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards(require_paid=False))
        assert order.status is OrderStatus.PROCESSING

    def test_parked_passes_when_that_guard_is_switched_off(self, open_order):
        order = open_order()
        answer_all(order)
        order.park(reason="wait", by="ops", now=NOW)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards(require_not_parked=False))
        assert order.status is OrderStatus.PROCESSING

    def test_open_is_always_required(self, open_order):
        order = open_order()
        order.cancel(reason="x", by="ops", now=NOW)
        off = ProcessingGuards(require_paid=False, require_stock=False, require_not_parked=False,
                               require_not_locked=False)
        with pytest.raises(OrderRefused) as refused:
            order.start_processing(by="ops", now=NOW, guards=off)
        assert refused.value.guard == "open"


class TestReopen:
    def test_a_voided_shipment_reopens_the_order_with_its_stock(self, open_order):
        order = open_order()
        answer_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        [event] = edits.reopen(order, tracking_number="OM123", reason="label torn", by="packer-1", now=NOW)
        assert isinstance(event, OrderReopened) and order.status is OrderStatus.OPEN and order.stock_allocated
        assert order.timeline[-1].what == "shipment voided" and "OM123" in order.timeline[-1].detail

    def test_a_cancelled_order_is_not_reopened(self, open_order):
        order = open_order()
        order.cancel(reason="x", by="ops", now=NOW)
        with pytest.raises(OrderRefused, match="only an order in processing"):
            edits.reopen(order, tracking_number="OM1", reason="x", by="f", now=NOW)


class TestListFields:
    def test_new_filters_match_what_the_order_holds(self, open_order):
        order = open_order()
        edits.edit(order, EditOrder(order_id=order.order_id, tags=["vip"], folder="b2b", requested_by="a"),
                   by="a", now=NOW)
        order.record_allocation(sku="MUG-BLUE", requested=2, short=2, known_sku=True, now=NOW)
        fields = list_fields(order)
        assert (fields["tags"], fields["folder"], fields["out_of_stock"], fields["shipping_service"]) == (
            ["vip"], "b2b", True, "Standard")
        query = filter_query(OrderFilter(tag="vip", processed_from=NOW, processed_to=NOW + timedelta(days=1)))
        assert query == {"tags": "vip", "processed_at": {"$gte": NOW.isoformat(),
                                                         "$lt": (NOW + timedelta(days=1)).isoformat()}}


class TestHandlers:
    async def test_a_refused_process_names_the_guard_in_the_rejection(self, worker_bus, make_details):
        order_id = uuid.uuid4()
        place = PlaceOrder(order_id=order_id, order=make_details(paid=False), source="staff", placed_by="ops")
        await worker_bus.publish(new_envelope(place, producer="t"), key=str(order_id))
        await worker_bus.publish(new_envelope(ProcessOrder(order_id=order_id, requested_by="ops"), producer="t"),
                                 key=str(order_id))
        [rejected] = worker_bus.payloads(CommandRejected)
        assert rejected.guard == "stock" or rejected.guard == "paid"

    async def test_the_same_edit_twice_changes_the_order_once(self, worker_bus, repo, make_details):
        order_id = uuid.uuid4()
        place = PlaceOrder(order_id=order_id, order=make_details(), source="staff", placed_by="ops")
        await worker_bus.publish(new_envelope(place, producer="t"), key=str(order_id))
        edit = new_envelope(ChangeOrderLines(order_id=order_id, quantities=[LineQuantity(line_id="1", quantity=4)],
                                             requested_by="alice"), producer="t")
        await worker_bus.publish(edit, key=str(order_id))
        await worker_bus.publish(edit, key=str(order_id))
        order = Order.model_validate((await repo.get(order_id))["order"])
        assert order.quantities_by_sku()["MUG-BLUE"] == 4
        assert sum(e.what == "lines changed" for e in order.timeline) == 1
        assert len(worker_bus.payloads(OrderLinesChanged)) == 2  # the redelivery re-publishes the same event
        assert len({e.event_id for e, _ in worker_bus.published if isinstance(e.payload, OrderLinesChanged)}) == 1

    async def test_a_note_for_an_unknown_order_goes_to_the_dead_letters(self, worker_bus):
        from oms_platform.messaging import PermanentError

        note = AddOrderNote(order_id=uuid.uuid4(), note_id=uuid.uuid4(), text="x", requested_by="a")
        with pytest.raises(PermanentError, match="unknown order"):
            await worker_bus.publish(new_envelope(note, producer="t"), key="x")

    async def test_shipment_voided_is_forwarded_as_reopen_keyed_by_order(self, bus):
        order_id = uuid.uuid4()
        voided = new_envelope(ShipmentVoided(order_id=order_id, shipment_id=uuid.uuid4(), tracking_number="OM1",
                                             reason="torn", by="packer-1"), producer="fulfilment")
        await forward_event(voided, bus=bus)
        await forward_event(voided, bus=bus)
        [(first, key), (second, _)] = bus.published
        assert isinstance(first.payload, ReopenOrder) and key == str(order_id)
        assert first.event_id == second.event_id and first.payload.requested_by == "packer-1"

    async def test_import_marks_travel_from_ingest_to_the_order(self, bus, make_details):
        received = OrderReceived(intake_id=uuid.uuid4(), channel_updated_at=NOW, order=make_details(channel="amazon"),
                                 lock_reason="Fulfilled by Amazon", shipped_on_channel=True)
        await forward_event(new_envelope(received, producer="ingest"), bus=bus)
        [place] = bus.payloads(PlaceOrder)
        assert place.lock_reason == "Fulfilled by Amazon" and place.shipped_on_channel
