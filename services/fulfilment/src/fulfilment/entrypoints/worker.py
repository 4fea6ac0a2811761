"""Kafka subscribers of the fulfilment service: thin, each hands the envelope to a handler."""

from faststream.kafka import KafkaBroker

from oms_contracts import Envelope, topics
from oms_platform.messaging import subscribe
from fulfilment.service_layer import handlers
from fulfilment.service_layer.handlers import Fulfilment


def register_subscribers(broker: KafkaBroker, *, ctx: Fulfilment, max_attempts: int) -> None:
    """Wire the command consumer (the only writer of fulfilment's documents) and the forwarders of order and
    printing events."""

    async def on_fulfilment_command(envelope: Envelope) -> None:
        await handlers.handle_command(envelope, ctx=ctx)

    async def on_foreign_event(envelope: Envelope) -> None:
        await handlers.forward_event(envelope, bus=ctx.bus)

    subscribe(
        broker, topics.FULFILMENT_COMMANDS, group_id="fulfilment", handler=on_fulfilment_command,
        max_attempts=max_attempts,
    )
    subscribe(
        broker, topics.ORDERS_EVENTS, group_id="fulfilment.order-events", handler=on_foreign_event,
        max_attempts=max_attempts,
    )
    subscribe(
        broker, topics.PRINTING_EVENTS, group_id="fulfilment.printing-events", handler=on_foreign_event,
        max_attempts=max_attempts,
    )
