"""Kafka subscribers of the orders service: thin, each hands the envelope to a handler."""

from faststream.kafka import KafkaBroker

from oms_contracts import topics
from oms_platform.messaging import Bus, subscribe
from orders.adapters.repository import OrderRepository
from orders.domain.model import ProcessingGuards
from orders.service_layer import handlers
from orders.service_layer.handlers import Clock


def register_subscribers(
    broker: KafkaBroker, *, repo: OrderRepository, bus: Bus, guards: ProcessingGuards, clock: Clock, max_attempts: int
) -> None:
    """Wire the command consumer (the only writer of orders) and the forwarders of other contexts' events."""

    async def on_order_command(envelope) -> None:
        await handlers.handle_command(envelope, repo=repo, bus=bus, guards=guards, clock=clock)

    async def on_foreign_event(envelope) -> None:
        await handlers.forward_event(envelope, bus=bus)

    subscribe(broker, topics.ORDERS_COMMANDS, group_id="orders", handler=on_order_command, max_attempts=max_attempts)
    # orders events too: a split, merge or resend is forwarded to the order it makes or feeds
    for topic in (topics.INGEST_EVENTS, topics.INVENTORY_EVENTS, topics.FULFILMENT_EVENTS, topics.ORDERS_EVENTS):
        subscribe(
            broker, topic, group_id=f"orders.{topic.split('.')[1]}-events", handler=on_foreign_event,
            max_attempts=max_attempts,
        )
