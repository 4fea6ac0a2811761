"""Fulfilment commands and events, version 1. Key: the order id."""

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from oms_contracts import topics
from oms_contracts.common import CountryCode
from oms_contracts.envelope import Message
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.registry import register

# How a channel's orders are processed: 'printed' confirms when every document printed, 'immediately' as soon as
# they are sent, 'batch' when staff process the batch the documents printed for, 'pack' when the last item is
# scanned at a pack station (which prints the documents there).
ProcessFlow = Literal["printed", "immediately", "batch", "pack"]
ShipmentDocumentType = Literal["invoice", "packing_slip", "shipping_label"]


class ShippingRule(BaseModel):
    """Ship matching orders with this service and carrier; an empty condition matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    channels: list[str] = Field(default_factory=list, max_length=100)
    countries: list[CountryCode] = Field(default_factory=list, max_length=300)
    min_weight_kg: float | None = Field(None, ge=0)
    max_weight_kg: float | None = Field(None, ge=0, description="Exclusive upper bound.")
    min_value: Decimal | None = Field(None, ge=0, description="Order total, in the order's currency.")
    max_value: Decimal | None = Field(None, ge=0, description="Exclusive upper bound.")
    service: str = Field(min_length=1, max_length=100)
    carrier: str = Field(min_length=1, max_length=100)
    manual_tracking: bool = Field(False, description="Staff type the tracking number instead of the built-in range.")

    @model_validator(mode="after")
    def _bands_are_not_empty(self) -> "ShippingRule":
        for low, high in (("min_weight_kg", "max_weight_kg"), ("min_value", "max_value")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo >= hi:
                raise ValueError(f"{low} ({lo}) must be below {high} ({hi}): the rule would never match")
        return self


class ShippingDefault(BaseModel):
    """Service and carrier of an order no rule matches; no service keeps the one the buyer chose."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    service: str | None = Field(None, min_length=1, max_length=100)
    carrier: str = Field(min_length=1, max_length=100)
    manual_tracking: bool = False

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


@register
class IssueTrackingNumber(Message):
    """Take the next number of the built-in carrier's range for a shipment. Key: the carrier name (one writer)."""

    TYPE = "fulfilment.issue_tracking_number"
    TOPIC = topics.FULFILMENT_COMMANDS
    order_id: uuid.UUID
    shipment_id: uuid.UUID
    carrier: str


@register
class RecordTrackingNumber(Message):
    """A shipment's tracking number: issued from the range, or typed by staff (`entered_by`)."""

    TYPE = "fulfilment.record_tracking_number"
    TOPIC = topics.FULFILMENT_COMMANDS
    order_id: uuid.UUID
    shipment_id: uuid.UUID | None = Field(None, description="None: the order's current shipment (staff entry).")
    tracking_number: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    entered_by: str | None = None


@register
class VoidShipment(Message):
    """Staff void a shipment that is not confirmed yet."""

    TYPE = "fulfilment.void_shipment"
    TOPIC = topics.FULFILMENT_COMMANDS
    order_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class ScanItem(Message):
    """A packer scanned one item (SKU or barcode) of an order at a pack station."""

    TYPE = "fulfilment.scan_item"
    TOPIC = topics.FULFILMENT_COMMANDS
    order_id: uuid.UUID
    code: str = Field(min_length=1, max_length=100)
    station: str = Field(min_length=1, max_length=100)
    scanned_by: str


@register
class CreateBatch(Message):
    """Pick and pack these orders together: a pick list, packing slips, and the held documents. Key: the batch id."""

    TYPE = "fulfilment.create_batch"
    TOPIC = topics.FULFILMENT_COMMANDS
    batch_id: uuid.UUID
    order_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)
    requested_by: str


@register
class PrintBatchDocuments(Message):
    """An order joined a batch: print its packing slip and the documents it holds for the batch."""

    TYPE = "fulfilment.print_batch_documents"
    TOPIC = topics.FULFILMENT_COMMANDS
    order_id: uuid.UUID
    batch_id: uuid.UUID


@register
class ProcessBatch(Message):
    """Staff packed the batch: confirm every shipment in it. Key: the batch id."""

    TYPE = "fulfilment.process_batch"
    TOPIC = topics.FULFILMENT_COMMANDS
    batch_id: uuid.UUID
    requested_by: str


@register
class ConfirmBatchShipment(Message):
    """The batch an order belongs to was processed: confirm the order's shipment."""

    TYPE = "fulfilment.confirm_batch_shipment"
    TOPIC = topics.FULFILMENT_COMMANDS
    order_id: uuid.UUID
    batch_id: uuid.UUID
    requested_by: str


@register
class SetShippingRules(Message):
    """Replace the shipping rules (first match wins) and the default. Key: 'shipping-rules'."""

    TYPE = "fulfilment.set_shipping_rules"
    TOPIC = topics.FULFILMENT_COMMANDS
    rules: list[ShippingRule] = Field(max_length=500)
    default: ShippingDefault
    requested_by: str


@register
class SetChannelSettings(Message):
    """How a channel's orders are processed and which documents they print. Key: 'channel:<channel>'."""

    TYPE = "fulfilment.set_channel_settings"
    TOPIC = topics.FULFILMENT_COMMANDS
    channel: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")
    flow: ProcessFlow
    documents: list[ShipmentDocumentType] = Field(min_length=1, max_length=3)
    requested_by: str


# Events (topic oms.fulfilment.events)


@register
class CommandRejected(Message):
    """A fulfilment command did not apply (wrong item scanned, void after confirmation...); `reason` says why."""

    TYPE = "fulfilment.command_rejected"
    TOPIC = topics.FULFILMENT_EVENTS
    aggregate_id: str
    command_type: str
    command_id: uuid.UUID
    reason: str


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
