"""Kafka subscribers of the orders service: thin, each hands the envelope to a handler."""

from faststream.kafka import KafkaBroker

from oms_contracts import topics
from oms_platform.messaging import Bus, subscribe
from orders.adapters.payments import MongoOrderLookup, MongoPaymentRepository
from orders.adapters.repository import OrderRepository
from orders.domain.model import ProcessingGuards
from orders.service_layer import handlers, payments
from orders.service_layer.handlers import Clock


def register_subscribers(
    broker: KafkaBroker, *, repo: OrderRepository, bus: Bus, guards: ProcessingGuards, clock: Clock, max_attempts: int
) -> None:
    """Wire the command consumer (the only writer of orders) and the forwarders of other contexts' events."""

    payment_store, order_lookup = _payment_adapters(repo)

    async def on_order_command(envelope) -> None:
        if payments.is_payment_command(envelope.payload):  # payment documents share the topic, keyed by payment id
            await payments.handle_payment_command(envelope, payments=payment_store, orders=order_lookup, bus=bus,
                                                  clock=clock)
            return
        await handlers.handle_command(envelope, repo=repo, bus=bus, guards=guards, clock=clock)

    async def on_foreign_event(envelope) -> None:
        if await payments.forward_event(envelope, bus=bus, payments=payment_store):
            return
        await handlers.forward_event(envelope, bus=bus)

    subscribe(broker, topics.ORDERS_COMMANDS, group_id="orders", handler=on_order_command, max_attempts=max_attempts)
    # orders events too: a split, merge or resend is forwarded to the order it makes or feeds
    for topic in (topics.INGEST_EVENTS, topics.INVENTORY_EVENTS, topics.FULFILMENT_EVENTS, topics.ORDERS_EVENTS):
        subscribe(
            broker, topic, group_id=f"orders.{topic.split('.')[1]}-events", handler=on_foreign_event,
            max_attempts=max_attempts,
        )


def _payment_adapters(repo: OrderRepository):
    """The payment documents and order lookups, in the order book's database (None in tests without one)."""
    collection = getattr(repo, "orders", None)
    if collection is None:
        return None, None
    return MongoPaymentRepository(collection.database), MongoOrderLookup(collection.database)

