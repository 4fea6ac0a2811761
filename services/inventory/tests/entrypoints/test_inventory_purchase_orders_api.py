"""The purchase-order HTTP API (create, read, receive deliveries), through an in-process ASGI client."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts.inventory.v1 import CreatePurchaseOrder, ReceivePurchaseOrder
from oms_platform.auth import ApiKeys
from inventory.entrypoints.api import purchase_orders_router

OPS_KEY = "ops-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {OPS_KEY}"}
ORDER = {"supplier": "Potteries Ltd", "expected_on": "2026-12-05",
         "lines": [{"sku": "MUG", "quantity": 10}, {"sku": "TEE", "quantity": 4}]}


@pytest.fixture
def bus(worker_bus):
    return worker_bus


@pytest.fixture
def client(repo, bus):
    app = FastAPI()
    app.include_router(purchase_orders_router(repo=repo, bus=bus, keys=ApiKeys(f"ops:{OPS_KEY}"), command_timeout=0.2))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class TestCreatePurchaseOrder:
    async def test_an_order_is_created_open_through_a_command_keyed_by_its_id(self, client, bus):
        response = await client.post("/purchase-orders", json=ORDER, headers=HEADERS)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["status"], body["supplier"], body["expected_on"]) == ("open", "Potteries Ltd", "2026-12-05")
        assert [(li["sku"], li["outstanding"]) for li in body["lines"]] == [("MUG", 10), ("TEE", 4)]
        envelope, key = bus.published[0]
        assert isinstance(envelope.payload, CreatePurchaseOrder) and key == body["po_id"]

    async def test_the_same_idempotency_key_gets_the_same_order(self, client, bus):
        headers = {**HEADERS, "Idempotency-Key": "po-1"}
        first = await client.post("/purchase-orders", json=ORDER, headers=headers)
        second = await client.post("/purchase-orders", json=ORDER, headers=headers)
        assert first.json()["po_id"] == second.json()["po_id"] and second.status_code == 201
        assert len(bus.payloads(CreatePurchaseOrder)) == 1

    @pytest.mark.parametrize(("body", "loc"), [
        ({**ORDER, "lines": []}, ["body", "lines"]), ({**ORDER, "colour": 1}, ["body", "colour"]),
        ({**ORDER, "lines": [{"sku": "MUG", "quantity": 0}]}, ["body", "lines", 0, "quantity"]),
    ])
    async def test_a_bad_body_gets_422_naming_the_field(self, client, bus, body, loc):
        response = await client.post("/purchase-orders", json=body, headers=HEADERS)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc
        assert bus.published == []

    async def test_an_unknown_order_is_404(self, client):
        assert (await client.get(f"/purchase-orders/{uuid.uuid4()}", headers=HEADERS)).status_code == 404


class TestReceiveDelivery:
    async def test_partial_then_full_deliveries_move_the_status_and_raise_stock(self, client, repo):
        po_id = (await client.post("/purchase-orders", json=ORDER, headers=HEADERS)).json()["po_id"]
        partial = await client.post(f"/purchase-orders/{po_id}/deliveries",
                                    json={"lines": [{"sku": "MUG", "quantity": 4}]}, headers=HEADERS)
        assert partial.status_code == 200 and partial.json()["status"] == "partially_delivered"
        assert repo.stock["MUG"]["on_hand"] == 4
        rest = await client.post(f"/purchase-orders/{po_id}/deliveries",
                                 json={"lines": [{"sku": "MUG", "quantity": 6}, {"sku": "TEE", "quantity": 4}]},
                                 headers=HEADERS)
        assert rest.status_code == 200 and rest.json()["status"] == "delivered"
        assert (repo.stock["MUG"]["on_hand"], repo.stock["TEE"]["on_hand"]) == (10, 4)

    async def test_over_delivery_is_409_with_a_clear_reason_and_nothing_is_received(self, client, bus, repo):
        po_id = (await client.post("/purchase-orders", json=ORDER, headers=HEADERS)).json()["po_id"]
        response = await client.post(f"/purchase-orders/{po_id}/deliveries",
                                     json={"lines": [{"sku": "MUG", "quantity": 11}]}, headers=HEADERS)
        assert response.status_code == 409
        assert response.json()["detail"] == ("MUG: receiving 11 would exceed the 10 ordered"
                                             " (0 already received, 10 outstanding)")
        assert bus.payloads(ReceivePurchaseOrder) == []
        assert (repo.stock["MUG"]["on_hand"], repo.stock["MUG"]["due"]) == (0, 10)

    async def test_a_delivery_for_an_unknown_order_is_404(self, client, bus):
        response = await client.post(f"/purchase-orders/{uuid.uuid4()}/deliveries",
                                     json={"lines": [{"sku": "MUG", "quantity": 1}]}, headers=HEADERS)
        assert response.status_code == 404 and bus.published == []

    async def test_a_slow_worker_gets_202_with_the_command_id(self, client, bus):
        po_id = (await client.post("/purchase-orders", json=ORDER, headers=HEADERS)).json()["po_id"]
        bus.running = False
        response = await client.post(f"/purchase-orders/{po_id}/deliveries",
                                     json={"lines": [{"sku": "MUG", "quantity": 1}]}, headers=HEADERS)
        assert response.status_code == 202 and response.json()["status_url"] == f"/purchase-orders/{po_id}"


class TestPurchaseOrderStates:
    async def test_a_pending_order_opens_and_then_takes_deliveries(self, client, repo):
        created = await client.post("/purchase-orders", json={**ORDER, "status": "pending"}, headers=HEADERS)
        assert created.status_code == 201 and created.json()["status"] == "pending"
        po_id = created.json()["po_id"]
        early = await client.post(f"/purchase-orders/{po_id}/deliveries",
                                  json={"lines": [{"sku": "MUG", "quantity": 1}]}, headers=HEADERS)
        assert early.status_code == 409 and "open it first" in early.json()["detail"]
        opened = await client.post(f"/purchase-orders/{po_id}/open", headers=HEADERS)
        assert opened.status_code == 200 and opened.json()["status"] == "open"
        again = await client.post(f"/purchase-orders/{po_id}/open", headers=HEADERS)
        assert again.status_code == 409 and again.json()["detail"].endswith("only a pending order opens")

    async def test_cancel_gives_the_reason_back_and_a_second_cancel_is_409(self, client, repo):
        po_id = (await client.post("/purchase-orders", json=ORDER, headers=HEADERS)).json()["po_id"]
        assert await repo.purchase_orders.due("MUG") == 10
        cancelled = await client.post(f"/purchase-orders/{po_id}/cancel", json={"reason": "supplier closed"},
                                      headers=HEADERS)
        assert cancelled.status_code == 200
        assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == ("cancelled", "supplier closed")
        assert await repo.purchase_orders.due("MUG") == 0
        again = await client.post(f"/purchase-orders/{po_id}/cancel", json={"reason": "x"}, headers=HEADERS)
        assert again.status_code == 409 and again.json()["detail"] == f"purchase order {po_id} is already cancelled"

    async def test_cancel_needs_a_reason_and_an_unknown_order_is_404(self, client, bus):
        po_id = (await client.post("/purchase-orders", json=ORDER, headers=HEADERS)).json()["po_id"]
        assert (await client.post(f"/purchase-orders/{po_id}/cancel", json={}, headers=HEADERS)).status_code == 422
        unknown = await client.post(f"/purchase-orders/{uuid.uuid4()}/cancel", json={"reason": "x"}, headers=HEADERS)
        assert unknown.status_code == 404
        assert (await client.post(f"/purchase-orders/{uuid.uuid4()}/open", headers=HEADERS)).status_code == 404


class TestListPurchaseOrders:
    async def test_orders_list_by_status_a_page_at_a_time(self, client):
        ids = []
        for status in ("pending", "open", "open"):
            created = await client.post("/purchase-orders", json={**ORDER, "status": status}, headers=HEADERS)
            ids.append(created.json()["po_id"])
        listed = (await client.get("/purchase-orders", params={"status": "open"}, headers=HEADERS)).json()
        assert sorted(p["po_id"] for p in listed["purchase_orders"]) == sorted(ids[1:])
        assert listed["next_after"] is None
        first = (await client.get("/purchase-orders", params={"limit": 2}, headers=HEADERS)).json()
        rest = (await client.get("/purchase-orders", params={"after": first["next_after"]}, headers=HEADERS)).json()
        assert len(first["purchase_orders"]) == 2 and len(rest["purchase_orders"]) == 1
        assert sorted(p["po_id"] for p in first["purchase_orders"] + rest["purchase_orders"]) == sorted(ids)

    async def test_an_unknown_status_is_422(self, client):
        assert (await client.get("/purchase-orders", params={"status": "lost"}, headers=HEADERS)).status_code == 422
