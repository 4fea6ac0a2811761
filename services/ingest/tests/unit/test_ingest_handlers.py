"""Receiving an order payload and re-publishing stale intakes, with a fake intake log and a recording bus."""

import json
import uuid
from datetime import timedelta

import pytest

from ingest.domain.model import IntakeKind, IntakeStatus, new_intake
from ingest.service_layer.handlers import receive_order, republish_stale
from oms_contracts import derived_id, encode
from oms_contracts.ingest.v1 import OrderReceived

LIMIT = 100_000
AFTER = timedelta(seconds=60)


async def receive(store, bus, clock, body, *, channel="demo_shop", headers=(), publish_timeout=5.0):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await receive_order(channel=channel, headers=list(headers), raw=raw, store=store, bus=bus, clock=clock,
                               max_body_bytes=LIMIT, publish_timeout=publish_timeout)


class TestReceiveOrder:
    async def test_the_payload_is_stored_verbatim_before_it_is_published(self, store, bus, clock, order_payload):
        raw = json.dumps(order_payload(), indent=1).encode()
        seen_at_publish = []
        bus.on_publish = lambda envelope: seen_at_publish.append(store.only().model_copy())
        await receive(store, bus, clock, raw, headers=[("content-type", "application/json"),
                                                       ("authorization", "Bearer secret-key")])
        [stored] = seen_at_publish
        assert stored.status is IntakeStatus.RECEIVED
        assert stored.body == raw.decode()
        assert stored.headers == [("content-type", "application/json")]

    async def test_the_order_is_published_with_an_id_derived_from_the_intake(self, store, bus, clock, order_payload):
        body = order_payload(channel_order_id="ds-42")
        receipt = await receive(store, bus, clock, body)
        [(envelope, key)] = bus.published
        assert receipt.status is IntakeStatus.PUBLISHED and receipt.rejected is None
        assert envelope.event_id == derived_id(receipt.intake_id, "order-received")
        assert envelope.correlation_id == receipt.intake_id and envelope.producer == "ingest"
        assert key == "demo_shop:ds-42"
        assert isinstance(envelope.payload, OrderReceived)
        assert envelope.payload.intake_id == receipt.intake_id and envelope.payload.order.channel_order_id == "ds-42"

    async def test_the_intake_is_then_marked_published_with_the_event_id(self, store, bus, clock, order_payload):
        receipt = await receive(store, bus, clock, order_payload())
        stored = store.only()
        assert stored.status is IntakeStatus.PUBLISHED
        assert stored.event_id == bus.event_ids()[0] and stored.published_at == clock.now
        assert receipt.intake_id == stored.intake_id

    async def test_an_invalid_payload_is_kept_as_failed_with_the_reason(self, store, bus, clock, order_payload):
        body = order_payload()
        body["shipping_address"]["country"] = "Narnia"
        receipt = await receive(store, bus, clock, body)
        stored = store.only()
        assert receipt.status is IntakeStatus.FAILED and [p.loc for p in receipt.rejected.problems] == [
            ("body", "shipping_address", "country")
        ]
        assert stored.status is IntakeStatus.FAILED and stored.error.startswith("shipping_address.country: ")
        assert json.loads(stored.body) == body
        assert bus.published == []

    async def test_a_payload_too_large_is_kept_as_failed(self, store, bus, clock):
        receipt = await receive(store, bus, clock, b"{" + b" " * LIMIT + b"}")
        assert type(receipt.rejected).__name__ == "PayloadTooLarge"
        assert store.only().status is IntakeStatus.FAILED and bus.published == []

    async def test_when_publishing_fails_the_intake_stays_received(self, store, bus, clock, order_payload):
        bus.down = True
        receipt = await receive(store, bus, clock, order_payload())
        assert receipt.status is IntakeStatus.RECEIVED and receipt.rejected is None
        assert store.only().status is IntakeStatus.RECEIVED and bus.published == []


    async def test_when_kafka_does_not_answer_in_time_the_intake_stays_received(
        self, store, bus, clock, order_payload
    ):
        bus.stuck = True
        receipt = await receive(store, bus, clock, order_payload(), publish_timeout=0.05)
        assert receipt.status is IntakeStatus.RECEIVED and store.only().status is IntakeStatus.RECEIVED


