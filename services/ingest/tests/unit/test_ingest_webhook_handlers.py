"""Receiving channel webhooks: signature first, stored once per delivery id, then normalised and published."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingest.domain.model import IntakeKind, IntakeStatus, new_intake
from ingest.service_layer.handlers import WebhookOutcome, receive_webhook, republish_stale, webhook_intake_id
from oms_contracts import derived_id
from oms_contracts.ingest.v1 import OrderReceived

LIMIT = 100_000


@pytest.fixture
def deliver(store, bus, clock, webhook_secrets):
    """deliver(channel, account, raw, headers) -> the receipt of one webhook delivery."""

    async def run(channel, account, raw, headers, **options):
        return await receive_webhook(
            channel=channel, account=account, headers=list(headers.items()), raw=raw, secrets=webhook_secrets,
            store=store, bus=bus, clock=clock, max_body_bytes=options.pop("limit", LIMIT), **options,
        )

    return run


class TestShopifyWebhook:
    async def test_a_signed_delivery_is_stored_verbatim_then_published(self, deliver, shopify_1021, store, bus):
        statuses_at_publish = []
        bus.on_publish = lambda envelope: statuses_at_publish.append(store.only().status)
        receipt = await deliver("shopify", "fernbrook", shopify_1021.raw, shopify_1021.headers)
        assert receipt.status is IntakeStatus.PUBLISHED
        assert statuses_at_publish == [IntakeStatus.RECEIVED]
        intake = store.only()
        assert intake.intake_id == receipt.intake_id == webhook_intake_id(
            "shopify", "fernbrook", "7d3f0c9e-2b4a-4e61-9f1d-5a6b7c8d9e01")
        assert intake.body.encode("utf-8") == shopify_1021.raw
        assert (intake.kind, intake.channel, intake.account, intake.topic) == (
            IntakeKind.SHOPIFY_ORDER, "shopify", "fernbrook", "orders/create")
        assert intake.status is IntakeStatus.PUBLISHED
        [(envelope, key)] = bus.published
        assert key == "shopify:6021448801339"
        assert envelope.event_id == derived_id(intake.intake_id, "order-received") == intake.event_id
        [message] = bus.payloads(OrderReceived)
        assert message.intake_id == intake.intake_id
        assert message.order.channel_order_id == "6021448801339" and message.order.order_number == "#1021"
        assert message.channel_updated_at == datetime(2026, 11, 24, 13, 58, 5, tzinfo=UTC)

    async def test_the_published_mark_can_wait_until_after_the_answer(self, deliver, shopify_1021, store, bus):
        deferred = []
        receipt = await deliver("shopify", "fernbrook", shopify_1021.raw, shopify_1021.headers, later=deferred.append)
        assert receipt.status is IntakeStatus.PUBLISHED and len(bus.published) == 1
        assert store.only().status is IntakeStatus.RECEIVED  # answered once stored and published
        [mark] = deferred
        await mark()
        assert store.only().status is IntakeStatus.PUBLISHED and store.only().event_id == bus.published[0][0].event_id

    async def test_the_same_delivery_three_times_publishes_once(self, deliver, shopify_1021, store, bus):
        receipts = [await deliver("shopify", "fernbrook", shopify_1021.raw, shopify_1021.headers) for _ in range(3)]
        assert [r.status for r in receipts] == [IntakeStatus.PUBLISHED, WebhookOutcome.DUPLICATE,
                                                WebhookOutcome.DUPLICATE]
        assert len({r.intake_id for r in receipts}) == 1
        assert len(store.intakes) == 1 and len(bus.published) == 1

    async def test_an_update_is_a_new_delivery_and_a_newer_version(self, deliver, shopify_1021, sign, bus):
        await deliver("shopify", "fernbrook", shopify_1021.raw, shopify_1021.headers)
        data = json.loads(shopify_1021.raw)
        data["updated_at"] = "2026-11-24T14:30:00+00:00"
        raw = json.dumps(data).encode()
        headers = shopify_1021.with_headers(X_Shopify_Topic="orders/updated", X_Shopify_Webhook_Id="update-1",
                                            X_Shopify_Hmac_Sha256=sign(raw, "sample-shopify-client-secret-A"))
        receipt = await deliver("shopify", "fernbrook", raw, headers)
        assert receipt.status is IntakeStatus.PUBLISHED
        first, second = bus.payloads(OrderReceived)
        assert second.channel_updated_at > first.channel_updated_at
        assert [key for _, key in bus.published] == ["shopify:6021448801339"] * 2

    @pytest.mark.parametrize("signature", [None, "", "sXcjqVleVdPTNtGdz76qmaEkglNCP1OulBhz7cG9YwX="])
    async def test_a_missing_or_forged_signature_stores_and_publishes_nothing(
        self, deliver, shopify_1021, store, bus, signature, caplog
    ):
        headers = shopify_1021.with_headers(X_Shopify_Hmac_Sha256=signature)
        receipt = await deliver("shopify", "fernbrook", shopify_1021.raw, headers)
        assert receipt.status is WebhookOutcome.UNAUTHORIZED and receipt.intake_id is None
        assert store.intakes == {} and bus.published == []
        assert "rejected" in caplog.text and "sample-shopify-client-secret-A" not in caplog.text

    async def test_a_tampered_body_is_refused(self, deliver, shopify_1021, store, bus):
        forged = shopify_1021.raw.replace(b'"27.99"', b'"0.01"')
        receipt = await deliver("shopify", "fernbrook", forged, shopify_1021.headers)
        assert receipt.status is WebhookOutcome.UNAUTHORIZED and store.intakes == {} and bus.published == []

    @pytest.mark.parametrize("account", ["other", "unknown"])
    async def test_a_delivery_signed_for_another_account_is_refused(self, deliver, shopify_1021, store, account):
        receipt = await deliver("shopify", account, shopify_1021.raw, shopify_1021.headers)
        assert receipt.status is WebhookOutcome.UNAUTHORIZED and store.intakes == {}

    async def test_a_cancelled_order_is_stored_as_skipped_with_the_reason(self, deliver, shopify_1021, sign, store,
                                                                         bus):
        data = json.loads(shopify_1021.raw)
        data["cancelled_at"] = "2026-11-24T15:00:00+00:00"
        raw = json.dumps(data).encode()
        headers = shopify_1021.with_headers(X_Shopify_Hmac_Sha256=sign(raw, "sample-shopify-client-secret-A"))
        receipt = await deliver("shopify", "fernbrook", raw, headers)
        assert receipt.status is IntakeStatus.SKIPPED
        intake = store.only()
        assert intake.status is IntakeStatus.SKIPPED and intake.skip_reason.startswith("cancelled")
        assert bus.published == []

    async def test_another_topic_is_stored_as_skipped(self, deliver, shopify_1021, store, bus):
        headers = shopify_1021.with_headers(X_Shopify_Topic="orders/paid")
        receipt = await deliver("shopify", "fernbrook", shopify_1021.raw, headers)
        assert receipt.status is IntakeStatus.SKIPPED and "orders/paid" in store.only().skip_reason
        assert bus.published == []

    async def test_a_payload_that_cannot_be_normalised_is_kept_as_failed(self, deliver, shopify_1021, sign, store,
                                                                        bus):
        data = json.loads(shopify_1021.raw)
        data["line_items"][0]["quantity"] = 0
        raw = json.dumps(data).encode()
        headers = shopify_1021.with_headers(X_Shopify_Hmac_Sha256=sign(raw, "sample-shopify-client-secret-A"))
        receipt = await deliver("shopify", "fernbrook", raw, headers)
        assert receipt.status is IntakeStatus.FAILED and "quantity" in receipt.reason
        assert store.only().status is IntakeStatus.FAILED and store.only().body.encode() == raw
        assert bus.published == []

    async def test_when_kafka_is_down_the_delivery_stays_received_and_the_republisher_sends_it(
        self, deliver, shopify_1021, store, bus, clock
    ):
        bus.down = True
        receipt = await deliver("shopify", "fernbrook", shopify_1021.raw, shopify_1021.headers, publish_timeout=0.1)
        assert receipt.status is IntakeStatus.RECEIVED
        bus.down = False
        clock.advance(120)
        assert await republish_stale(store=store, bus=bus, clock=clock, older_than=timedelta(seconds=60)) == 1
        [(envelope, key)] = bus.published
        assert envelope.event_id == derived_id(receipt.intake_id, "order-received") and key == "shopify:6021448801339"

    async def test_a_body_over_the_limit_is_refused_unstored(self, deliver, shopify_1021, store):
        receipt = await deliver("shopify", "fernbrook", shopify_1021.raw, shopify_1021.headers, limit=1024)
        assert receipt.status is WebhookOutcome.TOO_LARGE and store.intakes == {}


class TestWooCommerceWebhook:
    async def test_a_signed_delivery_is_published(self, deliver, woocommerce_1052, store, bus):
        receipt = await deliver("woocommerce", "shop", woocommerce_1052.raw, woocommerce_1052.headers)
        assert receipt.status is IntakeStatus.PUBLISHED
        assert receipt.intake_id == webhook_intake_id("woocommerce", "shop", "2f6d4b1a9e0c7d3f5a8b6c4e2d1f0a9b")
        [(envelope, key)] = bus.published
        assert key == "woocommerce:1052"
        [message] = bus.payloads(OrderReceived)
        assert message.order.buyer.name == "Héloïse Marchand" and str(message.order.total()) == "42.84"
        assert message.channel_updated_at == datetime(2026, 11, 25, 21, 4, 2, tzinfo=UTC)

    async def test_the_same_delivery_id_twice_publishes_once(self, deliver, woocommerce_1052, store, bus):
        for _ in range(2):
            await deliver("woocommerce", "shop", woocommerce_1052.raw, woocommerce_1052.headers)
        assert len(store.intakes) == 1 and len(bus.published) == 1

    async def test_without_a_delivery_id_each_delivery_is_stored_and_orders_absorbs_the_repeat(
        self, deliver, woocommerce_1052, store, bus
    ):
        headers = woocommerce_1052.with_headers(X_WC_Webhook_Delivery_ID=None)
        for _ in range(2):
            await deliver("woocommerce", "shop", woocommerce_1052.raw, headers)
        assert len(store.intakes) == 2
        assert {key for _, key in bus.published} == {"woocommerce:1052"}
        first, second = bus.payloads(OrderReceived)
        assert first.channel_updated_at == second.channel_updated_at  # the same version: orders keeps one order

    async def test_a_status_outside_the_unprocessed_ones_is_skipped(self, deliver, woocommerce_1052, sign, store,
                                                                     bus):
        raw = woocommerce_1052.raw.replace(b'"status":"processing"', b'"status":"completed"')
        headers = woocommerce_1052.with_headers(X_WC_Webhook_Signature=sign(raw, "sample-woo-webhook-secret-A"))
        receipt = await deliver("woocommerce", "shop", raw, headers)
        assert receipt.status is IntakeStatus.SKIPPED and store.only().skip_reason.startswith("already_shipped")
        assert bus.published == []

    async def test_the_configured_statuses_decide(self, deliver, woocommerce_1052, store, bus):
        receipt = await deliver("woocommerce", "shop", woocommerce_1052.raw, woocommerce_1052.headers,
                                woocommerce_statuses=("on-hold",))
        assert receipt.status is IntakeStatus.SKIPPED and bus.published == []

    async def test_a_forged_signature_is_refused(self, deliver, woocommerce_1052, store, bus):
        headers = woocommerce_1052.with_headers(X_WC_Webhook_Signature="AAAA" + "A" * 40)
        receipt = await deliver("woocommerce", "shop", woocommerce_1052.raw, headers)
        assert receipt.status is WebhookOutcome.UNAUTHORIZED and store.intakes == {} and bus.published == []

    async def test_the_shopify_secret_does_not_sign_woocommerce(self, deliver, woocommerce_1052, sign, store):
        headers = woocommerce_1052.with_headers(
            X_WC_Webhook_Signature=sign(woocommerce_1052.raw, "sample-shopify-client-secret-A"))
        receipt = await deliver("woocommerce", "shop", woocommerce_1052.raw, headers)
        assert receipt.status is WebhookOutcome.UNAUTHORIZED

    async def test_the_unsigned_ping_is_answered_and_nothing_stored(self, deliver, store, bus):
        receipt = await deliver("woocommerce", "shop", b"webhook_id=7",
                                {"Content-Type": "application/x-www-form-urlencoded"})
        assert receipt.status is WebhookOutcome.PING and store.intakes == {} and bus.published == []

    async def test_an_unsigned_body_that_is_not_a_ping_is_refused(self, deliver, woocommerce_1052, store):
        headers = woocommerce_1052.with_headers(X_WC_Webhook_Signature=None)
        receipt = await deliver("woocommerce", "shop", woocommerce_1052.raw, headers)
        assert receipt.status is WebhookOutcome.UNAUTHORIZED and store.intakes == {}


class TestRepublishingWebhookIntakes:
    async def test_a_stale_skipped_order_is_marked_skipped_not_published(self, store, bus, clock, woocommerce_1052):
        intake, _ = new_intake(
            intake_id=uuid.uuid4(), kind=IntakeKind.WOOCOMMERCE_ORDER, channel="woocommerce", headers=[],
            raw=woocommerce_1052.raw.replace(b'"status":"processing"', b'"status":"cancelled"'),
            received_at=clock(), limit=LIMIT, account="shop", topic="order.updated",
        )
        await store.add(intake)
        clock.advance(120)
        await republish_stale(store=store, bus=bus, clock=clock, older_than=timedelta(seconds=60))
        assert store.only().status is IntakeStatus.SKIPPED and store.only().skip_reason == "cancelled"
        assert bus.published == []
