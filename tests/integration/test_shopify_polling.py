"""Shopify's catch-up download on the real broker and database: the stand-in shop's open, unshipped orders are
polled (and downloaded on demand) into Open Orders with the research's expected fields, through REST Admin and
through GraphQL Admin, cancelled and shipped ones are not; an order that came by webhook and is polled too is one
order; reconciliation reports an order the poll has not taken yet; a worker killed mid-poll and restarted imports
neither less nor more."""

import base64
import copy
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ingest.standin_shopify import ShopifyStandIn
from ingest.standins import serve
from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "services" / "ingest" / "tests" / "data"
SHOPIFY_SECRET = "sample-shopify-client-secret-A"  # account "fernbrook" (INGEST_WEBHOOK_SECRETS of `system`)


def sample(number: int) -> dict:
    return json.loads((DATA / "shopify" / f"webhook-orders-create-{number}.body.json").read_text(encoding="utf-8"))


def expected() -> dict[str, dict]:
    data = json.loads((DATA / "channels-expected.json").read_text(encoding="utf-8"))
    return {o["channel_order_id"]: o for o in data["orders"] if o["channel"] == "shopify"}


def new_id() -> int:
    return random.randint(10**12, 10**13)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


@pytest.fixture
def token_file(tmp_path) -> tuple[str, str]:
    """The shop's Admin API access token in a file, referenced as `file:<path>`."""
    token = f"shpat_{uuid.uuid4().hex}"
    path = tmp_path / "shopify-token"
    path.write_text(token)
    return token, f"file:{path}"


async def configure(admin, system, channel_id: str, body: dict) -> None:
    response = await admin.put(f"{system.url('ingest')}/channels/{channel_id}", json={"name": "Shopify", **body})
    assert response.status_code == 200, response.text


async def open_orders(ops, system, ids) -> dict[str, dict]:
    found = {}
    for channel_order_id in ids:
        response = await ops.get(f"{system.url('orders')}/orders/{order_id_for('shopify', str(channel_order_id))}")
        if response.status_code == 200:
            found[str(channel_order_id)] = response.json()
    return found


async def intakes_of(ops, system, account: str) -> list[dict]:
    listed = (await ops.get(f"{system.url('ingest')}/intake", params={"channel": "shopify", "limit": 500})).json()
    return [i for i in listed if i["account"] == account]


async def status_of(ops, system, channel_id: str) -> dict:
    return (await ops.get(f"{system.url('ingest')}/channels/{channel_id}")).json()["status"]


class TestDownload:
    async def test_the_samples_are_polled_into_open_orders_and_download_now_takes_a_new_one(
        self, system, ops, admin, wait_for, token_file
    ):
        run = uuid.uuid4().hex[:6]
        token, ref = token_file
        research = expected()
        orders, wanted = [], {}
        for number in (1021, 1022):
            order = sample(number)
            want = research[str(order["id"])]
            order["id"] = new_id()
            wanted[str(order["id"])] = want
            orders.append(order)
        cancelled = copy.deepcopy(orders[0]) | {"id": new_id(), "cancelled_at": "2026-11-24T14:30:00+00:00",
                                                "closed_at": "2026-11-24T14:30:00+00:00", "cancel_reason": "customer"}
        shipped = copy.deepcopy(orders[1]) | {"id": new_id(), "fulfillment_status": "fulfilled"}
        shop = ShopifyStandIn([*orders, cancelled, shipped], token=token)
        server = serve(shop.app)
        try:
            # An hour between polls: the first poll runs at once, the next only on "download now".
            await configure(admin, system, f"shopify-{run}", {
                "kind": "shopify", "account": f"shop{run}", "url": server.url, "credentials": {"access_token": ref},
                "interval_seconds": 3600, "options": {"api": "rest", "limit": 1}})

            async def both_open():
                found = await open_orders(ops, system, wanted)
                return len(found) == 2 and found

            found = await wait_for(both_open, timeout=90, what="the polled Shopify samples in Open Orders")
            for channel_order_id, order in found.items():
                want, details = wanted[channel_order_id], order["details"]
                assert order["status"] == "open" and order["channel"] == "shopify"
                assert details["buyer"]["name"] == want["buyer_name"]
                assert details["shipping_address"]["country"] == want["country_code"]
                assert order["currency"] == want["currency"] and Decimal(order["total"]) == Decimal(want["grand_total"])
                assert len(details["lines"]) == want["line_count"]
                assert sum(line["quantity"] for line in details["lines"]) == want["total_quantity"]
                assert details["paid"] is True and details["order_number"] in ("#1021", "#1022")
            assert len(shop.requests) >= 2 and "page_info" in shop.requests[1], "one order per page: Link paging"
            assert await open_orders(ops, system, [cancelled["id"], shipped["id"]]) == {}
            mine = await intakes_of(ops, system, f"shop{run}")
            assert sorted(i["channel_order_id"] for i in mine) == sorted(wanted)
            assert all(i["status"] == "published" and i["kind"] == "polled_order" for i in mine)

            later = copy.deepcopy(orders[0]) | {"id": new_id(), "name": "#1023",
                                                "updated_at": stamp(datetime.now(UTC))}
            shop.listed.append(later)
            asked = await admin.post(f"{system.url('ingest')}/channels/shopify-{run}/download")
            assert asked.status_code == 202, asked.text
            await wait_for(lambda: open_orders(ops, system, [later["id"]]), timeout=60, what="the order downloaded now")
            status = await status_of(ops, system, f"shopify-{run}")
            assert status["last_error"] is None and status["orders_new"] == 3
            got = (await ops.get(f"{system.url('ingest')}/channels/shopify-{run}")).json()
            assert token not in json.dumps(got)
        finally:
            server.stop()


