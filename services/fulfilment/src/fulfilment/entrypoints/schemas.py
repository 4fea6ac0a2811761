"""Shapes of the fulfilment HTTP API."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.fulfilment.v1 import ProcessFlow, ShipmentDocumentType, ShippingDefault, ShippingRule
from oms_contracts.printing.v1 import PickListLine


class ShipmentDocumentPublic(BaseModel):
    """One document of a shipment and what became of its print job."""

    document_type: str
    job_id: uuid.UUID
    revision: int
    status: str
    reason: str | None
    station: str | None = None
    updated_at: datetime


class PackItemPublic(BaseModel):
    """One SKU to pack: how many, and how many were scanned."""

    sku: str
    title: str
    barcode: str | None
    quantity: int
    scanned: int


class ShipmentPublic(BaseModel):
    """A shipment as staff see it."""

    order_id: uuid.UUID
    order_number: str
    channel: str
    shipment_id: uuid.UUID
    attempt: int
    status: str
    flow: str
    carrier: str
    service: str
    manual_tracking: bool
    rule: str | None
    weight_kg: float
    tracking_number: str | None
    documents: list[ShipmentDocumentPublic]
    items: list[PackItemPublic]
    batch_id: uuid.UUID | None
    station: str | None
    attention_reason: str | None
    void_reason: str | None
    created_at: datetime
    confirmed_at: datetime | None
    voided_at: datetime | None
    timeline: list[dict]


class TrackingNumberEntry(BaseModel):
    """The tracking number staff read from the carrier."""

    model_config = ConfigDict(extra="forbid")
    tracking_number: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")


class VoidRequest(BaseModel):
    """Why the shipment is voided."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class ScanRequest(BaseModel):
    """One item scanned at a pack station: its SKU or barcode."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=100)
    station: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")


class BatchCreate(BaseModel):
    """The orders to pick and pack together."""

    model_config = ConfigDict(extra="forbid")
    order_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class BatchPublic(BaseModel):
    """A batch, its pick list and whether it was processed."""

    batch_id: uuid.UUID
    status: str
    order_ids: list[uuid.UUID]
    skipped: dict[str, str]
    pick_list: list[PickListLine]
    pick_list_job_id: uuid.UUID | None
    created_by: str
    created_at: datetime
    processed_by: str | None
    processed_at: datetime | None


class CommandAccepted(BaseModel):
    """The command was queued; poll `status_url`."""

    command_id: uuid.UUID
    status_url: str


class ShippingRulesBody(BaseModel):
    """The shipping rules, first match wins, and the default for orders no rule matches."""

    model_config = ConfigDict(extra="forbid")
    rules: list[ShippingRule] = Field(default_factory=list, max_length=500)
    default: ShippingDefault


class ChannelSettingsBody(BaseModel):
    """How a channel's orders are processed and which documents each prints."""

    model_config = ConfigDict(extra="forbid")
    flow: ProcessFlow
    documents: list[ShipmentDocumentType] = Field(min_length=1, max_length=3)


class ChannelSettingsPublic(ChannelSettingsBody):
    """A channel's settings; `configured` is false while it uses the service defaults."""

    channel: str
    configured: bool
