"""The write-back API: an order's write-backs with their status, staff retry of a failed one, capabilities."""

import sys
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ingest.connectors.registry import CAPABILITIES
from ingest.entrypoints.writebacks_api import writebacks_router
from ingest.service_layer import writebacks
from oms_contracts.ingest.v1 import writeback_id_for
from oms_platform.auth import ApiKeys
from oms_platform.testing import RecordingBus

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from test_ingest_writeback_handlers import FakeChannel, deliver, make_runner, processed  # noqa: E402

OPS, PACKER = "ops-key-0123456789abcdef", "packer-key-0123456789abcdef"


class WorkerBus(RecordingBus):
    """Hands each published command to the write-back handler at once, as the worker would."""

    def __init__(self, runner) -> None:
        super().__init__("ingest-api")
        self.runner = runner

    async def publish(self, envelope, *, key):
        await super().publish(envelope, key=key)
        await writebacks.handle_command(envelope, runner=self.runner)


@pytest.fixture
def failing():
    return FakeChannel(failures=None)


@pytest.fixture
def runner(failing):
    return make_runner(failing)


@pytest.fixture
def client(runner):
    app = FastAPI()
    app.include_router(writebacks_router(store=runner.store, bus=WorkerBus(runner), capabilities=CAPABILITIES,
                                         keys=ApiKeys(f"ops:{OPS},packer:{PACKER}"), timeout=1))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                             headers={"Authorization": f"Bearer {OPS}"})


async def failed_shipment(runner) -> uuid.UUID:
    event = processed()
    await deliver(runner, event)
    order_id = event.payload.order.order_id
    for _ in range(runner.max_attempts - 1):
        doc = await runner.store.get(writeback_id_for(order_id, "ship"))
        runner.clock.now = doc["next_attempt_at"]
        scheduler = writebacks.Scheduler(store=runner.store, bus=runner.bus, clock=runner.clock)
        await scheduler.send_due()
        await writebacks.handle_command(runner.bus.published[-1][0], runner=runner)
    return order_id


class TestWriteBacks:
    async def test_an_order_shows_failed_with_the_reason_and_a_retry_confirms_it(self, client, runner, failing):
        order_id = await failed_shipment(runner)
        [shown] = (await client.get("/writebacks", params={"order_id": str(order_id)})).json()
        assert shown["state"] == "failed" and shown["status"] == "failed: ebay: 503 Service Unavailable"
        assert len(shown["attempts"]) == 3 and shown["channel_order_id"] == "05-27182-81828"
        failing.failures = 0
        retried = await client.post(f"/writebacks/{shown['writeback_id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "channel confirmed" and len(retried.json()["attempts"]) == 4
        again = await client.post(f"/writebacks/{shown['writeback_id']}/retry")
        assert again.status_code == 409 and "confirmed, not failed" in again.text

    async def test_unknown_write_back_and_bad_order_id(self, client):
        assert (await client.post(f"/writebacks/{uuid.uuid4()}/retry")).status_code == 404
        assert (await client.get("/writebacks", params={"order_id": "nope"})).status_code == 422
        assert (await client.get("/writebacks")).status_code == 422

    async def test_packers_may_not_retry(self, client, runner):
        order_id = await failed_shipment(runner)
        url = f"/writebacks/{writeback_id_for(order_id, 'ship')}/retry"
        assert (await client.post(url, headers={"Authorization": f"Bearer {PACKER}"})).status_code == 403


class TestCapabilities:
    async def test_every_channel_kind_says_what_it_takes(self, client):
        table = {c["kind"]: c for c in (await client.get("/channels/capabilities")).json()}
        assert {"ebay", "amazon", "magento2", "woocommerce", "shopify"} <= set(table)
        assert table["woocommerce"] | {"how": ""} == {"kind": "woocommerce", "ship": True, "cancel": True,
                                                        "refund": True, "stock": True, "message": False,
                                                        "how": ""}
        assert table["ebay"]["cancel"] is False and "shipping_fulfillment" in table["ebay"]["how"]
