"""Reconciliation over the channels API: a WooCommerce stand-in's list against the intake log, and fetch-missing."""

import copy
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ingest.connectors.amazon import AmazonConnector
from ingest.connectors.base import RawOrder
from ingest.connectors.ebay import EbayConnector
from ingest.connectors.magento2 import MagentoConnector
from ingest.connectors.registry import build_connector
from ingest.connectors.woocommerce import WooCommerceConnector, modified_at
from ingest.domain.channels import ChannelConfig, polled_intake_id
from ingest.domain.model import IntakeKind, IntakeStatus, new_intake
from ingest.domain.reconciliation import Reconciliation
from ingest.entrypoints.channels_api import channels_router
from ingest.service_layer.polling import take_order
from ingest.service_layer.reconciliation import list_window, reconcile_due
from ingest.standins import AmazonStandIn, EbayStandIn, MagentoStandIn, WooCommerceStandIn
from oms_contracts.ingest.v1 import OrderReceived
from oms_platform.auth import ApiKeys

OPS = "ops-key-0123456789abcdef"
KEY, SECRET = "ck_standin", "cs_standin"
DATA = Path(__file__).parents[1] / "data"
CONFIG = ChannelConfig(channel_id="woo", name="Woo shop", kind="woocommerce", account="shop",
                       url="http://standin", credentials={"consumer_key": "env:K", "consumer_secret": "env:S"})


def woo_order(n: int, *, status: str = "processing", modified: str = "2026-11-26T10:00:00") -> dict:
    sample = json.loads((DATA / "woocommerce" / "orders-list.json").read_text(encoding="utf-8"))[1]
    return copy.deepcopy(sample) | {"id": n, "number": str(n), "status": status, "date_modified_gmt": modified}


@pytest.fixture
def shop() -> WooCommerceStandIn:
    # 501..503 unprocessed; 504 completed on the shop (after we imported an earlier version of it).
    return WooCommerceStandIn([woo_order(501), woo_order(502), woo_order(503, modified="2026-11-27T08:00:00"),
                               woo_order(504, status="completed")], key=KEY, secret=SECRET)


@pytest.fixture
def opener(shop):
    @asynccontextmanager
    async def connect(config):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shop.app), base_url="http://standin") as h:
            yield build_connector(config, http=h, environ={"K": KEY, "S": SECRET})

    return connect


@pytest.fixture
def client(channel_store, store, bus, clock, opener):
    app = FastAPI()
    app.include_router(channels_router(channels=channel_store, keys=ApiKeys(f"ops:{OPS}"), clock=clock,
                                       store=store, bus=bus, connect=opener, max_body_bytes=100_000))
    channel_store.configs_by_id["woo"] = CONFIG
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                             headers={"Authorization": f"Bearer {OPS}"})


def raw_of(order: dict) -> RawOrder:
    return RawOrder(channel_order_id=str(order["id"]), body=json.dumps(order), updated_at=modified_at(order))


@pytest.fixture
async def held(store, bus, clock, shop):
    """501 imported by a poll; 502's listed version failed before; 504 imported while it was processing."""
    connector = WooCommerceConnector(http=httpx.AsyncClient(), base_url="http://standin", consumer_key=KEY,
                                     consumer_secret=SECRET)
    for order in (woo_order(501), woo_order(504, modified="2026-11-25T09:00:00")):
        assert await take_order(CONFIG, connector, raw_of(order), store=store, bus=bus, clock=clock,
                                max_body_bytes=100_000, publish_timeout=1) is IntakeStatus.PUBLISHED
    failed = woo_order(502)
    intake, _ = new_intake(
        intake_id=polled_intake_id("woocommerce", "shop", "502", modified_at(failed)), kind=IntakeKind.POLLED_ORDER,
        channel="woocommerce", account="shop", headers=[], raw=json.dumps(failed).encode(), received_at=clock(),
        limit=100_000, channel_order_id="502", channel_updated_at=modified_at(failed))
    await store.add(intake)
    await store.mark_failed(intake.intake_id, error="total_mismatch: fee lines")
    bus.published.clear()


