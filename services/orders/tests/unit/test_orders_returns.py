"""Returns (RMAs) on processed orders: booked now, actioned on receipt, never more than was shipped."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from oms_contracts import new_envelope
from oms_contracts.orders.v1 import (
    BookReturn,
    CommandRejected,
    ConfirmShipment,
    PlaceOrder,
    ProcessOrder,
    ReceiveReturn,
    RecordStockAllocation,
    ReturnBooked,
    ReturnLine,
    ReturnReceived,
    order_id_for,
)
from orders.domain.model import Order, OrderStatus


@pytest.fixture
def send(worker_bus):
    async def run(payload, envelope=None):
        envelope = envelope or new_envelope(payload, producer="test")
        await worker_bus.publish(envelope, key=str(payload.order_id))
        return envelope

    return run


@pytest.fixture
def processed_order(send, make_details):
    """A processed order of MUG-BLUE×2 (line 1) and TEE-L×1 (line 2)."""

    async def run(process: bool = True):
        details = make_details()
        order_id = order_id_for(details.channel, details.channel_order_id)
        await send(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="ops"))
        for line in details.lines:
            await send(RecordStockAllocation(order_id=order_id, sku=line.sku, requested=line.quantity, short=0))
        if process:
            await send(ProcessOrder(order_id=order_id, requested_by="ops"))
            await send(ConfirmShipment(order_id=order_id, shipment_id=uuid.uuid4(), carrier="OMS Post",
                                       tracking_number="OM1", shipped_at=datetime.now(UTC)))
        return order_id

    return run


def rma(order_id, *lines, refund="7.50"):
    return BookReturn(order_id=order_id, rma_id=uuid.uuid4(), reason_category="damaged", refund=Decimal(refund),
                      requested_by="ops", lines=[ReturnLine(line_id=i, quantity=q, action=a) for i, q, a in lines])


async def order_of(repo, order_id) -> Order:
    return Order.model_validate((await repo.get(order_id))["order"])


class TestBookReturn:
    async def test_books_an_rma_and_leaves_the_order_processed(self, send, processed_order, repo, worker_bus):
        order_id = await processed_order()
        await send(rma(order_id, ("1", 1, "restock"), ("2", 1, "scrap")))
        order = await order_of(repo, order_id)
        assert order.status is OrderStatus.PROCESSED and len(order.returns) == 1
        assert order.returns[0].received_at is None and order.timeline[-1].what == "return booked"
        [booked] = worker_bus.payloads(ReturnBooked)
        assert booked.reason_category == "damaged" and booked.refund == Decimal("7.50")

    async def test_returning_more_than_was_shipped_is_refused(self, send, processed_order, repo, worker_bus):
        order_id = await processed_order()
        await send(rma(order_id, ("1", 1, "restock")))
        await send(rma(order_id, ("1", 2, "restock")))
        [rejected] = worker_bus.payloads(CommandRejected)
        assert "more than was shipped (2 shipped, 1 already returned)" in rejected.reason
        assert len((await order_of(repo, order_id)).returns) == 1

    async def test_an_open_order_cannot_be_returned(self, send, processed_order, worker_bus):
        order_id = await processed_order(process=False)
        await send(rma(order_id, ("1", 1, "restock")))
        assert "only a processed order can be returned" in worker_bus.payloads(CommandRejected)[0].reason

    async def test_a_refund_above_the_order_total_is_refused(self, send, processed_order, worker_bus):
        order_id = await processed_order()
        await send(rma(order_id, ("1", 1, "restock"), refund="1000"))
        assert "more than the order total" in worker_bus.payloads(CommandRejected)[0].reason

    async def test_the_same_booking_delivered_twice_books_once(self, send, processed_order, repo, worker_bus):
        order_id = await processed_order()
        command = rma(order_id, ("1", 1, "restock"))
        envelope = await send(command)
        await send(command, envelope)
        assert len((await order_of(repo, order_id)).returns) == 1
        assert len(worker_bus.payloads(ReturnBooked)) == 2  # the replay re-publishes the recorded event
        assert len({e.event_id for e, _ in worker_bus.published if isinstance(e.payload, ReturnBooked)}) == 1


class TestReceiveReturn:
    async def test_tells_inventory_which_lines_to_restock_and_which_to_scrap(self, send, processed_order, repo,
                                                                            worker_bus):
        order_id = await processed_order()
        booking = rma(order_id, ("1", 2, "restock"), ("2", 1, "scrap"))
        await send(booking)
        await send(ReceiveReturn(order_id=order_id, rma_id=booking.rma_id, requested_by="ops"))
        [received] = worker_bus.payloads(ReturnReceived)
        assert [(l.sku, l.quantity, l.action) for l in received.lines] == [
            ("MUG-BLUE", 2, "restock"), ("TEE-L", 1, "scrap")]
        assert (await order_of(repo, order_id)).returns[0].received_at is not None

    async def test_receiving_twice_is_refused_and_restocks_once(self, send, processed_order, worker_bus):
        order_id = await processed_order()
        booking = rma(order_id, ("1", 1, "restock"))
        await send(booking)
        for _ in range(2):
            await send(ReceiveReturn(order_id=order_id, rma_id=booking.rma_id, requested_by="ops"))
        assert len(worker_bus.payloads(ReturnReceived)) == 1
        assert "already received" in worker_bus.payloads(CommandRejected)[0].reason

    async def test_an_unknown_rma_is_refused(self, send, processed_order, worker_bus):
        order_id = await processed_order()
        await send(ReceiveReturn(order_id=order_id, rma_id=uuid.uuid4(), requested_by="ops"))
        assert "no RMA" in worker_bus.payloads(CommandRejected)[0].reason
