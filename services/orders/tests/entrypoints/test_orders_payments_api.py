"""The payments routes over HTTP, with the orders worker in-process: staff record payments on orders, list the
unmatched ones and match them by hand."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts import Envelope, new_envelope, topics
from oms_contracts.common import PaymentDetails
from oms_contracts.orders.v1 import FilePayment, PlaceOrder, order_id_for, payment_id_for
from oms_platform.auth import ApiKeys
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details
from orders.domain.model import ProcessingGuards
from orders.entrypoints.payments_api import payments_router
from orders.service_layer import payments
from orders.service_layer.handlers import handle_command

OPS = {"Authorization": "Bearer ops-key-0123456789abcdef"}


class Payments(InMemoryDocuments):
    """Payment documents in memory, with the list the API shows."""

    async def list(self, *, states, limit):
        docs = [d for d in self.docs.values() if not states or d["state"] in states]
        return sorted(docs, key=lambda d: d["filed_at"], reverse=True)[:limit]


class Lookup:
    """Order lookups for matching: nothing matches by rule here, staff match by hand."""

    def __init__(self, orders: InMemoryDocuments) -> None:
        self.orders = orders

    async def by_reference(self, references):
        return []

    async def by_transaction(self, provider, transaction_id):
        return []

    async def by_email(self, email):
        return []

    async def get(self, order_id):
        return await self.orders.get(order_id)


class Worker(RecordingBus):
    """Orders and payment commands handled at once, as the orders worker would."""

    def __init__(self) -> None:
        super().__init__("orders")
        self.orders, self.payments, self.clock = InMemoryDocuments(), Payments(), SteppingClock()

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        if envelope.payload.TOPIC != topics.ORDERS_COMMANDS:
            return
        if payments.is_payment_command(envelope.payload):
            await payments.handle_payment_command(envelope, payments=self.payments, orders=Lookup(self.orders),
                                                  bus=self, clock=self.clock)
        else:
            await handle_command(envelope, repo=self.orders, bus=self, guards=ProcessingGuards(), clock=self.clock)


@pytest.fixture
def worker() -> Worker:
    return Worker()


@pytest.fixture
def client(worker):
    app = FastAPI()
    app.include_router(payments_router(repo=worker.orders, payments=worker.payments, bus=worker,
                                       keys=ApiKeys("ops:ops-key-0123456789abcdef"), command_timeout=1))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def unpaid_order(worker: Worker) -> uuid.UUID:
    details = sample_order_details(paid=False)
    order_id = order_id_for(details.channel, details.channel_order_id)
    await worker.publish(new_envelope(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="t"),
                                      producer="test"), key=str(order_id))
    return order_id


async def unmatched_payment(worker: Worker) -> uuid.UUID:
    paid = PaymentDetails(transaction_id="LOST-1", kind="payment", status="Completed", currency="GBP",
                          gross=Decimal("33.95"), fee=Decimal("-1"), net=Decimal("32.95"), source="activity_csv",
                          paid_at=datetime(2026, 11, 28, tzinfo=UTC))
    payment_id = payment_id_for("paypal", "LOST-1")
    await worker.publish(new_envelope(FilePayment(payment_id=payment_id, payment=paid), producer="test"),
                         key=str(payment_id))
    return payment_id


class TestRecordingAPayment:
    async def test_staff_record_a_bank_transfer_and_the_order_is_paid(self, client, worker):
        order_id = await unpaid_order(worker)
        response = await client.post(f"/orders/{order_id}/payments", headers=OPS, json={
            "transaction_id": "BACS-7", "amount": "33.95", "method": "bank_transfer"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["paid"], body["paid_total"], body["total"]) == (True, "33.95", "33.95")
        assert body["payments"][0]["payment"]["provider"] == "bank_transfer"

    async def test_a_refund_is_recorded_as_money_going_back(self, client, worker):
        order_id = await unpaid_order(worker)
        response = await client.post(f"/orders/{order_id}/payments", headers=OPS, json={
            "transaction_id": "R-1", "amount": "5.00", "kind": "refund"})
        assert response.json()["refunded_total"] == "5.00"

    async def test_an_unknown_order_is_404_and_unknown_fields_are_422(self, client, worker):
        missing = await client.post(f"/orders/{uuid.uuid4()}/payments", headers=OPS,
                                    json={"transaction_id": "X", "amount": "1.00"})
        assert missing.status_code == 404
        order_id = await unpaid_order(worker)
        extra = await client.post(f"/orders/{order_id}/payments", headers=OPS,
                                  json={"transaction_id": "X", "amount": "1.00", "paid": True})
        assert extra.status_code == 422

    async def test_without_a_key_it_is_refused(self, client, worker):
        order_id = await unpaid_order(worker)
        response = await client.post(f"/orders/{order_id}/payments", json={"transaction_id": "X", "amount": "1"})
        assert response.status_code == 401


class TestUnmatchedPayments:
    async def test_unmatched_payments_are_listed_and_staff_match_one_to_an_order(self, client, worker):
        payment_id = await unmatched_payment(worker)
        listed = (await client.get("/payments/unmatched", headers=OPS)).json()
        assert [p["payment_id"] for p in listed] == [str(payment_id)]
        order_id = await unpaid_order(worker)
        matched = await client.post(f"/payments/{payment_id}/match", headers=OPS, json={"order_id": str(order_id)})
        assert matched.status_code == 200, matched.text
        assert (matched.json()["state"], matched.json()["matched_by"]) == ("matched", "staff")
        assert (await client.get(f"/orders/{order_id}/payments", headers=OPS)).json()["paid"]
        assert (await client.get("/payments/unmatched", headers=OPS)).json() == []

    async def test_matching_twice_is_409_with_the_reason(self, client, worker):
        payment_id = await unmatched_payment(worker)
        order_id = await unpaid_order(worker)
        await client.post(f"/payments/{payment_id}/match", headers=OPS, json={"order_id": str(order_id)})
        again = await client.post(f"/payments/{payment_id}/match", headers=OPS, json={"order_id": str(order_id)})
        assert again.status_code == 409
        assert again.json()["detail"] == f"payment is matched to order {order_id}"

    async def test_an_unknown_payment_or_order_is_404(self, client, worker):
        payment_id = await unmatched_payment(worker)
        assert (await client.post(f"/payments/{uuid.uuid4()}/match", headers=OPS,
                                  json={"order_id": str(uuid.uuid4())})).status_code == 404
        assert (await client.post(f"/payments/{payment_id}/match", headers=OPS,
                                  json={"order_id": str(uuid.uuid4())})).status_code == 404
