"""Kafka subscribers of inventory: thin, each hands the envelope to a handler."""

from faststream.kafka import KafkaBroker

from oms_contracts import Envelope, topics
from oms_platform.messaging import Bus, subscribe
from inventory.adapters.repository import StockRepository
from inventory.service_layer import handlers
from inventory.service_layer.handlers import Clock


def register_subscribers(
    broker: KafkaBroker, *, repo: StockRepository, bus: Bus, clock: Clock, max_attempts: int
) -> None:
    """Wire the stock command consumer (the only writer of stock and ledger) and the order-event forwarder."""

    async def on_stock_command(envelope: Envelope) -> None:
        await handlers.handle_command(envelope, repo=repo, bus=bus, clock=clock)

    async def on_order_event(envelope: Envelope) -> None:
        await handlers.forward_event(envelope, bus=bus)

    subscribe(broker, topics.INVENTORY_COMMANDS, group_id="inventory", handler=on_stock_command,
              max_attempts=max_attempts)
    subscribe(broker, topics.ORDERS_EVENTS, group_id="inventory.order-events", handler=on_order_event,
              max_attempts=max_attempts)
