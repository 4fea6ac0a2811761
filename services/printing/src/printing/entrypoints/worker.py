"""Kafka subscriber of the printing service: thin, it hands each printing command to its handler."""

from faststream.kafka import KafkaBroker

from oms_contracts import Envelope, topics
from oms_contracts.printing.v1 import RecordDelivery, ReprintJob
from oms_platform.messaging import Bus, subscribe
from printing.adapters.renderers import Renderer
from printing.adapters.repository import PrintJobRepository
from printing.service_layer import handlers
from printing.service_layer.handlers import Clock, Directory, TemplateSource


def register_subscribers(
    broker: KafkaBroker,
    *,
    repo: PrintJobRepository,
    bus: Bus,
    renderer: Renderer,
    directory: Directory,
    clock: Clock,
    max_attempts: int,
    templates: TemplateSource | None = None,
) -> None:
    """Wire the consumer of oms.printing.commands (group `printing`), the only writer of print jobs."""

    async def on_print_command(envelope: Envelope) -> None:
        if isinstance(envelope.payload, ReprintJob):
            await handlers.handle_reprint_job(envelope, repo=repo, clock=clock, directory=directory)
        elif isinstance(envelope.payload, RecordDelivery):
            await handlers.handle_record_delivery(envelope, repo=repo, bus=bus, clock=clock)
        else:
            await handlers.handle_print_document(
                envelope, repo=repo, bus=bus, renderer=renderer, directory=directory, clock=clock,
                templates=templates,
            )

    subscribe(
        broker, topics.PRINTING_COMMANDS, group_id="printing", handler=on_print_command, max_attempts=max_attempts
    )