class TestReconciliationReport:
    async def test_it_lists_what_the_channel_has_that_we_do_not_and_the_reverse(self, client, held):
        response = await client.get("/channels/woo/reconciliation")
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["listed"], report["held"], report["complete"]) == (3, 1, True)
        assert [(m["channel_order_id"], [h["status"] for h in m["held"]]) for m in report["missing"]] == [
            ("502", ["failed"]), ("503", [])]
        assert report["missing"][0]["held"][0]["reason"] == "total_mismatch: fee lines"
        assert [n["channel_order_id"] for n in report["not_listed"]] == ["504"]
        assert report["since"].startswith("2026-11-21T09:00") and report["until"].startswith("2026-11-28T09:00")

    async def test_the_window_limits_the_list(self, client, held):
        report = (await client.get("/channels/woo/reconciliation", params={
            "since": "2026-11-27T00:00:00+00:00", "until": "2026-11-28T00:00:00+00:00"})).json()
        assert report["listed"] == 1 and [m["channel_order_id"] for m in report["missing"]] == ["503"]
        assert report["not_listed"] == []

    async def test_a_webhook_intake_of_the_order_counts_as_held(self, client, held, store, clock):
        intake, _ = new_intake(intake_id=polled_intake_id("x", "y", "z", clock()), kind=IntakeKind.WOOCOMMERCE_ORDER,
                               channel="woocommerce", account="shop", headers=[], raw=b"{}", received_at=clock(),
                               limit=100_000, channel_order_id="503")
        await store.add(intake)  # `received`: stored, the re-publisher sends it
        report = (await client.get("/channels/woo/reconciliation")).json()
        assert [m["channel_order_id"] for m in report["missing"]] == ["502"]

    async def test_a_bad_window_is_422(self, client):
        response = await client.get("/channels/woo/reconciliation", params={
            "since": "2026-11-28T00:00:00+00:00", "until": "2026-11-27T00:00:00+00:00"})
        assert response.status_code == 422

    async def test_an_unknown_channel_is_404_and_a_key_is_needed(self, client):
        assert (await client.get("/channels/nope/reconciliation")).status_code == 404
        assert (await client.get("/channels/woo/reconciliation", headers={"Authorization": ""})).status_code == 401


class TestFetchMissing:
    async def test_missing_orders_are_taken_like_a_poll_and_then_held(self, client, held, store, bus):
        response = await client.post("/channels/woo/reconciliation/fetch-missing")
        assert response.status_code == 200, response.text
        fetched = {m["channel_order_id"]: m["fetched"] for m in response.json()["missing"]}
        # 502's listed version failed before: a re-fetch cannot fix it, so it is left for staff.
        assert fetched == {"502": None, "503": "published"}
        [message] = bus.payloads(OrderReceived)
        assert message.order.channel == "woocommerce" and message.order.channel_order_id == "503"
        assert message.channel_updated_at == datetime(2026, 11, 27, 8, tzinfo=UTC)
        again = (await client.get("/channels/woo/reconciliation")).json()
        assert [m["channel_order_id"] for m in again["missing"]] == ["502"]
        # Asked twice, nothing more is published: the version is in the intake log.
        await client.post("/channels/woo/reconciliation/fetch-missing")
        assert len(bus.payloads(OrderReceived)) == 1


class TestChannelTrouble:
    async def test_refused_credentials_are_502_with_the_reason_and_no_secret(self, client, shop):
        shop.secret = "rotated-on-the-shop"
        response = await client.get("/channels/woo/reconciliation")
        assert response.status_code == 502 and "credentials refused" in response.text
        assert SECRET not in response.text

    async def test_a_connector_that_cannot_list_a_window_is_409(self, channel_store, store, bus, clock):
        class NoWindow:
            channel = "legacy"

        @asynccontextmanager
        async def connect(config):
            yield NoWindow()

        app = FastAPI()
        app.include_router(channels_router(channels=channel_store, keys=ApiKeys(f"ops:{OPS}"), clock=clock,
                                           store=store, bus=bus, connect=connect))
        channel_store.configs_by_id["legacy"] = CONFIG.model_copy(update={"channel_id": "legacy"})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            response = await c.get("/channels/legacy/reconciliation", headers={"Authorization": f"Bearer {OPS}"})
        assert response.status_code == 409 and "time window" in response.text


