"""The inventory HTTP API, through an in-process ASGI client."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts import topics
from oms_contracts.inventory.v1 import AdjustStock, AllocateStock
from oms_platform.auth import ApiKeys
from inventory.entrypoints.api import stock_router
from inventory.service_layer.handlers import handle_command

OPS_KEY = "ops-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"


@pytest.fixture
def client(repo, bus):
    app = FastAPI()
    app.include_router(stock_router(repo=repo, bus=bus, keys=ApiKeys(f"ops:{OPS_KEY},packer:{PACKER_KEY}")))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def apply_published(repo, bus, clock):
    """Run the worker's handler on every command the API published (what the worker would do)."""

    handled = set()

    async def run():
        for envelope, _ in list(bus.published):
            if envelope.payload.TOPIC == topics.INVENTORY_COMMANDS and envelope.event_id not in handled:
                handled.add(envelope.event_id)
                await handle_command(envelope, repo=repo, bus=bus, clock=clock)

    return run


def auth(key=OPS_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


class TestAdjustStock:
    async def test_without_a_key_it_is_refused(self, client, bus):
        response = await client.post("/stock/MUG/adjustments", json={"delta": 5, "reason": "delivery"})
        assert response.status_code == 401 and bus.published == []

    async def test_a_packer_may_not_adjust_stock(self, client):
        response = await client.post("/stock/MUG/adjustments", json={"delta": 5, "reason": "delivery"},
                                     headers=auth(PACKER_KEY))
        assert response.status_code == 403

    async def test_a_valid_adjustment_is_accepted_and_sent_as_a_command_keyed_by_sku(self, client, bus):
        response = await client.post("/stock/MUG/adjustments",
                                     json={"delta": 5, "reason": "delivery", "location": "backroom"}, headers=auth())
        assert response.status_code == 202
        [(envelope, key)] = bus.published
        assert key == "MUG" and str(envelope.event_id) == response.json()["command_id"]
        assert envelope.payload == AdjustStock(sku="MUG", location="backroom", delta=5, reason="delivery",
                                               adjusted_by="ops-key-1")

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"reason": "delivery"}, "delta"), ({"delta": 0, "reason": "x"}, "delta"),
         ({"delta": 1, "reason": ""}, "reason"), ({"delta": 1, "reason": "x", "location": "a.b"}, "location")],
    )
    async def test_a_bad_body_gets_422_naming_the_field(self, client, bus, body, field):
        response = await client.post("/stock/MUG/adjustments", json=body, headers=auth())
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", field]
        assert bus.published == []

    async def test_taking_out_more_than_on_hand_is_409_with_the_reason(self, client, bus, apply_published):
        await client.post("/stock/MUG/adjustments", json={"delta": 2, "reason": "delivery"}, headers=auth())
        await apply_published()
        response = await client.post("/stock/MUG/adjustments", json={"delta": -3, "reason": "damaged"},
                                     headers=auth())
        assert response.status_code == 409 and "would leave on_hand at -1" in response.json()["detail"]
        assert len(bus.payloads(AdjustStock)) == 1

    async def test_the_same_idempotency_key_sends_the_same_command_id(self, client, repo, apply_published):
        headers = {**auth(), "Idempotency-Key": "seed-MUG"}
        body = {"delta": 4, "reason": "opening stock"}
        first = await client.post("/stock/MUG/adjustments", json=body, headers=headers)
        await apply_published()
        second = await client.post("/stock/MUG/adjustments", json=body, headers=headers)
        await apply_published()
        assert first.json()["command_id"] == second.json()["command_id"]
        assert repo.stock["MUG"]["on_hand"] == 4


class TestReadStock:
    async def test_an_unknown_sku_is_404_with_the_reason(self, client):
        response = await client.get("/stock/NOPE", headers=auth())
        assert response.status_code == 404 and "never adjusted" in response.json()["detail"]

    async def test_reading_needs_a_key(self, client):
        assert (await client.get("/stock/MUG")).status_code == 401

    async def test_levels_show_totals_locations_and_oversold(self, client, bus, command, apply_published):
        await client.post("/stock/MUG/adjustments", json={"delta": 2, "reason": "delivery"}, headers=auth())
        await client.post("/stock/MUG/adjustments", json={"delta": 1, "reason": "found", "location": "backroom"},
                          headers=auth())
        await bus.publish(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=4)), key="MUG")
        await apply_published()
        body = (await client.get("/stock/MUG", headers=auth())).json()
        assert (body["on_hand"], body["allocated"], body["available"], body["oversold"]) == (3, 4, -1, True)
        assert body["locations"] == {"backroom": {"on_hand": 1, "allocated": 0, "available": 1},
                                     "default": {"on_hand": 2, "allocated": 4, "available": -2}}
        assert body["seq"] == 3


class TestReadLedger:
    async def test_the_ledger_pages_in_seq_order(self, client, apply_published):
        for delta in (5, 3, -2):
            await client.post("/stock/MUG/adjustments", json={"delta": delta, "reason": "count"}, headers=auth())
            await apply_published()
        first = (await client.get("/stock/MUG/ledger", params={"limit": 2}, headers=auth())).json()
        assert [(e["seq"], e["on_hand_delta"]) for e in first["entries"]] == [(1, 5), (2, 3)]
        assert first["next_after_seq"] == 2 and first["entries"][1]["totals"]["on_hand"] == 8
        rest = (await client.get("/stock/MUG/ledger", params={"after_seq": 2}, headers=auth())).json()
        assert [e["seq"] for e in rest["entries"]] == [3] and rest["next_after_seq"] is None
        assert rest["entries"][0]["levels"] == {"on_hand": 6, "allocated": 0, "available": 6}

    async def test_a_limit_above_500_gets_422_naming_it(self, client):
        response = await client.get("/stock/MUG/ledger", params={"limit": 501}, headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "limit"]
