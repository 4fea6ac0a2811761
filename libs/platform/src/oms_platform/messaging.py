"""Kafka plumbing: publishing envelopes, and consumers that retry a bounded number of times, then dead-letter.

Offsets are committed only after the handler's effect is stored (FastStream's NACK_ON_ERROR): a crash
before that means redelivery, so every handler must be idempotent.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from oms_contracts import ContractError, DeadLetter, Envelope, Message, decode, encode, new_envelope
from oms_contracts.topics import dlq
from oms_platform.observability import DEAD_LETTERS, MESSAGES, correlation_id, handling

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

PARTITION_WORKERS = 3  # consumers per subscription (FastStream's ConcurrentBetweenPartitionsSubscriber)


class PermanentError(Exception):
    """A message that can never succeed however often it is retried: it goes straight to the DLQ."""


class Bus:
    """Publishes envelopes to their payload's topic, keyed by the aggregate id."""

    def __init__(self, broker: KafkaBroker, producer: str) -> None:
        self.broker = broker
        self.producer = producer

    def envelope(self, payload: Message, *, cause: Envelope | None = None, **kwargs) -> Envelope:
        """Wrap a payload as sent by this service; without a cause it carries the current request's correlation id."""
        if cause is None and "correlation_id" not in kwargs:
            kwargs["correlation_id"] = _current_correlation()
        return new_envelope(payload, producer=self.producer, cause=cause, **kwargs)

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        """Send one envelope and wait for the broker's acknowledgement."""
        await self.broker.publish(
            encode(envelope),
            topic=envelope.payload.TOPIC,
            key=key.encode(),
            headers={"type": envelope.type, "event_id": str(envelope.event_id)},
        )

    async def publish_all(self, envelopes: Iterable[tuple[Envelope, str]]) -> None:
        """Send (envelope, key) pairs in order."""
        for envelope, key in envelopes:
            await self.publish(envelope, key=key)


def _current_correlation() -> uuid.UUID | None:
    """The correlation id of the request being answered, when it is a UUID (ours always are)."""
    try:
        return uuid.UUID(correlation_id.get() or "")
    except ValueError:
        return None


def subscribe(
    broker: KafkaBroker,
    topic: str,
    *,
    group_id: str,
    handler: Handler,
    max_attempts: int = 5,
    max_backoff_seconds: float = 5.0,
) -> None:
    """Consume `topic` in `group_id`: decode, run `handler` with bounded retries, dead-letter what never succeeds."""

    async def on_message(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            envelope = decode(message.body)
        except ContractError as exc:
            await _dead_letter(broker, record, group_id, reason=str(exc), attempts=1)
            MESSAGES.labels(record.topic, "undecodable", "dead_lettered").inc()
            return
        attempts = 0
        with handling(record.topic, envelope.type, str(envelope.correlation_id)):
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(max_attempts),
                    wait=wait_exponential(multiplier=0.1, max=max_backoff_seconds),
                    retry=retry_if_not_exception_type(PermanentError),
                    reraise=True,
                ):
                    with attempt:
                        attempts += 1
                        await handler(envelope)
            except Exception as exc:  # noqa: BLE001 - every failure must end in the DLQ with its reason
                log.exception("giving up on %s %s after %d attempts", envelope.type, envelope.event_id, attempts)
                await _dead_letter(
                    broker, record, group_id, reason=f"{type(exc).__name__}: {exc}", attempts=attempts
                )
                MESSAGES.labels(record.topic, envelope.type, "dead_lettered").inc()
                return
        MESSAGES.labels(record.topic, envelope.type, "handled").inc()

    broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_poll_records=50,
        # One consumer per partition (OMS_TOPIC_PARTITIONS, 3 by default) in this group, each handling its own
        # partitions in order: a key still has one consumer at a time (one writer per document, as with more worker
        # processes), but partitions no longer wait for each other's Mongo and Kafka round trips.
        max_workers=PARTITION_WORKERS,
    )(on_message)


async def _dead_letter(broker: KafkaBroker, record, group_id: str, *, reason: str, attempts: int) -> None:
    """Write the failed record and its reason to `<topic>.dlq`; if that fails, raise so the offset is not committed."""
    log.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
    letter = DeadLetter(
        reason=reason,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        value=(record.value or b"").decode(errors="replace"),
        consumer_group=group_id,
        failed_at=datetime.now(UTC),
        attempts=attempts,
    )
    await broker.publish(letter.model_dump_json().encode(), topic=dlq(record.topic), key=record.key)
    DEAD_LETTERS.labels(record.topic, group_id).inc()


async def ensure_topics(bootstrap_servers: str, topics: Iterable[str], *, partitions: int) -> None:
    """Create the topics that do not exist yet (an existing topic is left as it is)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another service created it between our list and create
    finally:
        await admin.close()
