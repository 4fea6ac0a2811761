"""Kafka subscriber of the printing service: thin, it hands each print or reprint command to its handler."""

from collections.abc import Mapping

from faststream.kafka import KafkaBroker

from oms_contracts import Envelope, topics
from oms_contracts.printing.v1 import ReprintJob
from oms_platform.messaging import Bus, subscribe
from printing.adapters.printers import Destination
from printing.adapters.renderers import Renderer
from printing.adapters.repository import PrintJobRepository
from printing.service_layer import handlers
from printing.service_layer.handlers import Clock, SendPolicy


def register_subscribers(
    broker: KafkaBroker,
    *,
    repo: PrintJobRepository,
    bus: Bus,
    renderer: Renderer,
    printers: Mapping[str, Destination],
    clock: Clock,
    policy: SendPolicy,
    max_attempts: int,
) -> None:
    """Wire the consumer of oms.printing.commands (group `printing`), the only writer of print jobs."""

    async def on_print_command(envelope: Envelope) -> None:
        if isinstance(envelope.payload, ReprintJob):
            await handlers.handle_reprint_job(
                envelope, repo=repo, renderer=renderer, printers=printers, clock=clock, policy=policy
            )
            return
        await handlers.handle_print_document(
            envelope, repo=repo, bus=bus, renderer=renderer, printers=printers, clock=clock, policy=policy
        )

    subscribe(
        broker, topics.PRINTING_COMMANDS, group_id="printing", handler=on_print_command, max_attempts=max_attempts
    )
