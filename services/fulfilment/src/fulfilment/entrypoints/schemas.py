"""Shapes of the fulfilment HTTP API."""

import uuid
from datetime import datetime

from pydantic import BaseModel


class ShipmentDocumentPublic(BaseModel):
    """One document of a shipment and what became of its print job."""

    document_type: str
    job_id: uuid.UUID
    revision: int
    status: str
    reason: str | None
    updated_at: datetime


class ShipmentPublic(BaseModel):
    """A shipment as staff see it."""

    order_id: uuid.UUID
    order_number: str
    shipment_id: uuid.UUID
    status: str
    carrier: str
    service: str
    tracking_number: str
    documents: list[ShipmentDocumentPublic]
    attention_reason: str | None
    created_at: datetime
    confirmed_at: datetime | None
    timeline: list[dict]
