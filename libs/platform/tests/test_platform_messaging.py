"""subscribe(): bounded retries, then the dead-letter topic; the partition keeps flowing."""

import uuid

from faststream.kafka import KafkaBroker, TestKafkaBroker

from oms_contracts import DeadLetter, encode, new_envelope
from oms_contracts.orders.v1 import ProcessOrder
from oms_contracts.topics import ORDERS_COMMANDS, dlq
from oms_platform.messaging import PermanentError, subscribe


def command() -> bytes:
    return encode(new_envelope(ProcessOrder(order_id=uuid.uuid4(), requested_by="x"), producer="test"))


def broker_with(handler, max_attempts=3) -> tuple[KafkaBroker, list[DeadLetter]]:
    broker = KafkaBroker(apply_types=False)  # as runtime.connect makes it
    subscribe(broker, ORDERS_COMMANDS, group_id="g", handler=handler, max_attempts=max_attempts,
              max_backoff_seconds=0.01)
    dead: list[DeadLetter] = []

    @broker.subscriber(dlq(ORDERS_COMMANDS))
    async def collect(body: dict) -> None:
        dead.append(DeadLetter.model_validate(body))

    return broker, dead


class TestRetries:
    async def test_a_transient_failure_is_retried_until_it_succeeds(self):
        calls = []

        async def flaky(envelope):
            calls.append(envelope.event_id)
            if len(calls) < 3:
                raise ConnectionError("database blinked")

        broker, dead = broker_with(flaky)
        async with TestKafkaBroker(broker) as br:
            await br.publish(command(), ORDERS_COMMANDS)
        assert len(calls) == 3 and dead == []

    async def test_a_handler_that_keeps_failing_is_dead_lettered_after_max_attempts(self):
        calls = []

        async def broken(envelope):
            calls.append(1)
            raise RuntimeError("bug")

        broker, dead = broker_with(broken, max_attempts=3)
        async with TestKafkaBroker(broker) as br:
            await br.publish(command(), ORDERS_COMMANDS)
        assert len(calls) == 3
        [letter] = dead
        assert letter.reason == "RuntimeError: bug" and letter.attempts == 3 and letter.consumer_group == "g"

    async def test_a_permanent_error_is_dead_lettered_at_once_and_the_next_message_flows(self):
        seen = []

        async def picky(envelope):
            seen.append(envelope.event_id)
            if len(seen) == 1:
                raise PermanentError("can never work")

        broker, dead = broker_with(picky)
        async with TestKafkaBroker(broker) as br:
            await br.publish(command(), ORDERS_COMMANDS)
            await br.publish(command(), ORDERS_COMMANDS)
        assert len(seen) == 2
        assert [d.attempts for d in dead] == [1]
        assert dead[0].reason == "PermanentError: can never work"
