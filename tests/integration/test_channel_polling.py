"""Channel polling on the real broker and database: stand-in Magento, eBay and Amazon shops are downloaded
into Open Orders exactly once, and an ingest worker killed mid-poll and restarted imports neither less nor more."""

import copy
import json
import os
import signal
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.standins import AmazonStandIn, EbayStandIn, MagentoStandIn, serve
from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parents[2] / "services" / "ingest" / "tests" / "data"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def token_file(tmp_path) -> tuple[str, str]:
    """A channel token kept in a file, referenced as `file:<path>` (the worker resolves it)."""
    token = uuid.uuid4().hex
    path = tmp_path / "channel-token"
    path.write_text(token)
    return token, f"file:{path}"


async def open_orders(ops, system, channel: str, ids: list[str]) -> dict[str, dict]:
    found = {}
    for channel_order_id in ids:
        response = await ops.get(f"{system.url('orders')}/orders/{order_id_for(channel, channel_order_id)}")
        if response.status_code == 200:
            found[channel_order_id] = response.json()
    return found


async def configure(admin, system, channel_id: str, body: dict) -> None:
    response = await admin.put(f"{system.url('ingest')}/channels/{channel_id}", json=body)
    assert response.status_code == 200, response.text


class TestDownload:
    async def test_magento_and_ebay_orders_land_in_open_orders_once(self, system, ops, admin, wait_for, token_file):
        run = uuid.uuid4().hex[:6]
        token, ref = token_file
        magento_orders = sample("magento2/orders-search.json")["items"]
        for order in magento_orders:
            order["increment_id"] = f"{order['increment_id']}-{run}"
        cancelled = copy.deepcopy(magento_orders[0]) | {"increment_id": f"cxl-{run}", "entity_id": 999,
                                                         "status": "canceled"}
        ebay_orders = sample("ebay/getOrders.json")["orders"]
        for order in ebay_orders:
            order["orderId"] = f"{order['orderId']}-{run}"
        magento, ebay = MagentoStandIn([*magento_orders, cancelled], token=token), EbayStandIn(ebay_orders, token=token)
        servers = [serve(magento.app), serve(ebay.app)]
        try:
            await configure(admin, system, f"web-{run}", {
                "name": "Web shop", "kind": "magento2", "account": f"web{run}", "url": servers[0].url,
                "credentials": {"token": ref}, "interval_seconds": 1, "options": {"page_size": 1}})
            await configure(admin, system, f"ebay-{run}", {
                "name": "eBay UK", "kind": "ebay", "account": f"ebay{run}", "url": servers[1].url,
                "credentials": {"token": ref}, "interval_seconds": 1, "options": {"limit": 1}})
            magento_ids = [o["increment_id"] for o in magento_orders]
            ebay_ids = [o["orderId"] for o in ebay_orders]

            async def all_open():
                return (len(await open_orders(ops, system, "magento2", magento_ids)) == 2
                        and len(await open_orders(ops, system, "ebay", ebay_ids)) == 2)

            await wait_for(all_open, timeout=60, what="the stand-in shops' orders in Open Orders")
            status = (await ops.get(f"{system.url('ingest')}/channels/web-{run}")).json()["status"]
            # Polled every second: the same orders were fetched again and again, yet are one order each.
            await wait_for(lambda: _polled_again(ops, system, f"web-{run}", status["pages"]), what="more polls")
            assert magento.calls > 3
            assert (await open_orders(ops, system, "magento2", [f"cxl-{run}"])) == {}
            intake = (await ops.get(f"{system.url('ingest')}/intake",
                                    params={"channel": "magento2", "limit": 500})).json()
            mine = [i for i in intake if i["account"] == f"web{run}"]
            assert len(mine) == 2, "the cancelled order is filtered out by status, each other order stored once"
            got = (await ops.get(f"{system.url('ingest')}/channels/web-{run}")).json()
            assert ref in json.dumps(got) and token not in json.dumps(got)
        finally:
            for server in servers:
                server.stop()


async def _polled_again(ops, system, channel_id: str, pages: int) -> bool:
    status = (await ops.get(f"{system.url('ingest')}/channels/{channel_id}")).json()["status"]
    return status["pages"] > pages + 2


class TestKilledMidPoll:
    async def test_a_worker_killed_mid_poll_and_restarted_imports_every_order_once(
        self, system, ops, admin, wait_for, token_file
    ):
        run = uuid.uuid4().hex[:6]
        token, ref = token_file
        template = sample("amazon/getOrders.json")["payload"]["Orders"][0]
        items_template = sample("amazon/getOrderItems.202-4829173-5561023.json")["payload"]["OrderItems"]
        now = datetime.now(UTC).replace(microsecond=0)
        orders, items = [], {}
        for n in range(8):
            order_id = f"2{n:02d}-{run}-0{n}"
            stamp = f"2026-11-2{n % 8}T10:00:0{n}Z"
            orders.append(template | {"AmazonOrderId": order_id, "LastUpdateDate": stamp,
                                      "FulfillmentChannel": "AFN" if n == 7 else "MFN"})
            items[order_id] = copy.deepcopy(items_template)
        # One order per page and about 2 item calls a second: the poll takes seconds, long enough to kill it.
        amazon = AmazonStandIn(orders, items, token=token, page_size=1, burst=1, rate=2, retry_after=0.5)
        server = serve(amazon.app)
        worker = next(p for p in system.processes if p.service == "ingest" and p.role == "worker")
        try:
            await configure(admin, system, f"amz-{run}", {
                "name": "Amazon UK", "kind": "amazon", "account": f"amz{run}", "url": server.url,
                "credentials": {"access_token": ref}, "interval_seconds": 3600,
                "options": {"start": "2026-11-01T00:00:00Z", "orders_rate": 2, "orders_burst": 1,
                            "items_rate": 2, "items_burst": 1}})
            ids = [o["AmazonOrderId"] for o in orders]
            await wait_for(lambda: _some_open(ops, system, ids), timeout=60, what="the first Amazon orders")
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
            landed_before_restart = len(await open_orders(ops, system, "amazon", ids))
            assert landed_before_restart < len(ids), "killed after the whole poll: slow the stand-in down"
            worker.process = subprocess.Popen(
                [system.python, "-m", "ingest", "worker"], env={**os.environ, **system.env},
                stdout=worker.log_path.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            # The restarted worker resumes from the stored cursor (its interval is an hour: no fresh poll).

            async def all_open():
                return len(await open_orders(ops, system, "amazon", ids)) == len(ids)

            await wait_for(all_open, timeout=60, what="every Amazon order after the restart")
            intake = (await ops.get(f"{system.url('ingest')}/intake",
                                    params={"channel": "amazon", "limit": 500})).json()
            mine = [i for i in intake if i["account"] == f"amz{run}"]
            assert len(mine) == len(ids), "each order version stored once, none twice"
            assert all(i["status"] == "published" for i in mine)
            status = (await ops.get(f"{system.url('ingest')}/channels/amz-{run}")).json()["status"]
            assert status["last_error"] is None or "rate limited" in status["last_error"]
        finally:
            server.stop()


async def _some_open(ops, system, ids) -> bool:
    return len(await open_orders(ops, system, "amazon", ids)) >= 2