class TestGraphQLDownload:
    async def test_the_samples_are_polled_through_graphql_admin_into_open_orders(
        self, system, ops, admin, wait_for, token_file
    ):
        run = uuid.uuid4().hex[:6]
        token, ref = token_file
        research, orders, wanted = expected(), [], {}
        for number in (1021, 1022):
            order = sample(number)
            want = research[str(order["id"])]
            order["id"] = new_id()
            wanted[str(order["id"])] = want
            orders.append(order)
        shop = ShopifyStandIn(orders, token=token)
        server = serve(shop.app)
        try:
            await configure(admin, system, f"shopify-gql-{run}", {
                "kind": "shopify", "account": f"gql{run}", "url": server.url, "credentials": {"access_token": ref},
                "interval_seconds": 3600, "options": {"api": "graphql", "first": 1}})

            async def both_open():
                found = await open_orders(ops, system, wanted)
                return len(found) == 2 and found

            found = await wait_for(both_open, timeout=90, what="the Shopify samples polled through GraphQL")
            for channel_order_id, order in found.items():
                want = wanted[channel_order_id]
                assert order["details"]["buyer"]["name"] == want["buyer_name"]
                assert order["currency"] == want["currency"] and Decimal(order["total"]) == Decimal(want["grand_total"])
                assert len(order["details"]["lines"]) == want["line_count"]
            assert len(shop.graphql_requests) >= 2 and shop.graphql_requests[1]["after"], "one order per page"
            mine = await intakes_of(ops, system, f"gql{run}")
            assert sorted(i["channel_order_id"] for i in mine) == sorted(wanted)
            assert all(i["status"] == "published" for i in mine)
        finally:
            server.stop()


def signed_delivery(order: dict, topic: str = "orders/create") -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(order).encode()
    digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    return raw, {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": digest,
                 "X-Shopify-Shop-Domain": "fernbrook.myshopify.com", "X-Shopify-Webhook-Id": str(uuid.uuid4())}