class FakeReports:
    """Reconciliation reports in a dict, like MongoReconciliationStore (kept as JSON, as Mongo keeps them)."""

    def __init__(self) -> None:
        self.saved: dict[str, dict] = {}

    async def latest(self, channel_id):
        doc = self.saved.get(channel_id)
        return None if doc is None else Reconciliation.model_validate(doc)

    async def save(self, report) -> None:
        self.saved[report.channel_id] = report.model_dump(mode="json")


class TestScheduledReconciliation:
    async def test_a_channel_is_reconciled_on_its_schedule_and_the_report_kept_for_the_api(
        self, channel_store, store, bus, clock, opener, held
    ):
        reports = FakeReports()
        channel_store.configs_by_id["woo"] = CONFIG.model_copy(update={"options": {"reconcile_every_seconds": 600}})
        channel_store.configs_by_id["quiet"] = CONFIG.model_copy(update={"channel_id": "quiet"})
        channel_store.configs_by_id["off"] = CONFIG.model_copy(update={
            "channel_id": "off", "enabled": False, "options": {"reconcile_every_seconds": 600}})

        async def due():
            return await reconcile_due(channels=channel_store, reports=reports, store=store, connect=opener,
                                       clock=clock)

        assert await due() == ["woo"]
        assert await due() == []  # not due again for ten minutes
        clock.advance(601)
        assert await due() == ["woo"]
        app = FastAPI()
        app.include_router(channels_router(channels=channel_store, keys=ApiKeys(f"ops:{OPS}"), clock=clock,
                                           store=store, bus=bus, connect=opener, reports=reports))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"Authorization": f"Bearer {OPS}"}) as c:
            latest = (await c.get("/channels/woo/reconciliation/latest")).json()
            none_yet = await c.get("/channels/quiet/reconciliation/latest")
        assert [m["channel_order_id"] for m in latest["missing"]] == ["502", "503"]
        assert latest["checked_at"].startswith("2026-11-28T09:10:01") and latest["error"] is None
        assert none_yet.status_code == 404 and "reconcile_every_seconds" in none_yet.text
        assert bus.published == []  # a scheduled report only reports; fetching is for staff to ask

    async def test_a_channel_that_cannot_be_listed_gets_a_report_with_the_error(
        self, channel_store, store, clock, opener, shop
    ):
        reports = FakeReports()
        shop.secret = "rotated-on-the-shop"
        channel_store.configs_by_id["woo"] = CONFIG.model_copy(update={"options": {"reconcile_every_seconds": 60}})
        await reconcile_due(channels=channel_store, reports=reports, store=store, connect=opener, clock=clock)
        report = await reports.latest("woo")
        assert "credentials refused" in report.error and report.complete is False and SECRET not in report.error


class TestEveryRestConnectorListsAWindow:
    """Each REST connector's `cursor_at` lists exactly the orders changed in the window, through its stand-in."""

    @staticmethod
    def load(name: str):
        return json.loads((DATA / name).read_text(encoding="utf-8"))

    @staticmethod
    def asgi(app) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin")

    async def listed(self, connector) -> list[str]:
        found, complete = await list_window(connector, since=datetime(2026, 11, 24, 12, tzinfo=UTC),
                                            until=datetime(2026, 11, 25, 12, tzinfo=UTC))
        assert complete
        return sorted(found)

    async def test_magento(self):
        standin = MagentoStandIn(self.load("magento2/orders-search.json")["items"], token="t")
        connector = MagentoConnector(http=self.asgi(standin.app), base_url="http://standin", token="t", page_size=1)
        assert await self.listed(connector) == ["000000311"]

    async def test_ebay(self):
        standin = EbayStandIn(self.load("ebay/getOrders.json")["orders"], token="t")
        connector = EbayConnector(http=self.asgi(standin.app), token="t", base_url="http://standin", limit=1)
        assert await self.listed(connector) == ["05-27182-81828"]

    async def test_amazon(self):
        orders = self.load("amazon/getOrders.json")["payload"]["Orders"]
        items = {o["AmazonOrderId"]: self.load(f"amazon/getOrderItems.{o['AmazonOrderId']}.json")["payload"][
            "OrderItems"] for o in orders}
        standin = AmazonStandIn(orders, items, token="t")
        connector = AmazonConnector(http=self.asgi(standin.app), access_token="t", base_url="http://standin")
        assert await self.listed(connector) == ["203-7061158-2219046"]
