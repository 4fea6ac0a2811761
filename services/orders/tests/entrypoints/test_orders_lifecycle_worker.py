"""The orders forwarder of orders events (split, merge, resend), wired on FastStream's in-memory test broker."""

import uuid

from faststream.kafka import KafkaBroker, TestKafkaBroker
from oms_contracts import DeadLetter, encode, new_envelope, topics
from oms_contracts.orders.v1 import AllocationShare, OrderSplit
from oms_platform.messaging import Bus
from orders.domain.model import ProcessingGuards
from orders.entrypoints.worker import register_subscribers


def wired_broker(repo, clock) -> tuple[KafkaBroker, list[DeadLetter]]:
    broker = KafkaBroker()
    register_subscribers(broker, repo=repo, bus=Bus(broker, "orders"), guards=ProcessingGuards(), clock=clock,
                         max_attempts=2)
    dead: list[DeadLetter] = []

    @broker.subscriber(topics.dlq(topics.ORDERS_EVENTS))
    async def collect(body: dict) -> None:
        dead.append(DeadLetter.model_validate(body))

    return broker, dead


def split_event(make_details):
    details = make_details()
    event = OrderSplit(order_id=uuid.uuid4(), new_order_id=uuid.uuid4(), order=details, reason="split", by="ops",
                       allocations=[AllocationShare(sku=line.sku, requested=line.quantity, short=0)
                                    for line in details.lines])
    return new_envelope(event, producer="orders")


class TestOrdersEventForwarder:
    async def test_a_split_event_opens_the_new_order_through_its_own_command(self, repo, clock, make_details):
        broker, _ = wired_broker(repo, clock)
        envelope = split_event(make_details)
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(envelope), topics.ORDERS_EVENTS)
        doc = repo.docs[str(envelope.payload.new_order_id)]
        assert doc["status"] == "open" and doc["order"]["links"][0]["kind"] == "split_from"

    async def test_same_event_twice_changes_nothing(self, repo, clock, make_details):
        broker, _ = wired_broker(repo, clock)
        envelope = split_event(make_details)
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(envelope), topics.ORDERS_EVENTS)
            first = dict(repo.docs[str(envelope.payload.new_order_id)])
            await br.publish(encode(envelope), topics.ORDERS_EVENTS)
        assert repo.docs[str(envelope.payload.new_order_id)] == first

    async def test_a_bad_event_goes_to_the_dlq_and_the_next_one_still_flows(self, repo, clock, make_details):
        broker, dead = wired_broker(repo, clock)
        envelope = split_event(make_details)
        async with TestKafkaBroker(broker) as br:
            await br.publish(b"{not json", topics.ORDERS_EVENTS)
            await br.publish(encode(envelope), topics.ORDERS_EVENTS)
        assert [d.topic for d in dead] == [topics.ORDERS_EVENTS]
        assert str(envelope.payload.new_order_id) in repo.docs
