"""Fulfilment commands and events, version 1. Key: the order id."""

import uuid

from pydantic import AwareDatetime

from oms_contracts import topics
from oms_contracts.envelope import Message
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.registry import register

# Commands (topic oms.fulfilment.commands)


@register
class CreateShipment(Message):
    """Ship an order that orders released for processing: tracking number and documents."""

    TYPE = "fulfilment.create_shipment"
    TOPIC = topics.FULFILMENT_COMMANDS
    order: OrderSnapshot


@register
class RecordDocumentOutcome(Message):
    """Printing finished (or gave up on) one document of a shipment."""

    TYPE = "fulfilment.record_document_outcome"
    TOPIC = topics.FULFILMENT_COMMANDS
    order_id: uuid.UUID
    job_id: uuid.UUID
    document_type: str
    printed: bool
    reason: str | None = None


# Events (topic oms.fulfilment.events)


@register
class ShipmentCreated(Message):
    """A shipment was made for the order and its documents were sent to print."""

    TYPE = "fulfilment.shipment_created"
    TOPIC = topics.FULFILMENT_EVENTS
    order_id: uuid.UUID
    shipment_id: uuid.UUID
    carrier: str
    tracking_number: str
    documents: list[str]


@register
class ShipmentConfirmed(Message):
    """Every document printed: the order has shipped."""

    TYPE = "fulfilment.shipment_confirmed"
    TOPIC = topics.FULFILMENT_EVENTS
    order_id: uuid.UUID
    shipment_id: uuid.UUID
    carrier: str
    tracking_number: str
    shipped_at: AwareDatetime


@register
class ShipmentVoided(Message):
    """Staff voided a shipment before it was confirmed: its tracking number is dead, the order goes back to open."""

    TYPE = "fulfilment.shipment_voided"
    TOPIC = topics.FULFILMENT_EVENTS
    order_id: uuid.UUID
    shipment_id: uuid.UUID
    tracking_number: str
    reason: str
    by: str
