"""The orders subscribers, wired on FastStream's in-memory test broker."""

import json

from faststream.kafka import KafkaBroker, TestKafkaBroker

from oms_contracts import DeadLetter, encode, new_envelope, topics
from oms_contracts.orders.v1 import PlaceOrder, order_id_for
from oms_platform.messaging import Bus
from orders.domain.model import ProcessingGuards
from orders.entrypoints.worker import register_subscribers


def wired_broker(repo, clock) -> tuple[KafkaBroker, list[DeadLetter]]:
    broker = KafkaBroker()
    register_subscribers(
        broker, repo=repo, bus=Bus(broker, "orders"), guards=ProcessingGuards(), clock=clock, max_attempts=2
    )
    dead: list[DeadLetter] = []

    @broker.subscriber(topics.dlq(topics.ORDERS_COMMANDS))
    async def collect(body: dict) -> None:
        dead.append(DeadLetter.model_validate(body))

    return broker, dead


def place_command(details):
    order_id = order_id_for(details.channel, details.channel_order_id)
    return order_id, new_envelope(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="ops"),
                                  producer="test")


class TestOrderCommandConsumer:
    async def test_a_place_order_command_stores_the_order(self, repo, clock, make_details):
        broker, _ = wired_broker(repo, clock)
        order_id, envelope = place_command(make_details())
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(envelope), topics.ORDERS_COMMANDS, key=str(order_id).encode())
        assert repo.docs[str(order_id)]["status"] == "open"

    async def test_same_message_twice_changes_nothing(self, repo, clock, make_details):
        broker, _ = wired_broker(repo, clock)
        order_id, envelope = place_command(make_details())
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(envelope), topics.ORDERS_COMMANDS)
            first = dict(repo.docs[str(order_id)])
            await br.publish(encode(envelope), topics.ORDERS_COMMANDS)
        assert repo.docs[str(order_id)] == first

    async def test_a_bad_message_goes_to_the_dlq_and_the_next_one_still_flows(self, repo, clock, make_details):
        broker, dead = wired_broker(repo, clock)
        order_id, envelope = place_command(make_details())
        async with TestKafkaBroker(broker) as br:
            await br.publish(b"{not json", topics.ORDERS_COMMANDS)
            await br.publish(json.dumps({"type": "orders.nonsense", "version": 9}).encode(), topics.ORDERS_COMMANDS)
            await br.publish(encode(envelope), topics.ORDERS_COMMANDS)
        assert [d.reason.split(":")[0] for d in dead] == ["not JSON", "unknown message type 'orders.nonsense' version 9"]
        assert dead[0].value == "{not json" and dead[0].topic == topics.ORDERS_COMMANDS
        assert repo.docs[str(order_id)]["status"] == "open"
