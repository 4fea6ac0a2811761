"""The orders command handler: exactly-once effects over at-least-once delivery."""

import uuid
from datetime import UTC, datetime

import pytest

from oms_contracts import derived_id, new_envelope
from oms_contracts.fulfilment.v1 import ShipmentConfirmed
from oms_contracts.ingest.v1 import OrderReceived
from oms_contracts.inventory.v1 import StockAllocated, StockLevelChanged
from oms_contracts.orders.v1 import (
    CancelOrder,
    CommandRejected,
    LockOrder,
    OrderCancelled,
    OrderLocked,
    OrderUnlocked,
    ParkOrder,
    UnlockOrder,
    UnparkOrder,
    ConfirmShipment,
    OrderOpened,
    OrderProcessed,
    OrderProcessingStarted,
    PlaceOrder,
    ProcessOrder,
    RecordStockAllocation,
    order_id_for,
)
from oms_platform.messaging import PermanentError
from orders.domain.model import ProcessingGuards
from orders.service_layer.handlers import forward_event, handle_command


def command(payload):
    return new_envelope(payload, producer="test")


@pytest.fixture
def handle(repo, bus, clock):
    async def run(envelope, guards=ProcessingGuards()):
        await handle_command(envelope, repo=repo, bus=bus, guards=guards, clock=clock)

    return run


async def place(handle, details):
    order_id = order_id_for(details.channel, details.channel_order_id)
    await handle(command(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="ops")))
    return order_id


async def allocate(handle, order_id, skus=(("MUG-BLUE", 2), ("TEE-L", 1))):
    for sku, qty in skus:
        await handle(command(RecordStockAllocation(order_id=order_id, sku=sku, requested=qty, short=0)))


class TestPlaceOrder:
    async def test_places_an_open_order_and_publishes_it_keyed_by_order_id(self, handle, repo, bus, make_details):
        order_id = await place(handle, make_details())
        assert repo.docs[str(order_id)]["status"] == "open"
        [(envelope, key)] = bus.published
        assert isinstance(envelope.payload, OrderOpened) and key == str(order_id)

    async def test_same_command_twice_changes_nothing_and_republishes_the_same_event(self, handle, repo, bus, make_details):
        details = make_details()
        order_id = order_id_for(details.channel, details.channel_order_id)
        envelope = command(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="ops"))
        await handle(envelope)
        stored = repo.docs[str(order_id)]
        await handle(envelope)
        assert repo.docs[str(order_id)] == stored
        assert bus.event_ids()[0] == bus.event_ids()[1]

    async def test_the_same_order_placed_again_by_a_new_command_is_still_one_order(self, handle, repo, bus, make_details):
        details = make_details()
        await place(handle, details)
        await place(handle, details)
        assert len(repo.docs) == 1
        assert len(bus.payloads(OrderOpened)) == 1
        order = next(iter(repo.docs.values()))["order"]
        assert order["timeline"][-1]["what"] == "received again"


class TestProcessOrder:
    async def test_processing_an_allocated_order_hands_it_to_fulfilment(self, handle, repo, bus, make_details):
        order_id = await place(handle, make_details())
        await allocate(handle, order_id)
        await handle(command(ProcessOrder(order_id=order_id, requested_by="ops")))
        assert repo.docs[str(order_id)]["status"] == "processing"
        assert len(bus.payloads(OrderProcessingStarted)) == 1

    async def test_a_refused_process_is_published_with_its_reason_and_recorded(self, handle, repo, bus, make_details):
        order_id = await place(handle, make_details())
        await handle(command(ProcessOrder(order_id=order_id, requested_by="ops")))
        [rejected] = bus.payloads(CommandRejected)
        assert "stock is not allocated" in rejected.reason
        assert repo.docs[str(order_id)]["status"] == "open"
        assert repo.docs[str(order_id)]["order"]["timeline"][-1]["what"] == "orders.process_order refused"

    async def test_processing_an_unknown_order_is_a_permanent_error(self, handle):
        with pytest.raises(PermanentError):
            await handle(command(ProcessOrder(order_id=uuid.uuid4(), requested_by="ops")))


