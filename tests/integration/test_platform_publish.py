"""The Bus on the real broker: publish_all sends a handler's events in one round trip, every one acknowledged, in
the order given (the order a consumer of the key sees them)."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from oms_contracts import decode, new_envelope, topics
from oms_contracts.inventory.v1 import StockLevelChanged
from oms_platform.messaging import Bus, ensure_topics

pytestmark = pytest.mark.integration


async def test_publish_all_returns_once_every_event_is_stored_in_order(endpoints):
    bootstrap = endpoints[0]
    await ensure_topics(bootstrap, [topics.INVENTORY_EVENTS], partitions=3)
    sku = f"PUB-{uuid.uuid4().hex[:8]}"
    envelopes = [new_envelope(StockLevelChanged(sku=sku, location="main", on_hand=n, allocated=0, available=n,
                                                reason=f"step {n}"), producer="test") for n in range(6)]
    broker = KafkaBroker(bootstrap)
    await broker.start()
    try:
        await Bus(broker, "test").publish_all([(envelope, sku) for envelope in envelopes])
    finally:
        await broker.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.INVENTORY_EVENTS, p) for p in await _partitions(bootstrap)]
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                seen += [decode(r.value) for r in records if r.key == sku.encode()]
    finally:
        await consumer.stop()
    assert [e.event_id for e in seen] == [e.event_id for e in envelopes]



async def _partitions(bootstrap: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topics.INVENTORY_EVENTS])
    finally:
        await admin.close()
    return [p["partition"] for p in described["partitions"]]
