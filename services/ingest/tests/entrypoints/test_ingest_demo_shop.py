"""The demo shop, a Shopify stand-in: the orders it makes (read by the real Shopify normaliser), the signed webhooks
it sends (verified by the real signature check), where it may send them, and its Admin API (polled and fulfilled
through the real connector and write-back)."""

import json
import random
import threading
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from ingest.__main__ import main as ingest_main
from ingest.connectors.base import ShipmentNotice
from ingest.connectors.registry import build_connector, build_writeback
from ingest.domain.channel_orders import normalise_shopify_order
from ingest.domain.channels import ChannelConfig
from ingest.domain.webhooks import WebhookSecrets, signature_matches
from ingest.entrypoints.demo_shop import DemoShop, loopback_url, random_order, run_demo_shop, webhook

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CURRENCY = {"GB": "GBP", "DE": "EUR", "FR": "EUR"}
SECRET = "demo-secret-0123456789"


class TestDemoOrders:
    @pytest.mark.parametrize("seed", range(50))
    def test_every_order_is_a_shopify_order_the_webhook_normaliser_takes(self, seed):
        body = random_order(random.Random(seed), now=NOW, paid=seed % 4 != 0)
        order, updated_at = normalise_shopify_order(json.dumps(body))  # raises if it does not add up
        assert order.channel == "shopify" and order.channel_order_id == str(body["id"])
        assert order.paid is (seed % 4 != 0) and updated_at == NOW
        assert {line.sku for line in order.lines} <= {"DEMO-MUG", "DEMO-TEE", "DEMO-CAP"}
        assert order.shipping_address.country in CURRENCY
        assert order.currency == CURRENCY[order.shipping_address.country]
        assert order.total() == Decimal(body["total_price"])

    def test_orders_are_different_from_each_other(self):
        rng = random.Random(7)
        ids = {random_order(rng, now=NOW)["id"] for _ in range(200)}
        assert len(ids) == 200

    def test_all_three_countries_skus_and_the_discount_come_up(self):
        rng = random.Random(3)
        orders = [random_order(rng, now=NOW) for _ in range(100)]
        assert {o["shipping_address"]["country_code"] for o in orders} == {"GB", "DE", "FR"}
        assert {line["sku"] for o in orders for line in o["line_items"]} == {"DEMO-MUG", "DEMO-TEE", "DEMO-CAP"}
        assert any(o["discount_codes"] for o in orders)


class TestWebhooks:
    def test_a_delivery_is_signed_with_the_secret_over_its_raw_body(self):
        order = random_order(random.Random(1), now=NOW)
        raw, headers = webhook(order, topic="orders/create", secret=SECRET, account="demo")
        assert json.loads(raw) == order
        assert signature_matches(raw, headers["X-Shopify-Hmac-Sha256"], (SECRET,))
        assert not signature_matches(raw, headers["X-Shopify-Hmac-Sha256"], ("another-secret",))
        assert headers["X-Shopify-Topic"] == "orders/create" and headers["X-Shopify-Shop-Domain"] == "demo.myshopify.com"
        assert headers["X-Shopify-Webhook-Id"]


class TestWhereItPosts:
    @pytest.mark.parametrize("url", ["http://127.0.0.1:8101", "http://localhost:8101/", "http://[::1]:8101",
                                     "http://127.0.0.2:9000"])
    def test_this_machine_is_allowed(self, url):
        assert loopback_url(url) == url.rstrip("/")

    @pytest.mark.parametrize("url", ["http://example.com:8101", "http://10.0.0.5:8101", "https://8.8.8.8",
                                     "ftp://127.0.0.1/", "127.0.0.1:8101"])
    def test_anything_else_is_refused(self, url):
        with pytest.raises(ValueError):
            loopback_url(url)

    def test_the_command_line_refuses_a_remote_api(self, capsys, monkeypatch):
        monkeypatch.setenv("DEMO_SHOP_WEBHOOK_SECRET", SECRET)
        with pytest.raises(SystemExit) as exit_:
            ingest_main(["demo-shop", "--api", "http://example.com:8101", "--count", "1"])
        assert exit_.value.code == 2 and "only posts to this machine" in capsys.readouterr().err

    def test_the_command_line_needs_the_secret_from_the_environment(self, capsys, monkeypatch):
        monkeypatch.delenv("DEMO_SHOP_WEBHOOK_SECRET", raising=False)
        with pytest.raises(SystemExit) as exit_:
            ingest_main(["demo-shop", "--count", "1"])
        assert exit_.value.code == 2 and "DEMO_SHOP_WEBHOOK_SECRET" in capsys.readouterr().err


