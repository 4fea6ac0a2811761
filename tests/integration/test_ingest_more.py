"""WooCommerce on the real broker, database and services: REST polling from a stand-in shop into Open Orders,
webhook replays, reconciliation with fetch-missing, and an ingest worker killed (kill -9) mid-poll of a slow
shop and restarted, which neither loses nor doubles an order."""

import base64
import copy
import hashlib
import hmac
import json
import os
import signal
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ingest.standins import WooCommerceStandIn, serve
from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "services" / "ingest" / "tests" / "data" / "woocommerce"
WOOCOMMERCE_SECRET = "sample-woo-webhook-secret-A"  # the `system` fixture's secret of webhook account `shop`


def sample_orders() -> list[dict]:
    return json.loads((DATA / "orders-list.json").read_text(encoding="utf-8"))


def shop_order(template: dict, order_id: int, *, status: str = "processing",
               modified: str = "2026-11-26T10:00:00") -> dict:
    return copy.deepcopy(template) | {"id": order_id, "number": str(order_id), "status": status,
                                      "date_modified_gmt": modified}


def fresh_ids(count: int) -> list[int]:
    """Order ids no other test (or earlier run on the same database) uses."""
    base = uuid.uuid4().int % 10**9 * 100
    return [base + n for n in range(count)]


@pytest.fixture
def woo_keys(tmp_path) -> tuple[str, str, dict[str, str]]:
    """A consumer key and secret kept in files, and the credential references the worker resolves."""
    key, secret = f"ck_{uuid.uuid4().hex}", f"cs_{uuid.uuid4().hex}"
    (tmp_path / "ck").write_text(key)
    (tmp_path / "cs").write_text(secret)
    return key, secret, {"consumer_key": f"file:{tmp_path / 'ck'}", "consumer_secret": f"file:{tmp_path / 'cs'}"}


async def configure(admin, system, channel_id: str, **body) -> None:
    response = await admin.put(f"{system.url('ingest')}/channels/{channel_id}",
                               json={"name": "Woo shop", "kind": "woocommerce", **body})
    assert response.status_code == 200, response.text
    CONFIGURED[channel_id] = body


CONFIGURED: dict[str, dict] = {}


@pytest.fixture(autouse=True)
async def disable_channels_after(admin, request):
    """Once a test is done with its stand-in shop, its channels are disabled: the worker stops polling them."""
    yield
    if "system" not in request.fixturenames:
        return
    system = request.getfixturevalue("system")
    for channel_id, body in list(CONFIGURED.items()):
        await admin.put(f"{system.url('ingest')}/channels/{channel_id}",
                        json={"name": "Woo shop", "kind": "woocommerce", **body, "enabled": False})
        CONFIGURED.pop(channel_id)


async def open_orders(ops, system, ids) -> dict[str, dict]:
    found = {}
    for channel_order_id in map(str, ids):
        response = await ops.get(f"{system.url('orders')}/orders/{order_id_for('woocommerce', channel_order_id)}")
        if response.status_code == 200:
            found[channel_order_id] = response.json()
    return found


async def intakes_of(ops, system, ids) -> list[dict]:
    listed = (await ops.get(f"{system.url('ingest')}/intake",
                            params={"channel": "woocommerce", "limit": 500})).json()
    wanted = set(map(str, ids))
    return [i for i in listed if i.get("channel_order_id") in wanted]


class TestWooCommercePolling:
    async def test_processing_and_on_hold_orders_land_in_open_orders_once_and_the_rest_never(
        self, system, ops, admin, wait_for, woo_keys
    ):
        key, secret, refs = woo_keys
        heloise, rebecca = sample_orders()
        ids = fresh_ids(4)
        orders = [shop_order(heloise, ids[0]), shop_order(rebecca, ids[1], status="on-hold"),
                  shop_order(rebecca, ids[2], status="completed"), shop_order(rebecca, ids[3], status="cancelled")]
        orders[1]["date_paid_gmt"] = None
        shop = WooCommerceStandIn(orders, key=key, secret=secret)
        server = serve(shop.app)
        run = uuid.uuid4().hex[:6]
        try:
            await configure(admin, system, f"woo-{run}", account=f"woo{run}", url=server.url, credentials=refs,
                            interval_seconds=1, options={"per_page": 1, "start": "2026-11-01T00:00:00"})
            found = await wait_for(lambda: _all_open(ops, system, ids[:2]), timeout=60,
                                   what="the processing and on-hold WooCommerce orders in Open Orders")
            first, second = found[str(ids[0])], found[str(ids[1])]
            assert first["status"] == "open" and first["channel"] == "woocommerce"
            assert first["details"]["buyer"]["name"] == "Héloïse Marchand"
            assert first["details"]["shipping_address"]["country"] == "FR"
            assert first["currency"] == "EUR" and Decimal(first["total"]) == Decimal("42.84")
            assert sum(line["quantity"] for line in first["details"]["lines"]) == 3
            assert first["details"]["paid"] is True and second["details"]["paid"] is False
            assert second["details"]["buyer"]["name"] == "Rebecca Thornbury"

            # Polled every second: the same versions again and again, yet one intake and one order each.
            calls = shop.calls
            await wait_for(lambda: _more_calls(shop, calls + 4), timeout=30, what="more polls of the shop")
            assert await open_orders(ops, system, ids[2:]) == {}
            mine = await intakes_of(ops, system, ids)
            assert sorted(i["channel_order_id"] for i in mine) == sorted(map(str, ids[:2]))
            listed = (await ops.get(f"{system.url('orders')}/orders",
                                    params={"channel": "woocommerce", "limit": 500})).json()["items"]
            assert sorted(o["channel_order_id"] for o in listed if o["channel_order_id"] in map(str, ids)) == \
                sorted(map(str, ids[:2]))
            channel = (await ops.get(f"{system.url('ingest')}/channels/woo-{run}")).json()
            assert channel["status"]["last_error"] is None
            assert key not in json.dumps(channel) and secret not in json.dumps(channel)
        finally:
            server.stop()


