"""Rules of the Order aggregate."""

import uuid
from datetime import UTC, datetime

import pytest

from oms_contracts.orders.v1 import (
    OrderCancelled,
    OrderLocked,
    OrderOpened,
    OrderParked,
    OrderProcessed,
    OrderProcessingStarted,
    OrderUnlocked,
    OrderUnparked,
)
from orders.domain import edits
from orders.domain.errors import OrderRefused
from orders.domain.model import Order, OrderStatus, ProcessingGuards, Shipment

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
def open_order(make_details):
    """Place an open order; keyword overrides change its details."""

    def place(**overrides) -> Order:
        order, _ = Order.place(
            order_id=uuid.uuid4(), details=make_details(**overrides), source="staff", placed_by="ops", now=NOW
        )
        return order

    return place


def allocate_all(order: Order) -> None:
    for sku, qty in order.quantities_by_sku().items():
        order.record_allocation(sku=sku, requested=qty, short=0, known_sku=True, now=NOW)


class TestPlacing:
    def test_a_new_order_is_open_and_announced(self, make_details):
        order, events = Order.place(
            order_id=uuid.uuid4(), details=make_details(), source="staff", placed_by="ops", now=NOW
        )
        assert order.status is OrderStatus.OPEN
        assert [type(e) for e in events] == [OrderOpened]
        assert events[0].order.details.order_number == "PH-1001"
        assert order.timeline[0].what == "opened"

    def test_receiving_it_again_changes_nothing_but_the_timeline(self, open_order):
        order = open_order()
        before = order.model_copy(deep=True)
        assert edits.update_from_channel(order, details=order.details, channel_updated_at=None,
                                         shipped_on_channel=False, by="channel:ebay", now=NOW) == []
        assert order.details == before.details and order.status is before.status
        assert order.timeline[-1].what == "received again"


class TestStockAllocation:
    def test_allocated_only_when_every_sku_is_allocated_in_full(self, open_order):
        order = open_order()
        order.record_allocation(sku="MUG-BLUE", requested=2, short=0, known_sku=True, now=NOW)
        assert not order.stock_allocated
        assert order.unallocated_skus() == ["TEE-L"]
        order.record_allocation(sku="TEE-L", requested=1, short=0, known_sku=True, now=NOW)
        assert order.stock_allocated

    def test_a_short_sku_means_out_of_stock(self, open_order):
        order = open_order()
        allocate_all(order)
        order.record_allocation(sku="TEE-L", requested=1, short=1, known_sku=True, now=NOW)
        assert not order.stock_allocated
        assert order.timeline[-1].what == "out of stock"

    def test_an_unknown_sku_is_flagged_as_unlinked(self, open_order):
        order = open_order()
        order.record_allocation(sku="TEE-L", requested=1, short=1, known_sku=False, now=NOW)
        assert order.timeline[-1].what == "unlinked item"


class TestProcessing:
    def test_an_open_paid_allocated_order_starts_processing(self, open_order):
        order = open_order()
        allocate_all(order)
        events = order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        assert [type(e) for e in events] == [OrderProcessingStarted]
        assert order.status is OrderStatus.PROCESSING

    def test_an_unpaid_order_is_refused_with_the_reason(self, open_order):
        order = open_order(paid=False)
        allocate_all(order)
        with pytest.raises(OrderRefused, match="not paid"):
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())

    def test_the_paid_guard_can_be_switched_off(self, open_order):
        order = open_order(paid=False)
        allocate_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards(require_paid=False))
        assert order.status is OrderStatus.PROCESSING

    def test_an_order_without_stock_is_refused_naming_the_skus(self, open_order):
        order = open_order()
        with pytest.raises(OrderRefused, match="MUG-BLUE, TEE-L"):
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())

    def test_an_order_cannot_be_processed_twice(self, open_order):
        order = open_order()
        allocate_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        with pytest.raises(OrderRefused, match="only an open order"):
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())


class TestShipmentConfirmation:
    def shipment(self) -> Shipment:
        return Shipment(shipment_id=uuid.uuid4(), carrier="OMS Post", tracking_number="OM123", shipped_at=NOW)

    def test_confirmation_makes_the_order_processed(self, open_order):
        order = open_order()
        allocate_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        events = order.confirm_shipment(shipment=self.shipment(), now=NOW)
        assert [type(e) for e in events] == [OrderProcessed]
        assert order.status is OrderStatus.PROCESSED
        assert order.shipment.tracking_number == "OM123"

    def test_a_second_confirmation_changes_nothing(self, open_order):
        order = open_order()
        allocate_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        order.confirm_shipment(shipment=self.shipment(), now=NOW)
        assert order.confirm_shipment(shipment=self.shipment(), now=NOW) == []

    def test_an_open_order_cannot_be_confirmed(self, open_order):
        with pytest.raises(OrderRefused):
            open_order().confirm_shipment(shipment=self.shipment(), now=NOW)