class TestHoldAndCancel:
    async def test_each_hold_command_is_applied_stored_and_published_keyed_by_order_id(
        self, handle, repo, bus, make_details
    ):
        order_id = await place(handle, make_details())
        for command_type in (ParkOrder, UnparkOrder, LockOrder, UnlockOrder, CancelOrder):
            await handle(command(command_type(order_id=order_id, reason=f"why {command_type.TYPE}",
                                              requested_by="ops")))
        doc = repo.docs[str(order_id)]
        assert doc["status"] == "cancelled"
        assert [e["what"] for e in doc["order"]["timeline"]] == [
            "opened", "parked", "unparked", "locked", "unlocked", "cancelled"]
        assert all(e["by"] == "ops" for e in doc["order"]["timeline"][1:])
        assert [type(p).__name__ for p in bus.payloads()][1:] == [
            "OrderParked", "OrderUnparked", "OrderLocked", "OrderUnlocked", "OrderCancelled"]
        assert {key for _, key in bus.published} == {str(order_id)}

    async def test_same_cancel_twice_changes_nothing_and_republishes_the_same_event(
        self, handle, repo, bus, make_details
    ):
        order_id = await place(handle, make_details())
        cancel = command(CancelOrder(order_id=order_id, reason="buyer", requested_by="ops"))
        await handle(cancel)
        stored = repo.docs[str(order_id)]
        await handle(cancel)
        assert repo.docs[str(order_id)] == stored
        assert len(bus.payloads(OrderCancelled)) == 2 and bus.event_ids()[-1] == bus.event_ids()[-2]
        assert bus.payloads(CommandRejected) == []

    async def test_a_refused_hold_is_published_with_its_reason_and_recorded(self, handle, repo, bus, make_details):
        order_id = await place(handle, make_details())
        await handle(command(UnlockOrder(order_id=order_id, reason="x", requested_by="ops")))
        [rejected] = bus.payloads(CommandRejected)
        assert rejected.reason == "order is not locked" and rejected.command_type == "orders.unlock_order"
        assert repo.docs[str(order_id)]["order"]["timeline"][-1]["what"] == "orders.unlock_order refused"

    async def test_process_racing_cancel_the_first_wins_and_the_second_is_rejected(
        self, handle, repo, bus, make_details
    ):
        order_id = await place(handle, make_details())
        await allocate(handle, order_id)
        await handle(command(CancelOrder(order_id=order_id, reason="buyer", requested_by="ops")))
        await handle(command(ProcessOrder(order_id=order_id, requested_by="ops")))
        assert repo.docs[str(order_id)]["status"] == "cancelled"
        assert bus.payloads(OrderProcessingStarted) == []
        [rejected] = bus.payloads(CommandRejected)
        assert "order is cancelled" in rejected.reason

    async def test_locked_and_unlocked_events_carry_the_order_for_inventory(self, handle, bus, make_details):
        order_id = await place(handle, make_details())
        await handle(command(LockOrder(order_id=order_id, reason="fraud", requested_by="ops")))
        await handle(command(UnlockOrder(order_id=order_id, reason="ok", requested_by="ops")))
        [locked] = bus.payloads(OrderLocked)
        [unlocked] = bus.payloads(OrderUnlocked)
        assert locked.order.order_id == unlocked.order.order_id == order_id
        assert [line.sku for line in unlocked.order.details.lines] == ["MUG-BLUE", "TEE-L"]

    async def test_parking_an_unknown_order_is_a_permanent_error(self, handle):
        with pytest.raises(PermanentError):
            await handle(command(ParkOrder(order_id=uuid.uuid4(), reason="x", requested_by="ops")))


class TestConfirmShipment:
    async def test_confirmation_makes_it_processed_once(self, handle, repo, bus, make_details):
        order_id = await place(handle, make_details())
        await allocate(handle, order_id)
        await handle(command(ProcessOrder(order_id=order_id, requested_by="ops")))
        confirm = ConfirmShipment(
            order_id=order_id, shipment_id=uuid.uuid4(), carrier="OMS Post", tracking_number="OM1",
            shipped_at=datetime(2026, 11, 28, tzinfo=UTC),
        )
        await handle(command(confirm))
        await handle(command(confirm))  # a new delivery of the same fact
        assert repo.docs[str(order_id)]["status"] == "processed"
        [processed] = bus.payloads(OrderProcessed)
        assert processed.tracking_number == "OM1"


class TestForwarding:
    async def test_a_channel_order_becomes_a_place_order_for_its_derived_id(self, bus, make_details):
        details = make_details(channel="demo_shop", channel_order_id="1001")
        event = new_envelope(
            OrderReceived(intake_id=uuid.uuid4(), channel_updated_at=datetime.now(UTC), order=details),
            producer="ingest",
        )
        await forward_event(event, bus=bus)
        await forward_event(event, bus=bus)
        [(first, key), (second, _)] = bus.published
        assert isinstance(first.payload, PlaceOrder)
        assert first.payload.order_id == order_id_for("demo_shop", "1001") and key == str(first.payload.order_id)
        assert first.event_id == second.event_id == derived_id(event.event_id, "orders-forward")
        assert first.causation_id == event.event_id and first.correlation_id == event.correlation_id

    async def test_stock_and_shipment_events_become_commands(self, bus):
        order_id = uuid.uuid4()
        await forward_event(
            new_envelope(StockAllocated(order_id=order_id, sku="A", requested=1, short=0), producer="inventory"),
            bus=bus,
        )
        await forward_event(
            new_envelope(
                ShipmentConfirmed(order_id=order_id, shipment_id=uuid.uuid4(), carrier="c", tracking_number="t",
                                  shipped_at=datetime.now(UTC)),
                producer="fulfilment",
            ),
            bus=bus,
        )
        assert [type(p) for p in bus.payloads()] == [RecordStockAllocation, ConfirmShipment]

    async def test_events_orders_does_not_need_are_ignored(self, bus):
        level = StockLevelChanged(sku="A", location="default", on_hand=1, allocated=0, available=1, reason="x")
        await forward_event(new_envelope(level, producer="inventory"), bus=bus)
        assert bus.published == []
