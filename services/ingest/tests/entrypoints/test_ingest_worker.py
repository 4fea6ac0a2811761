"""The re-publisher loop, and the message ingest puts on Kafka, on FastStream's in-memory broker."""

import asyncio
import json
from datetime import timedelta

from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker

from ingest.domain.model import IntakeStatus
from ingest.entrypoints.worker import run_republisher
from ingest.service_layer.handlers import receive_order
from oms_contracts import decode, derived_id, topics
from oms_contracts.ingest.v1 import OrderReceived
from oms_platform.messaging import Bus


async def until(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class TestRepublisherLoop:
    async def test_it_publishes_a_stored_order_once_kafka_is_back_then_stops_when_told(
        self, store, bus, clock, order_payload
    ):
        bus.down = True
        receipt = await receive_order(channel="demo_shop", headers=[], raw=json.dumps(order_payload()).encode(),
                                      store=store, bus=bus, clock=clock, max_body_bytes=100_000)
        clock.advance(120)
        stop = asyncio.Event()
        loop = asyncio.create_task(run_republisher(store=store, bus=bus, clock=clock,
                                                   older_than=timedelta(seconds=60), every=0.01, stop=stop))
        await asyncio.sleep(0.05)  # a few rounds fail while the broker is down; the loop keeps going
        assert store.only().status is IntakeStatus.RECEIVED and not loop.done()
        bus.down = False
        await until(lambda: store.only().status is IntakeStatus.PUBLISHED)
        stop.set()
        await asyncio.wait_for(loop, timeout=2)
        assert bus.event_ids() == [derived_id(receipt.intake_id, "order-received")]


class TestOnKafka:
    async def test_an_order_lands_on_the_ingest_events_topic_keyed_by_channel_order(
        self, store, clock, order_payload
    ):
        broker = KafkaBroker()
        received = []

        @broker.subscriber(topics.INGEST_EVENTS)
        async def collect(message: KafkaMessage) -> None:
            received.append((decode(message.body), message.raw_message.key))

        async with TestKafkaBroker(broker):
            receipt = await receive_order(
                channel="demo_shop", headers=[], raw=json.dumps(order_payload(channel_order_id="ds-9")).encode(),
                store=store, bus=Bus(broker, "ingest"), clock=clock, max_body_bytes=100_000,
            )
        [(envelope, key)] = received
        assert isinstance(envelope.payload, OrderReceived) and envelope.payload.intake_id == receipt.intake_id
        assert envelope.event_id == derived_id(receipt.intake_id, "order-received")
        assert key == b"demo_shop:ds-9"