class TestParking:
    def test_a_parked_order_keeps_its_stock_and_says_why_in_the_timeline(self, open_order):
        order = open_order()
        allocate_all(order)
        [event] = order.park(reason="buyer asked to wait", by="ops", now=NOW)
        assert isinstance(event, OrderParked) and event.reason == "buyer asked to wait"
        assert order.parked and order.stock_allocated and order.hold_reason == "buyer asked to wait"
        assert (order.timeline[-1].what, order.timeline[-1].by, order.timeline[-1].detail) == (
            "parked", "ops", "buyer asked to wait")

    def test_a_parked_order_cannot_be_processed_until_unparked(self, open_order):
        order = open_order()
        allocate_all(order)
        order.park(reason="wait", by="ops", now=NOW)
        with pytest.raises(OrderRefused, match=r"order is parked \(wait\); unpark it first"):
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        [event] = order.unpark(reason="go", by="ops", now=NOW)
        assert isinstance(event, OrderUnparked) and not order.parked and order.hold_reason is None
        assert order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())

    def test_parking_twice_or_unparking_an_unparked_order_is_refused(self, open_order):
        order = open_order()
        with pytest.raises(OrderRefused, match="not parked"):
            order.unpark(reason="x", by="ops", now=NOW)
        order.park(reason="x", by="ops", now=NOW)
        with pytest.raises(OrderRefused, match="already parked"):
            order.park(reason="x", by="ops", now=NOW)

    def test_only_an_open_order_can_be_parked(self, open_order):
        order = open_order()
        allocate_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        with pytest.raises(OrderRefused, match="order is processing, only an open order can be parked"):
            order.park(reason="x", by="ops", now=NOW)


class TestLocking:
    def test_a_locked_order_releases_its_stock(self, open_order):
        order = open_order()
        allocate_all(order)
        [event] = order.lock(reason="fraud check", by="ops", now=NOW)
        assert isinstance(event, OrderLocked) and event.order.order_id == order.order_id
        assert order.locked and not order.stock_allocated
        assert order.timeline[-1].what == "locked" and "fraud check" in order.timeline[-1].detail

    def test_a_locked_order_cannot_be_processed(self, open_order):
        order = open_order()
        order.lock(reason="fraud check", by="ops", now=NOW)
        with pytest.raises(OrderRefused, match=r"order is locked \(fraud check\); unlock it first"):
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards(require_stock=False))

    def test_an_allocation_answer_reaching_a_locked_order_is_ignored(self, open_order):
        order = open_order()
        order.lock(reason="fraud check", by="ops", now=NOW)
        allocate_all(order)
        assert order.allocations == {} and order.timeline[-1].what == "allocation ignored"

    def test_unlocking_asks_for_stock_again_and_the_answers_count(self, open_order):
        order = open_order()
        order.lock(reason="fraud check", by="ops", now=NOW)
        [event] = order.unlock(reason="checked", by="ops", now=NOW)
        assert isinstance(event, OrderUnlocked) and not order.locked
        allocate_all(order)  # the answers to the opening's requests: released by the lock, so stale
        assert not order.stock_allocated and order.timeline[-1].what == "allocation ignored"
        allocate_all(order)  # the answers to the unlock's requests
        assert order.stock_allocated

    def test_locking_twice_or_unlocking_an_unlocked_order_is_refused(self, open_order):
        order = open_order()
        with pytest.raises(OrderRefused, match="not locked"):
            order.unlock(reason="x", by="ops", now=NOW)
        order.lock(reason="x", by="ops", now=NOW)
        with pytest.raises(OrderRefused, match="already locked"):
            order.lock(reason="x", by="ops", now=NOW)

    def test_a_parked_and_locked_order_keeps_the_other_hold_reason_when_one_is_lifted(self, open_order):
        order = open_order()
        order.park(reason="wait", by="ops", now=NOW)
        order.lock(reason="fraud", by="ops", now=NOW)
        order.unlock(reason="ok", by="ops", now=NOW)
        assert order.parked and order.hold_reason == "fraud"


class TestCancelling:
    def test_a_cancelled_order_is_terminal_and_releases_its_stock(self, open_order):
        order = open_order()
        allocate_all(order)
        [event] = order.cancel(reason="buyer cancelled", by="ops", now=NOW)
        assert isinstance(event, OrderCancelled) and event.stock_held and event.reason == "buyer cancelled"
        assert order.status is OrderStatus.CANCELLED and order.cancelled_at == NOW
        with pytest.raises(OrderRefused, match="order is cancelled, only an open order can be processed"):
            order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        with pytest.raises(OrderRefused, match="order is cancelled, only an open order can be cancelled"):
            order.cancel(reason="again", by="ops", now=NOW)

    def test_cancelling_a_locked_order_releases_nothing_twice(self, open_order):
        order = open_order()
        order.lock(reason="fraud", by="ops", now=NOW)
        [event] = order.cancel(reason="fraud confirmed", by="ops", now=NOW)
        assert not event.stock_held

    def test_a_parked_order_may_be_cancelled(self, open_order):
        order = open_order()
        order.park(reason="wait", by="ops", now=NOW)
        [event] = order.cancel(reason="never mind", by="ops", now=NOW)
        assert event.stock_held and order.status is OrderStatus.CANCELLED

    def test_an_order_in_processing_cannot_be_cancelled(self, open_order):
        order = open_order()
        allocate_all(order)
        order.start_processing(by="ops", now=NOW, guards=ProcessingGuards())
        with pytest.raises(OrderRefused, match="order is processing, only an open order can be cancelled"):
            order.cancel(reason="too late", by="ops", now=NOW)