async def _all_open(ops, system, ids):
    found = await open_orders(ops, system, ids)
    return found if len(found) == len(ids) else None


async def _more_calls(shop, calls: int) -> bool:
    return shop.calls >= calls


def signed_delivery(order: dict, *, delivery_id: str | None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(order).encode()
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
               "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "created",
               "X-WC-Webhook-Signature": base64.b64encode(
                   hmac.new(WOOCOMMERCE_SECRET.encode(), raw, hashlib.sha256).digest()).decode()}
    if delivery_id:
        headers["X-WC-Webhook-Delivery-ID"] = delivery_id
    return raw, headers


class TestWooCommerceWebhookReplays:
    async def test_a_delivery_replayed_three_times_makes_one_order(self, system, ops, wait_for):
        heloise, rebecca = sample_orders()
        same_delivery, new_deliveries = fresh_ids(2)
        url = f"{system.url('ingest')}/webhooks/woocommerce/shop"
        async with httpx.AsyncClient(timeout=60) as channel:
            raw, headers = signed_delivery(shop_order(heloise, same_delivery), delivery_id=uuid.uuid4().hex)
            replayed = [(await channel.post(url, content=raw, headers=headers)).json()["status"] for _ in range(3)]
            # Without a delivery id each one is a new intake; orders keeps one order per WooCommerce order id.
            raw, headers = signed_delivery(shop_order(rebecca, new_deliveries), delivery_id=None)
            resent = [(await channel.post(url, content=raw, headers=headers)).json()["status"] for _ in range(3)]
            forged = await channel.post(url, content=raw.replace(b'"37.50"', b'"0.50"'), headers=headers)
        assert replayed == ["published", "duplicate", "duplicate"]
        assert resent == ["published"] * 3 and forged.status_code == 401
        await wait_for(lambda: _all_open(ops, system, [same_delivery, new_deliveries]), timeout=60,
                       what="both webhook orders in Open Orders")
        listed = (await ops.get(f"{system.url('orders')}/orders",
                                params={"channel": "woocommerce", "limit": 500})).json()["items"]
        ours = [o["channel_order_id"] for o in listed if o["channel_order_id"] in (str(same_delivery),
                                                                                   str(new_deliveries))]
        assert sorted(ours) == sorted([str(same_delivery), str(new_deliveries)])
        assert len(await intakes_of(ops, system, [same_delivery])) == 1


