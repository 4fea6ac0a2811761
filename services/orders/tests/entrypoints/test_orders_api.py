"""The orders HTTP API, through an in-process ASGI client."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts.orders.v1 import PlaceOrder, ProcessOrder
from oms_platform.auth import ApiKeys
from orders.domain.model import ProcessingGuards
from orders.entrypoints.api import orders_router

OPS_KEY = "ops-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"


@pytest.fixture
def client(repo, bus):
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY},packer:{PACKER_KEY}")
    app.include_router(orders_router(repo=repo, bus=bus, keys=keys, guards=ProcessingGuards()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def phone_order() -> dict:
    return {
        "buyer": {"name": "Grace Hopper", "email": "grace@example.org"},
        "shipping_address": {"name": "Grace Hopper", "line1": "1 Navy Way", "city": "Arlington",
                             "postcode": "22202", "country": "US"},
        "lines": [{"line_id": "1", "sku": "MUG-BLUE", "title": "Blue mug", "quantity": 2, "unit_price": "7.50"}],
        "shipping": {"service": "Standard", "cost": "3.95"},
        "currency": "USD",
        "paid": True,
    }


def auth(key=OPS_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


class TestCreateOrder:
    async def test_without_a_key_it_is_refused(self, client):
        response = await client.post("/orders", json=phone_order())
        assert response.status_code == 401

    async def test_a_packer_may_not_take_orders(self, client):
        response = await client.post("/orders", json=phone_order(), headers=auth(PACKER_KEY))
        assert response.status_code == 403

    async def test_a_valid_order_is_accepted_and_sent_as_a_command(self, client, bus):
        response = await client.post("/orders", json=phone_order(), headers=auth())
        assert response.status_code == 202
        [command] = bus.payloads(PlaceOrder)
        assert str(command.order_id) == response.json()["order_id"]
        assert command.order.channel == "phone" and command.order.order_number.startswith("PH-")
        assert command.placed_by == "ops-key-1"

    async def test_a_bad_order_gets_422_naming_the_field(self, client, bus):
        order = phone_order()
        order["lines"][0]["quantity"] = 0
        response = await client.post("/orders", json=order, headers=auth())
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "lines", 0, "quantity"]
        assert bus.published == []

    async def test_the_same_idempotency_key_gives_the_same_order(self, client):
        headers = {**auth(), "Idempotency-Key": "call-42"}
        first = await client.post("/orders", json=phone_order(), headers=headers)
        second = await client.post("/orders", json=phone_order(), headers=headers)
        assert first.json()["order_id"] == second.json()["order_id"]


class TestReadAndProcess:
    async def test_an_unknown_order_is_404(self, client):
        response = await client.get(f"/orders/{uuid.uuid4()}", headers=auth())
        assert response.status_code == 404

    async def test_processing_an_order_without_stock_is_409_with_the_reason(self, client, repo, bus, clock,
                                                                             make_details):
        from oms_contracts import new_envelope
        from oms_contracts.orders.v1 import order_id_for
        from orders.service_layer.handlers import handle_command

        details = make_details()
        order_id = order_id_for(details.channel, details.channel_order_id)
        await handle_command(
            new_envelope(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="ops"), producer="t"),
            repo=repo, bus=bus, guards=ProcessingGuards(), clock=clock,
        )
        response = await client.post(f"/orders/{order_id}/process", headers=auth())
        assert response.status_code == 409
        assert "stock is not allocated" in response.json()["detail"]
        assert bus.payloads(ProcessOrder) == []
        shown = await client.get(f"/orders/{order_id}", headers=auth())
        assert shown.json()["status"] == "open" and shown.json()["unallocated_skus"] == ["MUG-BLUE", "TEE-L"]