class FakeIngest:
    """An httpx transport standing in for ingest's webhook endpoint: checks the signature like ingest does,
    answers duplicates of a webhook id it has seen, records every delivery."""

    def __init__(self) -> None:
        self.secrets = WebhookSecrets.parse(f"shopify:demo:{SECRET}")
        self.deliveries: list[httpx.Request] = []
        self.seen: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.deliveries.append(request)
        if not signature_matches(request.content, request.headers.get("x-shopify-hmac-sha256"),
                                 self.secrets.of("shopify", "demo")):
            return httpx.Response(401, json={"detail": "invalid webhook signature"})
        webhook_id = request.headers["x-shopify-webhook-id"]
        status = "duplicate" if webhook_id in self.seen else "published"
        self.seen.add(webhook_id)
        return httpx.Response(200, json={"intake_id": "i", "status": status, "reason": None})


class TestTheLoop:
    def run(self, ingest, *, count, stop=None, api="http://127.0.0.1:8101", lines=None, secret=SECRET, shop=None):
        return run_demo_shop(api=api, account="demo", secret=secret, every=0, count=count, rng=random.Random(1),
                             stop=stop or threading.Event(), shop=shop, transport=httpx.MockTransport(ingest),
                             say=(lines if lines is not None else []).append)

    def test_it_sends_signed_webhooks_with_updates_and_duplicates_then_stops(self):
        ingest = FakeIngest()
        run = self.run(ingest, count=30)
        assert run.orders == 30 and run.accepted == run.posted == len(ingest.deliveries)
        by_topic: dict[str, list[httpx.Request]] = {}
        for request in ingest.deliveries:
            assert str(request.url) == "http://127.0.0.1:8101/webhooks/shopify/demo"
            assert "authorization" not in request.headers  # the signature is the authentication
            by_topic.setdefault(request.headers["x-shopify-topic"], []).append(request)
        creates, updates = by_topic["orders/create"], by_topic["orders/updated"]
        ids = [r.headers["x-shopify-webhook-id"] for r in creates]
        assert len(set(ids)) == 30 and len(ids) > 30, "some deliveries are sent twice with the same webhook id"
        created = {json.loads(r.content)["id"]: json.loads(r.content) for r in creates}
        for request in updates:
            update = json.loads(request.content)
            assert created[update["id"]]["financial_status"] == "pending" and update["financial_status"] == "paid"
            assert update["updated_at"] > created[update["id"]]["updated_at"]
        assert updates and {o["financial_status"] for o in created.values()} == {"paid", "pending"}

    def test_a_wrong_secret_is_refused_and_reported(self):
        ingest, lines = FakeIngest(), []
        run = self.run(ingest, count=1, lines=lines, secret="not-the-secret")
        assert run.accepted == 0 and "refused 401" in lines[0]

    def test_it_stops_early_when_told(self):
        ingest = FakeIngest()
        stop = threading.Event()
        stop.set()
        assert self.run(ingest, count=5, stop=stop).posted == 0 and ingest.deliveries == []

    def test_it_never_posts_to_another_machine(self):
        ingest = FakeIngest()
        with pytest.raises(ValueError):
            self.run(ingest, count=1, api="http://192.0.2.10:8101")
        assert ingest.deliveries == []


class TestTheShopsAdminApi:
    async def test_its_orders_are_polled_and_fulfilled_through_the_shopify_connector_and_write_back(self):
        shop = DemoShop(access_token="shpat_demo")
        self_run = TestTheLoop().run(FakeIngest(), count=3, shop=shop)
        assert self_run.orders == 3
        config = ChannelConfig(channel_id="demo-shop", name="Demo shop", kind="shopify", account="demo",
                               url="http://demo", credentials={"access_token": "env:TOKEN"})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shop.app), base_url="http://demo") as http:
            connector = build_connector(config, http=http, environ={"TOKEN": "shpat_demo"})
            page = await connector.fetch(None)
            assert len(page.orders) == 3 and not page.more
            first = page.orders[0]
            writeback = build_writeback(config, http=http, environ={"TOKEN": "shpat_demo"})
            await writeback.confirm_shipment(ShipmentNotice(
                channel_order_id=first.channel_order_id, carrier="Royal Mail", tracking_number="OM1GB",
                shipped_at=NOW))
            [shipped] = shop.shipped(now=NOW)
            assert str(shipped["id"]) == first.channel_order_id and shop.tracking_of(shipped) == "OM1GB"
            assert shop.shipped(now=NOW) == []
            later = await connector.fetch(None)
            assert first.channel_order_id not in {o.channel_order_id for o in later.orders}  # shipped: not listed
