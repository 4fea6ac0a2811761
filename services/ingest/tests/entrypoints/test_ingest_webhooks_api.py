"""The webhook routes over HTTP: signature before anything, 401 for forgeries, 200 for everything kept."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from ingest.domain.model import IntakeStatus
from ingest.entrypoints.api import ingest_router
from oms_contracts.ingest.v1 import OrderReceived
from oms_platform.auth import ApiKeys

OPS_KEY = "ops-key-0123456789abcdef"
SHOPIFY_URL = "/webhooks/shopify/fernbrook"
WOOCOMMERCE_URL = "/webhooks/woocommerce/shop"


@pytest.fixture
def client(store, bus, clock, webhook_secrets):
    app = FastAPI()
    app.include_router(ingest_router(store=store, bus=bus, keys=ApiKeys(f"ops:{OPS_KEY}"), clock=clock,
                                     max_body_bytes=50_000, webhook_secrets=webhook_secrets))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class TestShopifyWebhookRoute:
    async def test_a_signed_delivery_needs_no_bearer_key_and_is_published(self, client, shopify_1021, store, bus):
        response = await client.post(SHOPIFY_URL, content=shopify_1021.raw, headers=shopify_1021.headers)
        assert response.status_code == 200
        answer = response.json()
        assert answer["status"] == "published" and answer["status_url"] == f"/intake/{answer['intake_id']}"
        assert bus.payloads(OrderReceived)[0].order.channel_order_id == "6021448801339"
        assert store.intakes[uuid.UUID(answer["intake_id"])].body.encode() == shopify_1021.raw

    async def test_posted_three_times_it_is_stored_and_published_once(self, client, shopify_1021, store, bus):
        answers = [
            (await client.post(SHOPIFY_URL, content=shopify_1021.raw, headers=shopify_1021.headers))
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.json()["status"] for a in answers] == ["published", "duplicate", "duplicate"]
        assert len(store.intakes) == 1 and len(bus.published) == 1

    @pytest.mark.parametrize("signature", [None, "forged", "AxhhvaViIKB5DZhcUentZlzh1xazbXOjfzFH+c2YFJk="])
    async def test_a_forged_or_missing_signature_gets_401_and_nothing_happens(
        self, client, shopify_1021, store, bus, signature
    ):
        headers = shopify_1021.with_headers(X_Shopify_Hmac_Sha256=signature)
        response = await client.post(SHOPIFY_URL, content=shopify_1021.raw, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "invalid webhook signature"}
        assert store.intakes == {} and bus.published == []

    async def test_the_right_signature_for_the_wrong_account_gets_401(self, client, shopify_1021, store):
        response = await client.post("/webhooks/shopify/other", content=shopify_1021.raw,
                                     headers=shopify_1021.headers)
        assert response.status_code == 401 and store.intakes == {}

    async def test_a_channel_without_webhooks_is_refused(self, client, shopify_1021):
        response = await client.post("/webhooks/ebay/fernbrook", content=shopify_1021.raw,
                                     headers=shopify_1021.headers)
        assert response.status_code == 422

    async def test_a_payload_that_cannot_be_normalised_is_answered_200_and_listed_as_failed(
        self, client, shopify_1021, sign, store, bus
    ):
        raw = shopify_1021.raw.replace(b'"country_code":"GB"', b'"country_code":"UK"')
        headers = shopify_1021.with_headers(X_Shopify_Hmac_Sha256=sign(raw, "sample-shopify-client-secret-A"))
        response = await client.post(SHOPIFY_URL, content=raw, headers=headers)
        assert response.status_code == 200 and response.json()["status"] == "failed"
        assert "country_code" in response.json()["reason"]
        listed = await client.get("/intake?status=failed&channel=shopify",
                                  headers={"Authorization": f"Bearer {OPS_KEY}"})
        [item] = listed.json()
        assert item["account"] == "fernbrook" and item["delivery_id"] == shopify_1021.headers["X-Shopify-Webhook-Id"]
        assert bus.published == []

    async def test_the_intake_shows_the_topic_and_never_a_secret(
        self, client, shopify_1021, store
    ):
        response = await client.post(SHOPIFY_URL, content=shopify_1021.raw, headers=shopify_1021.headers)
        shown = await client.get(response.json()["status_url"], headers={"Authorization": f"Bearer {OPS_KEY}"})
        assert shown.status_code == 200 and shown.json()["topic"] == "orders/create"
        assert "sample-shopify-client-secret-A" not in shown.text


class TestWooCommerceWebhookRoute:
    async def test_a_signed_delivery_is_published(self, client, woocommerce_1052, bus):
        response = await client.post(WOOCOMMERCE_URL, content=woocommerce_1052.raw, headers=woocommerce_1052.headers)
        assert response.status_code == 200 and response.json()["status"] == "published"
        assert [key for _, key in bus.published] == ["woocommerce:1052"]

    async def test_a_skipped_status_is_answered_200_with_the_reason(self, client, woocommerce_1052, sign, store):
        raw = woocommerce_1052.raw.replace(b'"status":"processing"', b'"status":"pending"')
        headers = woocommerce_1052.with_headers(X_WC_Webhook_Signature=sign(raw, "sample-woo-webhook-secret-A"))
        response = await client.post(WOOCOMMERCE_URL, content=raw, headers=headers)
        assert response.status_code == 200 and response.json()["status"] == "skipped"
        assert store.only().status is IntakeStatus.SKIPPED

    async def test_the_ping_is_answered_200(self, client, store):
        response = await client.post(WOOCOMMERCE_URL, content=b"webhook_id=7",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200 and response.json()["status"] == "ping" and store.intakes == {}

    async def test_a_forged_delivery_gets_401(self, client, woocommerce_1052, store, bus):
        forged = woocommerce_1052.raw.replace(b'"total":"42.84"', b'"total":"4.84"')
        response = await client.post(WOOCOMMERCE_URL, content=forged, headers=woocommerce_1052.headers)
        assert response.status_code == 401 and store.intakes == {} and bus.published == []
