"""Webhook secret rotation and the channel's answer time, over the HTTP route."""

import time

import httpx
import pytest
from fastapi import FastAPI

from ingest.domain.model import IntakeStatus
from ingest.domain.webhooks import WebhookSecrets
from ingest.entrypoints.api import ingest_router
from oms_platform.auth import ApiKeys

SHOPIFY_URL = "/webhooks/shopify/fernbrook"
OLD, NEW = "sample-shopify-client-secret-A", "rotated-shopify-client-secret-B"


def route(store, bus, clock, secrets: str, **options) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(ingest_router(store=store, bus=bus, keys=ApiKeys("ops:ops-key-0123456789abcdef"), clock=clock,
                                     max_body_bytes=50_000, webhook_secrets=WebhookSecrets.parse(secrets), **options))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def signed(sample, secret: str, sign, delivery: str) -> dict[str, str]:
    return sample.with_headers(X_Shopify_Hmac_Sha256=sign(sample.raw, secret), X_Shopify_Webhook_Id=delivery)


class TestSecretRotation:
    async def test_both_secrets_are_accepted_while_rotating_and_the_old_one_is_refused_after(
        self, store, bus, clock, shopify_1021, sign
    ):
        rotating = route(store, bus, clock, f'{{"shopify:fernbrook": ["{NEW}", "{OLD}"]}}')
        with_old = await rotating.post(SHOPIFY_URL, content=shopify_1021.raw,
                                       headers=signed(shopify_1021, OLD, sign, "d-old"))
        with_new = await rotating.post(SHOPIFY_URL, content=shopify_1021.raw,
                                       headers=signed(shopify_1021, NEW, sign, "d-new"))
        assert (with_old.status_code, with_new.status_code) == (200, 200)
        assert with_old.json()["status"] == "published" and with_new.json()["status"] == "published"

        # Rotation over: the setting holds only the new secret (the service restarts with it).
        rotated = route(store, bus, clock, f"shopify:fernbrook:{NEW}")
        stored, published = len(store.intakes), len(bus.published)
        late_old = await rotated.post(SHOPIFY_URL, content=shopify_1021.raw,
                                      headers=signed(shopify_1021, OLD, sign, "d-late-old"))
        assert late_old.status_code == 401
        assert (len(store.intakes), len(bus.published)) == (stored, published)
        still_new = await rotated.post(SHOPIFY_URL, content=shopify_1021.raw,
                                       headers=signed(shopify_1021, NEW, sign, "d-late-new"))
        assert still_new.status_code == 200

    def test_a_third_secret_is_refused_at_startup(self):
        with pytest.raises(ValueError, match="more than two"):
            WebhookSecrets.parse('{"shopify:fernbrook": ["a", "b", "c"]}')


class TestAnswerTime:
    async def test_with_kafka_stuck_the_webhook_is_answered_within_its_timeout_and_kept(
        self, store, bus, clock, shopify_1021
    ):
        bus.stuck = True
        client = route(store, bus, clock, f"shopify:fernbrook:{OLD}", publish_timeout=30.0,
                       webhook_publish_timeout=0.3)
        started = time.monotonic()
        answer = await client.post(SHOPIFY_URL, content=shopify_1021.raw, headers=shopify_1021.headers)
        took = time.monotonic() - started
        assert answer.status_code == 200 and answer.json()["status"] == "received"
        assert took < 2.0, f"answered after {took:.1f} s: the channel would have given up"
        assert store.only().status is IntakeStatus.RECEIVED  # the re-publisher sends it

    def test_the_webhook_timeout_setting_stays_below_shopifys_five_seconds(self, monkeypatch):
        from ingest.config import Settings

        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:27017")
        monkeypatch.setenv("OMS_API_KEYS", "ops:ops-key-0123456789abcdef")
        assert Settings().webhook_publish_timeout_seconds == 2.0
        monkeypatch.setenv("INGEST_WEBHOOK_PUBLISH_TIMEOUT_SECONDS", "5")
        with pytest.raises(ValueError):
            Settings()