class TestRepublishStale:
    async def test_an_unpublished_intake_is_published_later_with_the_same_event_id(
        self, store, bus, clock, order_payload
    ):
        bus.down = True
        receipt = await receive(store, bus, clock, order_payload())
        bus.down = False
        clock.advance(61)
        assert await republish_stale(store=store, bus=bus, clock=clock, older_than=AFTER) == 1
        [(envelope, key)] = bus.published
        assert envelope.event_id == derived_id(receipt.intake_id, "order-received")
        assert store.only().status is IntakeStatus.PUBLISHED and store.only().event_id == envelope.event_id

    async def test_the_republished_message_is_exactly_the_one_the_request_would_have_sent(
        self, store, bus, clock, order_payload
    ):
        body = order_payload()
        await receive(store, bus, clock, body)
        sent_by_request = bus.published[0]
        intake = store.only()
        store.intakes[intake.intake_id] = intake.model_copy(update={"status": IntakeStatus.RECEIVED})
        clock.advance(3600)
        await republish_stale(store=store, bus=bus, clock=clock, older_than=AFTER)
        resent = bus.published[1]
        assert (encode(resent[0]), resent[1]) == (encode(sent_by_request[0]), sent_by_request[1])

    async def test_a_recent_intake_is_left_to_its_request(self, store, bus, clock, order_payload):
        bus.down = True
        await receive(store, bus, clock, order_payload())
        bus.down = False
        clock.advance(59)
        assert await republish_stale(store=store, bus=bus, clock=clock, older_than=AFTER) == 0
        assert store.only().status is IntakeStatus.RECEIVED and bus.published == []

    async def test_published_and_failed_intakes_are_left_alone(self, store, bus, clock, order_payload):
        await receive(store, bus, clock, order_payload())
        await receive(store, bus, clock, b"not json")
        clock.advance(3600)
        assert await republish_stale(store=store, bus=bus, clock=clock, older_than=AFTER) == 0
        assert len(bus.published) == 1

    async def test_a_stored_payload_that_cannot_be_normalised_is_marked_failed(self, store, bus, clock, order_payload):
        # As if the API stopped between storing the payload and reading it.
        intake, _ = new_intake(intake_id=uuid.uuid4(), kind=IntakeKind.ORDER, channel="demo_shop", headers=[],
                               raw=json.dumps(order_payload(channel="other")).encode(), received_at=clock(),
                               limit=LIMIT)
        await store.add(intake)
        clock.advance(3600)
        assert await republish_stale(store=store, bus=bus, clock=clock, older_than=AFTER) == 0
        assert store.only().status is IntakeStatus.FAILED and "does not match" in store.only().error
        assert bus.published == []

    async def test_while_the_broker_is_down_intakes_stay_received(self, store, bus, clock, order_payload):
        bus.down = True
        await receive(store, bus, clock, order_payload())
        clock.advance(3600)
        with pytest.raises(ConnectionError):
            await republish_stale(store=store, bus=bus, clock=clock, older_than=AFTER)
        assert store.only().status is IntakeStatus.RECEIVED

    async def test_a_request_finishing_after_the_republisher_changes_nothing(self, store, bus, clock, order_payload):
        bus.down = True
        receipt = await receive(store, bus, clock, order_payload())
        bus.down = False
        clock.advance(3600)
        await republish_stale(store=store, bus=bus, clock=clock, older_than=AFTER)
        marked_by_republisher = store.only()
        # The slow request's own guarded update now finds the intake no longer `received`.
        assert not await store.mark_failed(receipt.intake_id, error="late")
        assert not await store.mark_published(receipt.intake_id, event_id=bus.event_ids()[0], at=clock())
        assert store.only() == marked_by_republisher


class TestReadingAFailedPayloadAgain:
    """After staff ask for a retry, the re-publisher reads the payload with today's code."""

    async def test_still_unreadable_it_fails_again_with_the_reason_and_the_history_stays(
        self, store, bus, clock, order_payload
    ):
        body = order_payload(channel_order_id="ds-bad")
        body["lines"][0]["quantity"] = 0
        receipt = await receive_order(channel="demo_shop", headers=[], raw=json.dumps(body).encode(), store=store,
                                      bus=bus, clock=clock, max_body_bytes=100_000)
        assert await store.mark_for_retry(receipt.intake_id, by="ops-key-1", at=clock())
        clock.advance(seconds=120)
        assert await republish_stale(store=store, bus=bus, clock=clock, older_than=timedelta(seconds=60)) == 0
        intake = store.intakes[receipt.intake_id]
        assert intake.status is IntakeStatus.FAILED and "quantity" in intake.error and len(intake.retries) == 1
        assert bus.published == []

    async def test_readable_after_a_fix_it_is_published(self, store, bus, clock, order_payload, monkeypatch):
        body = order_payload(channel_order_id="ds-fixed")
        body["lines"][0]["quantity"] = 0
        receipt = await receive_order(channel="demo_shop", headers=[], raw=json.dumps(body).encode(), store=store,
                                      bus=bus, clock=clock, max_body_bytes=100_000)
        from ingest.service_layer import handlers

        fixed = order_payload(channel_order_id="ds-fixed")
        real = handlers.normalise
        # the "fix": a normaliser that now reads the stored payload (as a code or mapping fix would)
        monkeypatch.setattr(handlers, "normalise", lambda intake, **kw: real(
            intake.model_copy(update={"body": json.dumps(fixed)}), **kw))
        assert await store.mark_for_retry(receipt.intake_id, by="ops-key-1", at=clock())
        clock.advance(seconds=120)
        assert await republish_stale(store=store, bus=bus, clock=clock, older_than=timedelta(seconds=60)) == 1
        assert store.intakes[receipt.intake_id].status is IntakeStatus.PUBLISHED
        assert [e.payload.order.channel_order_id for e, _ in bus.published] == ["ds-fixed"]
