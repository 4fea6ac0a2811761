"""`GET /writebacks?state=failed`: the failed write-backs across orders, a page at a time (the console grid's badge)."""

import copy
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ingest.connectors.registry import CAPABILITIES
from ingest.entrypoints.writebacks_api import writebacks_router
from oms_contracts.ingest.v1 import writeback_id_for
from oms_platform.auth import ApiKeys

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from test_ingest_writeback_handlers import FakeChannel, FakeWriteBacks, deliver, make_runner, processed  # noqa: E402
from test_ingest_writebacks_api import OPS, PACKER, WorkerBus, failed_shipment  # noqa: E402


class ListingWriteBacks(FakeWriteBacks):
    """The fake store with the listing by state the Mongo store answers (id order, after an id)."""

    async def in_state(self, state, *, limit, after=None):
        found = sorted((d for d in self.docs.values() if d["state"] == state and (after is None or d["_id"] > after)),
                       key=lambda d: d["_id"])
        return copy.deepcopy(found[:limit])


@pytest.fixture
def channel():
    return FakeChannel(failures=None)


@pytest.fixture
def runner(channel):
    runner = make_runner(channel)
    listing = ListingWriteBacks()
    listing.docs = runner.store.docs  # the same documents, one more way to read them
    return runner, listing


@pytest.fixture
def client(runner):
    runner, listing = runner
    app = FastAPI()
    app.include_router(writebacks_router(store=listing, bus=WorkerBus(runner), capabilities=CAPABILITIES,
                                         keys=ApiKeys(f"ops:{OPS},packer:{PACKER}"), timeout=1))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                             headers={"Authorization": f"Bearer {OPS}"})


class TestFailedAcrossOrders:
    async def test_pages_walk_every_failed_write_back_once_and_skip_the_confirmed(self, client, runner, channel):
        runner, _ = runner
        failed = {str(writeback_id_for(await failed_shipment(runner), "ship")) for _ in range(3)}
        channel.failures = 0
        await deliver(runner, processed())  # confirmed at once
        assert len(runner.store.docs) == 4

        seen, after = [], None
        while True:
            params = {"state": "failed", "limit": 2, **({"after": after} if after else {})}
            page = (await client.get("/writebacks", params=params)).json()
            seen += [wb["writeback_id"] for wb in page]
            assert all(wb["status"].startswith("failed: ") for wb in page)
            if len(page) < 2:
                break
            after = page[-1]["writeback_id"]
        assert sorted(seen) == seen and set(seen) == failed and len(seen) == 3

    async def test_an_orders_write_backs_in_one_state(self, client, runner):
        runner, _ = runner
        order_id = await failed_shipment(runner)
        assert len((await client.get("/writebacks", params={"order_id": str(order_id), "state": "failed"})).json()) == 1
        assert (await client.get("/writebacks", params={"order_id": str(order_id), "state": "confirmed"})).json() == []

    async def test_without_an_order_or_a_state_the_reason_is_given(self, client):
        response = await client.get("/writebacks", params={"limit": 10})
        assert response.status_code == 422 and "give order_id, or state" in response.text
        assert (await client.get("/writebacks", params={"state": "lost"})).status_code == 422
        assert (await client.get("/writebacks", params={"state": "failed", "limit": 501})).status_code == 422

    async def test_packers_may_not_list(self, client):
        response = await client.get("/writebacks", params={"state": "failed"},
                                    headers={"Authorization": f"Bearer {PACKER}"})
        assert response.status_code == 403
