"""Split, merge, resend and return routes, through an in-process ASGI client wired to the orders worker."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from oms_contracts import new_envelope
from oms_contracts.orders.v1 import ConfirmShipment, ParkOrder, ProcessOrder, RecordStockAllocation
from oms_platform.auth import ApiKeys
from orders.entrypoints.api import orders_router

OPS_KEY = "ops-key-0123456789abcdef"


@pytest.fixture
def client(repo, linked_bus):
    app = FastAPI()
    app.include_router(orders_router(repo=repo, bus=linked_bus, keys=ApiKeys(f"ops:{OPS_KEY}"), command_timeout=1.0))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def headers(key: str | None = None) -> dict:
    return {"Authorization": f"Bearer {OPS_KEY}", **({"Idempotency-Key": key} if key else {})}


def phone_order() -> dict:
    return {
        "buyer": {"name": "Grace Hopper", "email": "grace@example.org"},
        "shipping_address": {"name": "Grace Hopper", "line1": "1 Navy Way", "city": "Arlington",
                             "postcode": "22202", "country": "US"},
        "lines": [{"line_id": "1", "sku": "MUG-BLUE", "title": "Blue mug", "quantity": 2, "unit_price": "7.50"},
                  {"line_id": "2", "sku": "TEE-L", "title": "T-shirt", "quantity": 1, "unit_price": "15.00"}],
        "shipping": {"service": "Standard", "cost": "3.95"},
        "currency": "USD",
        "paid": True,
    }


@pytest.fixture
def open_order(client, linked_bus):
    async def create() -> str:
        answer = await client.post("/orders", json=phone_order(), headers=headers())
        order_id = answer.json()["order_id"]
        for sku, qty in (("MUG-BLUE", 2), ("TEE-L", 1)):
            command = RecordStockAllocation(order_id=order_id, sku=sku, requested=qty, short=0)
            await linked_bus.publish(new_envelope(command, producer="test"), key=order_id)
        return order_id

    return create


@pytest.fixture
def processed_order(open_order, linked_bus):
    async def create() -> str:
        order_id = await open_order()
        for command in (ProcessOrder(order_id=order_id, requested_by="ops"),
                        ConfirmShipment(order_id=order_id, shipment_id=uuid.uuid4(), carrier="OMS Post",
                                        tracking_number="OM1", shipped_at=datetime.now(UTC))):
            await linked_bus.publish(new_envelope(command, producer="test"), key=order_id)
        return order_id

    return create


class TestSplitRoute:
    async def test_answers_201_with_the_new_linked_order(self, client, open_order):
        order_id = await open_order()
        answer = await client.post(f"/orders/{order_id}/split", headers=headers("s-1"),
                                   json={"lines": [{"line_id": "2", "quantity": 1}], "reason": "in stock first"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["links"] == [{"kind": "split_from", "order_id": order_id}]
        assert answer.json()["stock_allocated"] is True
        replay = await client.post(f"/orders/{order_id}/split", headers=headers("s-1"),
                                   json={"lines": [{"line_id": "2", "quantity": 1}], "reason": "in stock first"})
        assert replay.status_code == 201 and replay.json()["order_id"] == answer.json()["order_id"]

    async def test_moving_every_line_is_409(self, client, open_order):
        order_id = await open_order()
        answer = await client.post(f"/orders/{order_id}/split", headers=headers(), json={
            "lines": [{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}], "reason": "x"})
        assert answer.status_code == 409 and "at least one line" in answer.json()["detail"]

    async def test_unknown_order_is_404_and_bad_body_is_422(self, client):
        answer = await client.post(f"/orders/{uuid.uuid4()}/split", headers=headers(),
                                   json={"lines": [{"line_id": "1", "quantity": 1}], "reason": "x"})
        assert answer.status_code == 404
        answer = await client.post(f"/orders/{uuid.uuid4()}/split", headers=headers(),
                                   json={"lines": [{"line_id": "1", "quantity": 0}], "reason": "x"})
        assert answer.status_code == 422 and "quantity" in answer.text


class TestMergeRoute:
    async def test_two_matching_orders_merge_into_one(self, client, open_order):
        first, second = await open_order(), await open_order()
        answer = await client.post("/orders/merge", headers=headers("m-1"), json={"order_ids": [first, second]})
        assert answer.status_code == 201, answer.text
        assert {link["order_id"] for link in answer.json()["links"]} == {first, second}
        assert (await client.get(f"/orders/{first}", headers=headers())).json()["status"] == "merged"
        replay = await client.post("/orders/merge", headers=headers("m-1"), json={"order_ids": [first, second]})
        assert replay.status_code == 201 and replay.json()["order_id"] == answer.json()["order_id"]

    async def test_a_parked_order_is_409_naming_it(self, client, open_order, linked_bus):
        first, second = await open_order(), await open_order()
        park = ParkOrder(order_id=second, reason="check", requested_by="ops")
        await linked_bus.publish(new_envelope(park, producer="test"), key=second)
        answer = await client.post("/orders/merge", headers=headers(), json={"order_ids": [first, second]})
        number = (await client.get(f"/orders/{second}", headers=headers())).json()["order_number"]
        assert answer.status_code == 409 and answer.json()["detail"] == f"order {number} is parked"
        assert (await client.get(f"/orders/{first}", headers=headers())).json()["status"] == "open"

    async def test_one_order_or_a_repeat_is_422(self, client, open_order):
        first = await open_order()
        assert (await client.post("/orders/merge", headers=headers(), json={"order_ids": [first]})).status_code == 422
        answer = await client.post("/orders/merge", headers=headers(), json={"order_ids": [first, first]})
        assert answer.status_code == 422


class TestResendRoute:
    async def test_answers_201_with_a_zero_value_linked_open_order(self, client, processed_order):
        order_id = await processed_order()
        answer = await client.post(f"/orders/{order_id}/resend", headers=headers(),
                                   json={"lines": [{"line_id": "1", "quantity": 1}], "reason": "lost"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "open" and float(answer.json()["total"]) == 0
        assert answer.json()["links"] == [{"kind": "resend_of", "order_id": order_id}]

    async def test_an_open_order_is_409(self, client, open_order):
        order_id = await open_order()
        answer = await client.post(f"/orders/{order_id}/resend", headers=headers(),
                                   json={"lines": [{"line_id": "1", "quantity": 1}], "reason": "lost"})
        assert answer.status_code == 409


class TestReturnRoutes:
    async def test_book_then_receive(self, client, processed_order):
        order_id = await processed_order()
        booked = await client.post(f"/orders/{order_id}/returns", headers=headers("r-1"), json={
            "lines": [{"line_id": "1", "quantity": 1, "action": "restock"}], "reason_category": "damaged",
            "refund": "7.50"})
        assert booked.status_code == 201, booked.text
        rma_id = booked.json()["rma_id"]
        assert booked.json()["received"] is False
        received = await client.post(f"/orders/{order_id}/returns/{rma_id}/receive", headers=headers())
        assert received.status_code == 200 and received.json()["received"] is True
        again = await client.post(f"/orders/{order_id}/returns/{rma_id}/receive", headers=headers())
        assert again.status_code == 409

    async def test_returning_more_than_shipped_is_409_and_a_bad_action_is_422(self, client, processed_order):
        order_id = await processed_order()
        answer = await client.post(f"/orders/{order_id}/returns", headers=headers(), json={
            "lines": [{"line_id": "1", "quantity": 3, "action": "restock"}], "reason_category": "damaged",
            "refund": "0"})
        assert answer.status_code == 409 and "more than was shipped" in answer.json()["detail"]
        answer = await client.post(f"/orders/{order_id}/returns", headers=headers(), json={
            "lines": [{"line_id": "1", "quantity": 1, "action": "burn"}], "reason_category": "damaged",
            "refund": "0"})
        assert answer.status_code == 422 and "action" in answer.text

    async def test_an_unknown_rma_is_404(self, client, processed_order):
        order_id = await processed_order()
        answer = await client.post(f"/orders/{order_id}/returns/{uuid.uuid4()}/receive", headers=headers())
        assert answer.status_code == 404
