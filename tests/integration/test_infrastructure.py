"""The real infrastructure does what the services rely on: Kafka groups and commits, topic admin, unique indexes."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.integration


class TestKafka:
    async def test_admin_creates_a_topic_with_the_partitions_asked_for(self, endpoints):
        bootstrap, _ = endpoints
        topic = f"it.admin.{uuid.uuid4().hex[:8]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
            [description] = await admin.describe_topics([topic])
            assert len(description["partitions"]) == 3
        finally:
            await admin.close()

    async def test_a_group_resumes_after_its_committed_offset(self, endpoints):
        bootstrap, _ = endpoints
        topic, group = f"it.group.{uuid.uuid4().hex[:8]}", f"it-group-{uuid.uuid4().hex[:8]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        for n in range(3):
            await producer.send_and_wait(topic, f"m{n}".encode(), key=b"k")
        await producer.stop()

        first = await _consume(bootstrap, topic, group, count=2, commit=True)
        assert first == [b"m0", b"m1"]
        # A new member of the same group starts after the committed offset, not from the beginning.
        second = await _consume(bootstrap, topic, group, count=1, commit=True)
        assert second == [b"m2"]

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        offsets = await admin.list_consumer_group_offsets(group)
        await admin.close()
        assert offsets[TopicPartition(topic, 0)].offset == 3


async def _consume(bootstrap: str, topic: str, group: str, *, count: int, commit: bool) -> list[bytes]:
    """Read `count` messages as a member of `group`, committing each one's offset."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    values = []
    try:
        async for record in consumer:
            values.append(record.value)
            if commit:
                await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
            if len(values) == count:
                break
    finally:
        await consumer.stop()
    return values


class TestMongo:
    async def test_a_unique_index_rejects_a_duplicate_with_11000(self, endpoints):
        _, url = endpoints
        client = AsyncMongoClient(url)
        try:
            collection = client[f"it_{uuid.uuid4().hex[:8]}"]["things"]
            await collection.create_index([("channel", 1), ("channel_order_id", 1)], unique=True)
            await collection.insert_one({"channel": "ebay", "channel_order_id": "1"})
            with pytest.raises(DuplicateKeyError) as error:
                await collection.insert_one({"channel": "ebay", "channel_order_id": "1"})
            assert error.value.code == 11000
            assert await collection.count_documents({}) == 1
        finally:
            await client.close()

    async def test_a_versioned_replace_only_matches_the_version_read(self, endpoints):
        _, url = endpoints
        client = AsyncMongoClient(url)
        try:
            collection = client[f"it_{uuid.uuid4().hex[:8]}"]["docs"]
            await collection.insert_one({"_id": "a", "version": 1, "n": 1})
            hit = await collection.replace_one({"_id": "a", "version": 1}, {"_id": "a", "version": 2, "n": 2})
            stale = await collection.replace_one({"_id": "a", "version": 1}, {"_id": "a", "version": 2, "n": 99})
            assert (hit.matched_count, stale.matched_count) == (1, 0)
            assert (await collection.find_one({"_id": "a"}))["n"] == 2
        finally:
            await client.close()
