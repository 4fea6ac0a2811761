"""OffsetCommits: handled records' offsets committed together, never past an unhandled record, none lost to a
broker hiccup, none committed for a partition the consumer gave away."""

import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from oms_platform.messaging import OffsetCommits


class FakeConsumer:
    """What OffsetCommits uses of aiokafka's consumer: its assignment and commit(offsets)."""

    def __init__(self, *partitions: TopicPartition, failures: list[Exception] | None = None) -> None:
        self.partitions = set(partitions)
        self.failures = list(failures or [])
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.partitions

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.commits.append(dict(offsets))


A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)


def record(consumer, tp: TopicPartition, offset: int):
    return SimpleNamespace(consumer=consumer, topic=tp.topic, partition=tp.partition, offset=offset)


async def test_records_handled_within_an_interval_are_committed_together_past_the_last_one():
    consumer = FakeConsumer(A0, A1)
    commits = OffsetCommits(interval=0.05)
    for offset in range(10):
        commits.handled(record(consumer, A0, offset))
    commits.handled(record(consumer, A1, 4))
    assert consumer.commits == []  # nothing before the interval
    await asyncio.sleep(0.2)
    assert consumer.commits == [{A0: 10, A1: 5}]


async def test_each_consumer_commits_its_own_offsets():
    first, second = FakeConsumer(A0), FakeConsumer(A1)
    commits = OffsetCommits(interval=60)
    commits.handled(record(first, A0, 3))
    commits.handled(record(second, A1, 7))
    await commits.close()
    assert first.commits == [{A0: 4}] and second.commits == [{A1: 8}]


async def test_a_partition_given_away_in_a_rebalance_is_not_committed():
    consumer = FakeConsumer(A0, A1)
    commits = OffsetCommits(interval=60)
    commits.handled(record(consumer, A0, 3))
    commits.handled(record(consumer, A1, 3))
    consumer.partitions = {A1}  # A0 went to another member: it reads those records again
    await commits.flush()
    assert consumer.commits == [{A1: 4}]


async def test_a_commit_refused_by_a_rebalance_is_dropped_not_retried():
    consumer = FakeConsumer(A0, failures=[CommitFailedError("group rebalanced")])
    commits = OffsetCommits(interval=60)
    commits.handled(record(consumer, A0, 3))
    await commits.flush()
    await commits.flush()
    assert consumer.commits == [] and commits.pending == {}


async def test_a_broker_hiccup_keeps_the_offsets_for_the_next_flush_and_newer_ones_win():
    consumer = FakeConsumer(A0, A1, failures=[KafkaConnectionError("broker gone")])
    commits = OffsetCommits(interval=60)
    commits.handled(record(consumer, A0, 3))
    commits.handled(record(consumer, A1, 1))
    await commits.flush()  # refused: kept
    commits.handled(record(consumer, A0, 5))  # handled meanwhile
    await commits.flush()
    assert consumer.commits == [{A0: 6, A1: 2}]


async def test_close_commits_at_once_and_a_record_without_a_consumer_is_ignored():
    consumer = FakeConsumer(A0)
    commits = OffsetCommits(interval=60)
    commits.handled(SimpleNamespace(topic="a", partition=0, offset=1))  # FastStream's test broker
    commits.handled(record(consumer, A0, 2))
    await commits.close()
    assert consumer.commits == [{A0: 3}]
