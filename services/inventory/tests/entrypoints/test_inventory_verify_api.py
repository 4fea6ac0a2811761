"""GET /stock/{sku}/verify: levels recomputed from the ledger against the stored levels."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts import topics
from oms_contracts.inventory.v1 import AllocateStock
from oms_platform.auth import ApiKeys
from inventory.entrypoints.api import stock_router
from inventory.service_layer.handlers import handle_command

OPS_KEY = "ops-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {OPS_KEY}"}


@pytest.fixture
def client(repo, bus):
    app = FastAPI()
    app.include_router(stock_router(repo=repo, bus=bus, keys=ApiKeys(f"ops:{OPS_KEY}")))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def apply_published(repo, bus, clock):
    """Run the worker's handler on every command the API published."""
    handled = set()

    async def run():
        for envelope, _ in list(bus.published):
            if envelope.payload.TOPIC == topics.INVENTORY_COMMANDS and envelope.event_id not in handled:
                handled.add(envelope.event_id)
                await handle_command(envelope, repo=repo, bus=bus, clock=clock)

    return run


class TestVerifyStock:
    async def test_without_a_key_it_is_refused(self, client):
        assert (await client.get("/stock/MUG/verify")).status_code == 401

    async def test_levels_built_by_commands_equal_their_recomputation(self, client, bus, command, apply_published):
        await client.post("/stock/MUG/adjustments", json={"delta": 2, "reason": "delivery"}, headers=AUTH)
        await client.post("/stock/MUG/adjustments", json={"delta": 1, "reason": "found", "location": "backroom"},
                          headers=AUTH)
        await bus.publish(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=4)), key="MUG")
        await apply_published()
        body = (await client.get("/stock/MUG/verify", headers=AUTH)).json()
        assert body["consistent"] is True and body["entries"] == 3
        assert body["stored_seq"] == body["ledger_seq"] == 3
        assert [check["location"] for check in body["locations"]] == sorted(check["location"] for check in body["locations"])

    async def test_a_stored_level_that_drifted_from_the_ledger_is_reported(self, client, repo, apply_published):
        await client.post("/stock/MUG/adjustments", json={"delta": 2, "reason": "delivery"}, headers=AUTH)
        await apply_published()
        [location] = repo.stock["MUG"]["locations"]
        repo.stock["MUG"]["locations"][location]["on_hand"] = 7
        body = (await client.get("/stock/MUG/verify", headers=AUTH)).json()
        assert body["consistent"] is False
        [check] = body["locations"]
        assert check["stored"]["on_hand"] == 7 and check["recomputed"]["on_hand"] == 2

    async def test_a_sku_never_seen_is_trivially_consistent(self, client):
        body = (await client.get("/stock/NOPE/verify", headers=AUTH)).json()
        assert body == {"sku": "NOPE", "consistent": True, "entries": 0, "stored_seq": 0, "ledger_seq": 0,
                        "locations": [], "due_stored": 0, "due_recomputed": 0}
