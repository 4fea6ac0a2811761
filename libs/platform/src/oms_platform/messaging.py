"""Kafka plumbing: publishing envelopes, and consumers that retry, then dead-letter what can never succeed.

Offsets are committed only after the handler's effect is stored: a crash before that means redelivery, so every
handler must be idempotent. They are committed together every COMMIT_INTERVAL_SECONDS (`OffsetCommits`), not one
broker round trip per record.

Retries: an infrastructure error (the database or the broker unreachable, see `is_transient`) is retried
without limit, with capped backoff: the consumer holds its partition until the outage is over, so a good message
is never dead-lettered because MongoDB or Kafka was down. Any other error is retried `max_attempts` times, then
dead-lettered; a PermanentError or an undecodable record is dead-lettered at once.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure
from tenacity import AsyncRetrying, RetryCallState, retry_if_not_exception_type, wait_exponential

from oms_contracts import ContractError, DeadLetter, Envelope, Message, decode, encode, new_envelope
from oms_contracts.topics import dlq
from oms_platform.observability import DEAD_LETTERS, MESSAGES, correlation_id, handling

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

PARTITION_WORKERS = 3  # consumers per subscription (FastStream's ConcurrentBetweenPartitionsSubscriber)
COMMIT_INTERVAL_SECONDS = 0.5


async def whole_message(message: KafkaMessage) -> KafkaMessage:
    """Every subscriber's decoder: the handler is given the message itself (record, body, nack).

    With `connect`'s broker (no FastStream injection) this is how a handler gets it. Asking for it by annotation
    instead made FastStream resolve it in a worker thread for every record: a tenth of a worker's CPU went to
    that thread hop.
    """
    return message


class PermanentError(Exception):
    """A message that can never succeed however often it is retried: it goes straight to the DLQ."""


def is_transient(exc: BaseException) -> bool:
    """True for an infrastructure error that goes away when the database or the broker is back (or less busy):
    PyMongo's ConnectionFailure (AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError), a database busy with
    other writers (`_database_busy`), a retriable Kafka error or a Kafka timeout, a refused or reset connection.
    Looks through the exception's causes (`raise ... from exc`)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PermanentError):
            return False
        if isinstance(exc, (ConnectionFailure, KafkaTimeoutError, ConnectionError)) or _database_busy(exc):
            return True
        if isinstance(exc, KafkaError) and exc.retriable:
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


# MongoDB's LockTimeout and WriteConflict: the same write succeeds once the other writer is done.
_BUSY_CODES = frozenset({24, 112})


def _database_busy(exc: BaseException) -> bool:
    """A write the database refused only because others held its lock: MongoDB's busy codes or a retryable-write
    label, or FerretDB's SQLite write lock still taken after its busy timeout ("database is locked (5)
    (SQLITE_BUSY)", code 1), which a loaded machine meets under a burst."""
    if not isinstance(exc, OperationFailure) or isinstance(exc, DuplicateKeyError):
        return False
    return (exc.code in _BUSY_CODES or exc.has_error_label("RetryableWriteError")
            or "SQLITE_BUSY" in str(exc))