class TestReconciliation:
    async def test_missing_orders_are_reported_fetched_on_request_and_then_held(
        self, system, ops, admin, wait_for, woo_keys
    ):
        key, secret, refs = woo_keys
        heloise, rebecca = sample_orders()
        ids = fresh_ids(3)
        orders = [shop_order(heloise, ids[0]), shop_order(rebecca, ids[1], modified="2026-11-26T11:00:00"),
                  shop_order(rebecca, ids[2], status="completed")]
        server = serve(WooCommerceStandIn(orders, key=key, secret=secret).app)
        run = uuid.uuid4().hex[:6]
        ingest = system.url("ingest")
        window = {"since": "2026-11-20T00:00:00+00:00", "until": "2026-11-27T00:00:00+00:00"}
        try:
            # Disabled: never polled, so everything the shop lists is missing here.
            await configure(admin, system, f"rec-{run}", account=f"rec{run}", url=server.url, credentials=refs,
                            enabled=False)
            before = await ops.get(f"{ingest}/channels/rec-{run}/reconciliation", params=window)
            assert before.status_code == 200, before.text
            report = before.json()
            assert (report["listed"], report["held"], report["complete"]) == (2, 0, True)
            assert [m["channel_order_id"] for m in report["missing"]] == [str(ids[0]), str(ids[1])]
            fetched = await ops.post(f"{ingest}/channels/rec-{run}/reconciliation/fetch-missing", params=window)
            assert fetched.status_code == 200, fetched.text
            assert [m["fetched"] for m in fetched.json()["missing"]] == ["published", "published"]
            await wait_for(lambda: _all_open(ops, system, ids[:2]), timeout=60, what="the fetched orders open")
            after = (await ops.get(f"{ingest}/channels/rec-{run}/reconciliation", params=window)).json()
            assert (after["listed"], after["held"], after["missing"], after["not_listed"]) == (2, 2, [], [])
            assert await open_orders(ops, system, ids[2:]) == {}
        finally:
            server.stop()

    async def test_the_scheduled_report_shows_an_order_the_poll_could_not_import(
        self, system, ops, admin, wait_for, woo_keys
    ):
        key, secret, refs = woo_keys
        heloise, rebecca = sample_orders()
        good, bad = fresh_ids(2)
        # A fee line the order contract cannot carry yet: the total does not add up, the intake fails.
        orders = [shop_order(heloise, good), shop_order(rebecca, bad) | {"total": "39.50"}]
        server = serve(WooCommerceStandIn(orders, key=key, secret=secret).app)
        run = uuid.uuid4().hex[:6]
        try:
            await configure(admin, system, f"sch-{run}", account=f"sch{run}", url=server.url, credentials=refs,
                            interval_seconds=1, options={"start": "2026-11-01T00:00:00", "reconcile_days": 30,
                                                         "reconcile_every_seconds": 1})
            await wait_for(lambda: _all_open(ops, system, [good]), timeout=60, what="the good order open")

            async def reported():
                response = await ops.get(f"{system.url('ingest')}/channels/sch-{run}/reconciliation/latest")
                report = response.json() if response.status_code == 200 else {}
                missing = report.get("missing", [])
                return report if [m["channel_order_id"] for m in missing] == [str(bad)] and missing[0]["held"] \
                    else None

            report = await wait_for(reported, timeout=60, what="a scheduled report naming the failed order")
            assert report["listed"] == 2 and report["held"] == 1 and report["error"] is None
            [failed] = report["missing"][0]["held"]
            assert failed["status"] == "failed" and "does not add up" in failed["reason"]
        finally:
            server.stop()

    async def test_a_shop_refusing_the_key_is_502_with_the_reason(self, system, ops, admin, woo_keys):
        key, _, refs = woo_keys
        server = serve(WooCommerceStandIn([], key=key, secret="not-what-we-hold").app)
        run = uuid.uuid4().hex[:6]
        try:
            await configure(admin, system, f"bad-{run}", account=f"bad{run}", url=server.url, credentials=refs,
                            enabled=False)
            response = await ops.get(f"{system.url('ingest')}/channels/bad-{run}/reconciliation")
            assert response.status_code == 502 and "credentials refused" in response.text
        finally:
            server.stop()


class TestWorkerKilledMidPoll:
    async def test_kill_9_mid_poll_of_a_slow_shop_then_restart_loses_and_doubles_nothing(
        self, system, ops, admin, wait_for, woo_keys
    ):
        key, secret, refs = woo_keys
        heloise, _ = sample_orders()
        ids = fresh_ids(8)
        orders = [shop_order(heloise, order_id, modified=f"2026-11-26T10:00:0{n}") for n, order_id in enumerate(ids)]
        # One order per page and 0.6 s per call: the poll takes about 5 s, long enough to kill it half-way.
        shop = WooCommerceStandIn(orders, key=key, secret=secret, delay=0.6)
        server = serve(shop.app)
        worker = next(p for p in system.processes if p.service == "ingest" and p.role == "worker")
        run = uuid.uuid4().hex[:6]
        try:
            await configure(admin, system, f"slow-{run}", account=f"slow{run}", url=server.url, credentials=refs,
                            interval_seconds=3600, options={"per_page": 1, "start": "2026-11-01T00:00:00"})
            await wait_for(lambda: _some_open(ops, system, ids, 2), timeout=60, what="the first orders of the poll")
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
            assert len(await open_orders(ops, system, ids)) < len(ids), "the poll ended before the kill"
            with worker.log_path.open("ab") as log:
                worker.process = subprocess.Popen(
                    [system.python, "-m", "ingest", "worker"], env={**os.environ, **system.env},
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            # The restarted worker resumes from the stored cursor (its interval is an hour: no fresh poll).
            await wait_for(lambda: _all_open(ops, system, ids), timeout=120, what="every order after the restart")
            mine = await intakes_of(ops, system, ids)
            assert sorted(i["channel_order_id"] for i in mine) == sorted(map(str, ids)), "each version stored once"
            assert all(i["status"] == "published" for i in mine)
            listed = (await ops.get(f"{system.url('orders')}/orders",
                                    params={"channel": "woocommerce", "limit": 500})).json()["items"]
            assert sorted(o["channel_order_id"] for o in listed if o["channel_order_id"] in map(str, ids)) == \
                sorted(map(str, ids))
        finally:
            server.stop()


async def _some_open(ops, system, ids, count: int) -> bool:
    return len(await open_orders(ops, system, ids)) >= count
