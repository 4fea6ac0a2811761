"""Handlers of fulfilment: each command loads the shipment, asks the domain, stores, then publishes.

Only the consumer of oms.fulfilment.commands runs `handle_command`, so each shipment document has one writer.
Events from other contexts are forwarded here as commands by `forward_event`; it stores nothing.
"""

import uuid
from collections.abc import Callable
from datetime import datetime

from oms_contracts import Envelope, Message, derived_id
from oms_contracts.fulfilment.v1 import CreateShipment, RecordDocumentOutcome
from oms_contracts.orders.v1 import OrderProcessingStarted
from oms_contracts.printing.v1 import JobFailed, JobPrinted, PrintDocument
from oms_platform.documents import Decision, handle_once
from oms_platform.messaging import Bus, PermanentError
from fulfilment.adapters.carriers import Carrier
from fulfilment.adapters.repository import ShipmentRepository
from fulfilment.domain.errors import ShipmentRefused
from fulfilment.domain.model import Shipment, ShipmentPolicy

Clock = Callable[[], datetime]


async def handle_command(
    envelope: Envelope,
    *,
    repo: ShipmentRepository,
    bus: Bus,
    carrier: Carrier,
    policy: ShipmentPolicy,
    clock: Clock,
) -> None:
    """Apply one fulfilment command exactly once, then publish what it caused."""
    command = envelope.payload
    order_id = _order_id(command)

    async def decide(doc: dict | None) -> Decision:
        shipment = Shipment.model_validate(doc["shipment"]) if doc else None
        now = clock()
        if isinstance(command, CreateShipment):
            if shipment is None:
                carrier_name, tracking_number = await carrier.book(command.order)
                shipment, payloads = Shipment.create(
                    order=command.order, carrier=carrier_name, tracking_number=tracking_number, policy=policy,
                    now=now,
                )
            else:
                payloads = shipment.receive_again(now=now)
        elif shipment is None:
            raise PermanentError(f"{envelope.type} for order {order_id}, which has no shipment")
        else:
            try:
                payloads = shipment.record_document_outcome(
                    job_id=command.job_id, printed=command.printed, reason=command.reason, now=now
                )
            except ShipmentRefused as refusal:
                shipment.note(now, f"{envelope.type} refused", str(refusal))
                payloads = []
        fields = {
            "status": shipment.status.value,
            "tracking_number": shipment.tracking_number,
            "created_at": shipment.created_at.isoformat(),
            "shipment": shipment.model_dump(mode="json"),
        }
        return fields, [(p, _key(p, order_id)) for p in payloads]

    await handle_once(envelope, aggregate_id=order_id, store=repo, bus=bus, decide=decide)


def _order_id(command: Message) -> uuid.UUID:
    """The order (and so the shipment document) a command is about."""
    if isinstance(command, CreateShipment):
        return command.order.order_id
    if isinstance(command, RecordDocumentOutcome):
        return command.order_id
    raise PermanentError(f"fulfilment cannot handle {command.TYPE}")


def _key(payload: Message, order_id: uuid.UUID) -> str:
    """Kafka key of what we publish: print jobs by job id, shipment events by order id."""
    return str(payload.job_id) if isinstance(payload, PrintDocument) else str(order_id)


async def forward_event(envelope: Envelope, *, bus: Bus) -> None:
    """Turn another context's event into a fulfilment command keyed by order id; other events are ignored."""
    event = envelope.payload
    command: Message | None = None
    purpose = ""
    if isinstance(event, OrderProcessingStarted):
        command, purpose = CreateShipment(order=event.order), "create-shipment"
    elif isinstance(event, JobPrinted):
        command = RecordDocumentOutcome(
            order_id=event.order_id, job_id=event.job_id, document_type=event.document_type, printed=True
        )
        purpose = "record-document-outcome"
    elif isinstance(event, JobFailed):
        command = RecordDocumentOutcome(
            order_id=event.order_id,
            job_id=event.job_id,
            document_type=event.document_type,
            printed=False,
            reason=event.reason,
        )
        purpose = "record-document-outcome"
    if command is None:
        return
    forwarded = bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, purpose))
    await bus.publish(forwarded, key=str(_order_id(command)))