class RetryPolicy:
    """When a consumer stops retrying a message: never on an infrastructure error (the partition waits for the
    outage to end), after `max_attempts` failures of any other kind (transient failures do not count)."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts
        self.failures = 0  # failures that were not infrastructure errors

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is None or is_transient(exc):
            return False
        self.failures += 1
        return self.failures >= self.max_attempts


def _log_retry(state: RetryCallState) -> None:
    """An infrastructure error is logged at each retry, so a long outage shows in the logs while it lasts."""
    exc = state.outcome.exception() if state.outcome is not None else None
    if exc is not None and is_transient(exc):
        log.warning("infrastructure error (attempt %d), retrying until it is back: %s: %s",
                    state.attempt_number, type(exc).__name__, exc)


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
        await self._send(envelope, key=key, confirm=True)

    async def publish_all(self, envelopes: Iterable[tuple[Envelope, str]]) -> None:
        """Send (envelope, key) pairs in order, then wait for every acknowledgement: one round trip for all of
        them (the producer keeps each partition's records in the order they were sent)."""
        acks = [await self._send(envelope, key=key, confirm=False) for envelope, key in envelopes]
        await asyncio.gather(*(ack for ack in acks if ack is not None))  # FastStream's test broker gives None

    async def _send(self, envelope: Envelope, *, key: str, confirm: bool) -> Any:
        """Hand one envelope to the producer; without `confirm`, the future of its acknowledgement."""
        return await self.broker.publish(
            encode(envelope),
            topic=envelope.payload.TOPIC,
            key=key.encode(),
            headers={"type": envelope.type, "event_id": str(envelope.event_id)},
            no_confirm=not confirm,
        )


def _current_correlation() -> uuid.UUID | None:
    """The correlation id of the request being answered, when it is a UUID (ours always are)."""
    try:
        return uuid.UUID(correlation_id.get() or "")
    except ValueError:
        return None


class OffsetCommits:
    """The offsets of handled records, committed for each consumer every `interval` seconds.

    Committing after every record (FastStream's acks) cost a broker round trip per record: ~6 ms of the handler's
    time and about three times the broker CPU of producing the record. Only records already handled (or
    dead-lettered) are noted, and each consumer handles its partitions in order, so a committed offset never passes
    an unhandled record: a crash or a rebalance re-delivers at most the last interval's records, which the
    idempotent handlers ignore. Offsets of partitions a consumer no longer holds are dropped (their new owner
    reads those records again); a broker that cannot take the commit gets it again at the next flush.
    """

    def __init__(self, interval: float = COMMIT_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.pending: dict[AIOKafkaConsumer, dict[TopicPartition, int]] = {}
        self._flusher: asyncio.Task | None = None

    def handled(self, record: Any) -> None:
        """Note a handled record; the flusher commits past it within `interval` seconds."""
        consumer = getattr(record, "consumer", None)
        if consumer is None:
            return  # FastStream's test broker: no consumer, no offsets
        self.pending.setdefault(consumer, {})[TopicPartition(record.topic, record.partition)] = record.offset + 1
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not asyncio.get_running_loop():
            self._flusher = asyncio.create_task(self._flush_every_interval())

    async def flush(self) -> None:
        """Commit every pending offset now."""
        pending, self.pending = self.pending, {}
        await asyncio.gather(*(self._commit(consumer, offsets) for consumer, offsets in pending.items()))

    async def close(self) -> None:
        """Flush and stop the flusher (at shutdown, while the consumers still run)."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await self.flush()

    async def _flush_every_interval(self) -> None:
        while self.pending:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        held = {tp: offset for tp, offset in offsets.items() if tp in consumer.assignment()}
        if not held:
            return
        try:
            await consumer.commit(held)
        except Exception as exc:  # noqa: BLE001 - a commit that fails only means those records are read again
            retry = is_transient(exc)
            if retry:
                newer = self.pending.setdefault(consumer, {})
                for tp, offset in held.items():
                    newer.setdefault(tp, offset)
            log.warning("offsets not committed (%s: %s); %s", type(exc).__name__, exc,
                        "tried again at the next flush" if retry else "their records will be read again")


offset_commits = OffsetCommits()


def subscribe(
    broker: KafkaBroker,
    topic: str,
    *,
    group_id: str,
    handler: Handler,
    max_attempts: int = 5,
    max_backoff_seconds: float = 5.0,
) -> None:
    """Consume `topic` in `group_id`: decode, run `handler`, retry (without limit on infrastructure errors, else
    `max_attempts` times, backoff capped at `max_backoff_seconds`), dead-letter what never succeeds."""

    async def on_message(message: KafkaMessage) -> None:
        try:
            await handle(message)
        except Exception:  # as NACK_ON_ERROR; a cancelled handler (shutdown) notes nothing, so it is read again anyway
            await message.nack()  # read it again: no offset past it is noted before it is handled
            raise
        offset_commits.handled(message.raw_message)

    async def handle(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            envelope = decode(message.body)
        except ContractError as exc:
            await dead_letter(broker, record, group_id, reason=str(exc), attempts=1)
            MESSAGES.labels(record.topic, "undecodable", "dead_lettered").inc()
            return
        attempts = 0
        with handling(record.topic, envelope.type, str(envelope.correlation_id)):
            try:
                async for attempt in AsyncRetrying(
                    stop=RetryPolicy(max_attempts),
                    wait=wait_exponential(multiplier=0.1, max=max_backoff_seconds),
                    retry=retry_if_not_exception_type(PermanentError),
                    before_sleep=_log_retry,
                    reraise=True,
                ):
                    with attempt:
                        attempts += 1
                        await handler(envelope)
            except Exception as exc:  # noqa: BLE001 - every failure must end in the DLQ with its reason
                log.exception("giving up on %s %s after %d attempts", envelope.type, envelope.event_id, attempts)
                await dead_letter(
                    broker, record, group_id, reason=f"{type(exc).__name__}: {exc}", attempts=attempts
                )
                MESSAGES.labels(record.topic, envelope.type, "dead_lettered").inc()
                return
        MESSAGES.labels(record.topic, envelope.type, "handled").inc()

    broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.MANUAL,  # offset_commits commits what on_message handled
        decoder=whole_message,
        auto_offset_reset="earliest",
        max_poll_records=50,
        # One consumer per partition (OMS_TOPIC_PARTITIONS, 3 by default) in this group, each handling its own
        # partitions in order: a key still has one consumer at a time (one writer per document, as with more worker
        # processes), but partitions no longer wait for each other's Mongo and Kafka round trips.
        max_workers=PARTITION_WORKERS,
    )(on_message)


async def dead_letter(broker: KafkaBroker, record, group_id: str, *, reason: str, attempts: int) -> None:
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
