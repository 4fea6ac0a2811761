"""subscribe()'s retry policy: a database or broker outage never dead-letters a good message (retried without
limit, capped backoff), while a poison message still goes to the DLQ at once and a bug after max_attempts."""

import uuid

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RecordTooLargeError
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pymongo.errors import (
    AutoReconnect, DuplicateKeyError, NetworkTimeout, OperationFailure, ServerSelectionTimeoutError,
)

from oms_contracts import DeadLetter, encode, new_envelope
from oms_contracts.orders.v1 import ProcessOrder
from oms_contracts.topics import ORDERS_COMMANDS, dlq
from oms_platform.messaging import PermanentError, RetryPolicy, is_transient, subscribe


def command() -> bytes:
    return encode(new_envelope(ProcessOrder(order_id=uuid.uuid4(), requested_by="x"), producer="test"))


def broker_with(handler, max_attempts=3) -> tuple[KafkaBroker, list[DeadLetter]]:
    broker = KafkaBroker()
    subscribe(broker, ORDERS_COMMANDS, group_id="g", handler=handler, max_attempts=max_attempts,
              max_backoff_seconds=0.001)
    dead: list[DeadLetter] = []

    @broker.subscriber(dlq(ORDERS_COMMANDS))
    async def collect(body: dict) -> None:
        dead.append(DeadLetter.model_validate(body))

    return broker, dead


class OutageStore:
    """A document store whose database is unreachable for its first `down_for` calls (a fake of the outage)."""

    def __init__(self, down_for: int, error: Exception) -> None:
        self.down_for = down_for
        self.error = error
        self.calls = 0
        self.saved: list[uuid.UUID] = []

    async def save(self, event_id: uuid.UUID) -> None:
        self.calls += 1
        if self.calls <= self.down_for:
            raise self.error
        self.saved.append(event_id)


OUTAGES = [
    ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused"),
    AutoReconnect("connection closed"),
    NetworkTimeout("timed out"),
    KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]"),
    KafkaTimeoutError(),
    NodeNotReadyError("node 1 not ready"),
]


class TestOutages:
    @pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
    async def test_an_outage_far_longer_than_max_attempts_is_waited_out(self, error):
        store = OutageStore(down_for=40, error=error)

        async def handler(envelope):
            await store.save(envelope.event_id)

        broker, dead = broker_with(handler, max_attempts=3)
        async with TestKafkaBroker(broker) as br:
            await br.publish(command(), ORDERS_COMMANDS)
        assert dead == []
        assert store.calls == 41 and len(store.saved) == 1

    async def test_an_outage_wrapped_by_the_handler_is_still_an_outage(self):
        calls = []

        async def handler(envelope):
            calls.append(1)
            if len(calls) <= 10:
                try:
                    raise ServerSelectionTimeoutError("no servers")
                except ServerSelectionTimeoutError as exc:
                    raise RuntimeError("could not load the order") from exc

        broker, dead = broker_with(handler, max_attempts=3)
        async with TestKafkaBroker(broker) as br:
            await br.publish(command(), ORDERS_COMMANDS)
        assert dead == [] and len(calls) == 11

    async def test_messages_behind_the_outage_wait_and_then_all_flow_in_order(self):
        store = OutageStore(down_for=25, error=AutoReconnect("primary went away"))

        async def handler(envelope):
            await store.save(envelope.event_id)

        broker, dead = broker_with(handler)
        sent = [command() for _ in range(3)]
        async with TestKafkaBroker(broker) as br:
            for body in sent:
                await br.publish(body, ORDERS_COMMANDS)
        assert dead == []
        assert len(store.saved) == 3 and len(set(store.saved)) == 3


class TestPoisonStillDeadLetters:
    async def test_an_undecodable_record_is_dead_lettered_at_once(self):
        calls = []

        async def handler(envelope):
            calls.append(1)

        broker, dead = broker_with(handler)
        async with TestKafkaBroker(broker) as br:
            await br.publish(b"\xff not json", ORDERS_COMMANDS)
        assert calls == [] and [d.attempts for d in dead] == [1]

    async def test_a_permanent_error_is_dead_lettered_at_once_even_after_an_outage(self):
        calls = []

        async def handler(envelope):
            calls.append(1)
            if len(calls) <= 5:
                raise ServerSelectionTimeoutError("down")
            raise PermanentError("order for an unknown channel")

        broker, dead = broker_with(handler, max_attempts=3)
        async with TestKafkaBroker(broker) as br:
            await br.publish(command(), ORDERS_COMMANDS)
        assert len(calls) == 6
        [letter] = dead
        assert letter.reason == "PermanentError: order for an unknown channel" and letter.attempts == 6

    async def test_a_bug_is_dead_lettered_after_max_attempts_and_outages_do_not_count(self):
        calls = []

        async def handler(envelope):
            calls.append(1)
            # An outage between the bug's failures: only the three bug failures count towards max_attempts.
            raise AutoReconnect("blip") if len(calls) % 2 else ValueError("bug")

        broker, dead = broker_with(handler, max_attempts=3)
        async with TestKafkaBroker(broker) as br:
            await br.publish(command(), ORDERS_COMMANDS)
        assert len(calls) == 6
        [letter] = dead
        assert letter.reason == "ValueError: bug" and letter.attempts == 6


class TestClassification:
    @pytest.mark.parametrize("error", [*OUTAGES, ConnectionRefusedError(), ConnectionResetError()],
                             ids=lambda e: type(e).__name__)
    def test_infrastructure_errors_are_transient(self, error):
        assert is_transient(error)

    @pytest.mark.parametrize("error", [PermanentError("x"), ValueError("x"), DuplicateKeyError("E11000"),
                                       RecordTooLargeError("x"), KeyError("x"),
                                       OperationFailure("unknown operator: $foo", code=2),
                                       OperationFailure("Document failed validation", code=121)],
                             ids=lambda e: f"{type(e).__name__}-{getattr(e, 'code', '')}")
    def test_other_errors_are_not(self, error):
        assert not is_transient(error)

    @pytest.mark.parametrize("error", [
        # What FerretDB v1 answered a guarded replace on a loaded machine (the pipeline benchmark at 60 orders/s).
        OperationFailure("[collection.go:188 sqlite.(*collection).UpdateAll.func1] database is locked (5) "
                         "(SQLITE_BUSY)", code=1),
        OperationFailure("LockTimeout", code=24),
        OperationFailure("WriteConflict", code=112),
        OperationFailure("not primary", code=10107, details={"errorLabels": ["RetryableWriteError"]}),
    ], ids=["sqlite-busy", "lock-timeout", "write-conflict", "retryable-label"])
    def test_a_busy_database_is_transient(self, error):
        assert is_transient(error)

    def test_a_permanent_error_caused_by_an_outage_is_permanent(self):
        try:
            try:
                raise AutoReconnect("x")
            except AutoReconnect as exc:
                raise PermanentError("refused") from exc
        except PermanentError as permanent:
            assert not is_transient(permanent)

    def test_the_policy_never_stops_on_an_outage_and_stops_on_the_nth_other_failure(self):
        class State:
            def __init__(self, exc):
                self.outcome = type("Outcome", (), {"exception": lambda _self: exc})()

        policy = RetryPolicy(max_attempts=2)
        assert not any(policy(State(ServerSelectionTimeoutError("down"))) for _ in range(1000))
        assert policy(State(ValueError("bug"))) is False
        assert policy(State(ValueError("bug"))) is True