class TestWebhookAndPoll:
    async def test_a_webhooked_order_polled_again_is_one_order_and_reconciliation_finds_the_missing_one(
        self, system, ops, admin, wait_for, token_file
    ):
        run = uuid.uuid4().hex[:6]
        token, ref = token_file
        now = datetime.now(UTC)
        hooked = sample(1022) | {"id": new_id(), "updated_at": stamp(now - timedelta(hours=2))}
        raw, headers = signed_delivery(hooked)
        async with httpx.AsyncClient(timeout=60) as channel:
            answer = await channel.post(f"{system.url('ingest')}/webhooks/shopify/fernbrook", content=raw,
                                        headers=headers)
        assert answer.status_code == 200 and answer.json()["status"] == "published", answer.text
        await wait_for(lambda: open_orders(ops, system, [hooked["id"]]), what="the webhooked order")

        shop = ShopifyStandIn([copy.deepcopy(hooked)], token=token)
        server = serve(shop.app)
        channel_id = f"shopify-{run}"
        try:
            await configure(admin, system, channel_id, {
                "kind": "shopify", "account": "fernbrook", "url": server.url, "credentials": {"access_token": ref},
                "interval_seconds": 3600, "options": {"start": stamp(now - timedelta(days=1))}})

            async def polled():
                status = await status_of(ops, system, channel_id)
                return status["last_sync_at"] is not None and status

            status = await wait_for(polled, timeout=60, what="the first poll")
            assert status["orders_new"] == 1 and status["last_error"] is None
            of_order = [i for i in await intakes_of(ops, system, "fernbrook")
                        if i["channel_order_id"] == str(hooked["id"])]
            assert sorted(i["kind"] for i in of_order) == ["polled_order", "shopify_order"]
            assert all(i["status"] == "published" for i in of_order)
            listed = (await ops.get(f"{system.url('orders')}/orders", params={"limit": 500})).json()["items"]
            assert [o["channel_order_id"] for o in listed].count(str(hooked["id"])) == 1

            # An order the shop has and the poll has not taken yet (the next poll is an hour away).
            missed = sample(1021) | {"id": new_id(), "updated_at": stamp(datetime.now(UTC))}
            shop.listed.append(missed)
            window = {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
            report = await ops.get(f"{system.url('ingest')}/channels/{channel_id}/reconciliation", params=window)
            assert report.status_code == 200, report.text
            report = report.json()
            assert [m["channel_order_id"] for m in report["missing"]] == [str(missed["id"])]
            assert report["listed"] == 2 and report["held"] == 1 and report["complete"] is True
            fetched = await ops.post(f"{system.url('ingest')}/channels/{channel_id}/reconciliation/fetch-missing",
                                     params=window)
            assert fetched.status_code == 200, fetched.text
            assert [m["fetched"] for m in fetched.json()["missing"]] == ["published"]
            await wait_for(lambda: open_orders(ops, system, [missed["id"]]), what="the order fetched as missing")
        finally:
            server.stop()


class TestKilledMidPoll:
    async def test_a_worker_killed_mid_poll_and_restarted_imports_every_order_once(
        self, system, ops, admin, wait_for, token_file
    ):
        run = uuid.uuid4().hex[:6]
        token, ref = token_file
        template = sample(1021)
        orders = [template | {"id": new_id(), "name": f"#{run}-{n}", "updated_at": f"2026-11-2{n % 8}T10:00:0{n}+00:00"}
                  for n in range(10)]
        ids = [str(o["id"]) for o in orders]
        # One order per page and a second per call: the walk takes ten seconds, long enough to kill it.
        shop = ShopifyStandIn(orders, token=token, delay=1.0)
        server = serve(shop.app)
        worker = next(p for p in system.processes if p.service == "ingest" and p.role == "worker")
        try:
            await configure(admin, system, f"shopify-{run}", {
                "kind": "shopify", "account": f"kill{run}", "url": server.url, "credentials": {"access_token": ref},
                "interval_seconds": 3600, "options": {"first": 1}})  # GraphQL, the default

            async def some_open():
                return len(await open_orders(ops, system, ids)) >= 2

            await wait_for(some_open, timeout=60, what="the first polled orders")
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
            landed_before_restart = len(await open_orders(ops, system, ids))
            assert landed_before_restart < len(ids), "killed after the whole poll: slow the stand-in down"
            worker.process = subprocess.Popen(
                [system.python, "-m", "ingest", "worker"], env={**os.environ, **system.env},
                stdout=worker.log_path.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            # The restarted worker resumes from the stored cursor (endCursor; an hour between polls otherwise).

            async def all_open():
                return len(await open_orders(ops, system, ids)) == len(ids)

            await wait_for(all_open, timeout=90, what="every Shopify order after the restart")
            mine = await intakes_of(ops, system, f"kill{run}")
            assert sorted(i["channel_order_id"] for i in mine) == sorted(ids), "each order stored once, none twice"
            assert all(i["status"] == "published" for i in mine)
        finally:
            server.stop()
