"""Shopify and WooCommerce webhooks, signed with the samples' secrets, posted to the real ingest API, become Open
Orders; a delivery replayed three times makes one order; a forged one gets 401 and makes none."""

import base64
import hashlib
import hmac
import json
import random
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "services" / "ingest" / "tests" / "data"
# The secrets the samples were signed with; the `system` fixture configures them as INGEST_WEBHOOK_SECRETS.
SHOPIFY_SECRET = "sample-shopify-client-secret-A"
WOOCOMMERCE_SECRET = "sample-woo-webhook-secret-A"


def sample(channel: str, name: str) -> tuple[bytes, dict[str, str]]:
    """A sample delivery: the raw body exactly as signed, and its headers."""
    raw = (DATA / channel / f"{name}.body.json").read_bytes()
    return raw, json.loads((DATA / channel / f"{name}.headers.json").read_text())


def sign(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def fresh_shopify_order() -> tuple[str, bytes, dict[str, str]]:
    """Sample #1021 as a new order (its own id and webhook id), validly signed: (order id, body, headers)."""
    raw, headers = sample("shopify", "webhook-orders-create-1021")
    data = json.loads(raw)
    data["id"] = random.randint(10**12, 10**13)
    raw = json.dumps(data).encode()
    headers = {**headers, "X-Shopify-Webhook-Id": str(uuid.uuid4()), "X-Shopify-Hmac-Sha256": sign(raw, SHOPIFY_SECRET)}
    return str(data["id"]), raw, headers


class TestShopifyWebhooks:
    async def test_the_sample_posted_three_times_becomes_one_open_order_from_one_published_intake(
        self, system, ops, wait_for
    ):
        ingest, orders = system.url("ingest"), system.url("orders")
        raw, headers = sample("shopify", "webhook-orders-create-1021")
        async with httpx.AsyncClient(timeout=60) as channel:
            answers = [await channel.post(f"{ingest}/webhooks/shopify/fernbrook", content=raw, headers=headers)
                       for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
        assert [a.json()["status"] for a in answers] == ["published", "duplicate", "duplicate"]

        async def opened(channel_order_id: str):
            response = await ops.get(f"{orders}/orders/{order_id_for('shopify', channel_order_id)}")
            return response.status_code == 200 and response.json()

        order = await wait_for(lambda: opened("6021448801339"), what="Shopify order #1021 in Open Orders")
        details = order["details"]
        assert order["status"] == "open" and order["channel"] == "shopify"
        assert details["order_number"] == "#1021" and details["buyer"]["name"] == "Imogen Castellano"
        assert details["shipping_address"]["country"] == "GB" and details["paid"] is True
        assert order["currency"] == "GBP" and Decimal(order["total"]) == Decimal("27.99")
        assert [(line["sku"], line["quantity"], Decimal(line["unit_price"])) for line in details["lines"]] == [
            ("RCK-SPICE-WAL", 1, Decimal("24.00"))]

        intakes = (await ops.get(f"{ingest}/intake", params={"channel": "shopify", "limit": 500})).json()
        delivered = [i for i in intakes if i["delivery_id"] == headers["X-Shopify-Webhook-Id"]]
        assert [i["status"] for i in delivered] == ["published"]

        # A later order, once it is open, shows orders has handled everything sent before it.
        marker_id, marker_raw, marker_headers = fresh_shopify_order()
        async with httpx.AsyncClient(timeout=60) as channel:
            posted = await channel.post(f"{ingest}/webhooks/shopify/fernbrook", content=marker_raw,
                                        headers=marker_headers)
        assert posted.status_code == 200, posted.text
        await wait_for(lambda: opened(marker_id), what="the marker order posted afterwards")
        listed = (await ops.get(f"{orders}/orders", params={"limit": 500})).json()["items"]
        assert [o["channel_order_id"] for o in listed if o["channel"] == "shopify"].count("6021448801339") == 1

    async def test_a_forged_delivery_gets_401_and_makes_no_order(self, system, ops, wait_for):
        ingest, orders = system.url("ingest"), system.url("orders")
        forged_id, raw, headers = fresh_shopify_order()
        forged = raw.replace(b'"24.00"', b'"0.01"')
        async with httpx.AsyncClient(timeout=60) as channel:
            refused = await channel.post(f"{ingest}/webhooks/shopify/fernbrook", content=forged, headers=headers)
            unsigned = await channel.post(f"{ingest}/webhooks/shopify/fernbrook", content=forged,
                                          headers={k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"})
            other_account = await channel.post(f"{ingest}/webhooks/shopify/elsewhere", content=raw, headers=headers)
            assert (refused.status_code, unsigned.status_code, other_account.status_code) == (401, 401, 401)
            marker_id, marker_raw, marker_headers = fresh_shopify_order()
            assert (await channel.post(f"{ingest}/webhooks/shopify/fernbrook", content=marker_raw,
                                       headers=marker_headers)).status_code == 200

        async def opened(channel_order_id: str):
            response = await ops.get(f"{orders}/orders/{order_id_for('shopify', channel_order_id)}")
            return response.status_code == 200

        await wait_for(lambda: opened(marker_id), what="the marker order posted after the forged one")
        assert not await opened(forged_id)
        intakes = (await ops.get(f"{ingest}/intake", params={"channel": "shopify", "limit": 500})).json()
        assert headers["X-Shopify-Webhook-Id"] not in {i["delivery_id"] for i in intakes}


class TestWooCommerceWebhooks:
    async def test_the_sample_delivery_becomes_an_open_order(self, system, ops, wait_for):
        ingest, orders = system.url("ingest"), system.url("orders")
        raw, headers = sample("woocommerce", "webhook-order.created-1052")
        async with httpx.AsyncClient(timeout=60) as channel:
            answer = await channel.post(f"{ingest}/webhooks/woocommerce/shop", content=raw, headers=headers)
        assert answer.status_code == 200 and answer.json()["status"] == "published", answer.text

        async def opened():
            response = await ops.get(f"{orders}/orders/{order_id_for('woocommerce', '1052')}")
            return response.status_code == 200 and response.json()

        order = await wait_for(opened, what="WooCommerce order 1052 in Open Orders")
        assert order["details"]["buyer"]["name"] == "Héloïse Marchand"
        assert order["details"]["shipping_address"]["country"] == "FR"
        assert order["currency"] == "EUR" and Decimal(order["total"]) == Decimal("42.84")
