"""The Shipment aggregate: one per order, with its carrier booking, the documents it prints and its confirmation."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args

from pydantic import BaseModel, Field

from oms_contracts import Message, derived_id
from oms_contracts.fulfilment.v1 import ShipmentConfirmed, ShipmentCreated
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import DocumentType, PrintDocument, print_job_id
from fulfilment.domain.errors import ShipmentRefused

DOCUMENT_TYPES: tuple[str, ...] = get_args(DocumentType)
FIRST_REVISION = 1
ConfirmOn = Literal["printed", "immediately"]


def shipment_id_for(order_id: uuid.UUID) -> uuid.UUID:
    """The shipment id of an order: one shipment per order, so the same order always derives the same id."""
    return derived_id(order_id, "shipment")


class ShipmentStatus(StrEnum):
    """Where a shipment is."""

    PRINTING = "printing"  # documents sent to print, waiting for their outcomes
    CONFIRMED = "confirmed"  # shipped: the confirmation was published
    ATTENTION = "attention"  # a document failed to print; staff must look


class DocumentStatus(StrEnum):
    """What became of one document's print job."""

    SENT = "sent"
    PRINTED = "printed"
    FAILED = "failed"


class ShipmentPolicy(BaseModel):
    """What every shipment prints, and when it counts as shipped (from settings)."""

    documents: tuple[DocumentType, ...] = Field(("invoice", "shipping_label"), min_length=1)
    confirm_on: ConfirmOn = "printed"


class ShipmentDocument(BaseModel):
    """One document of the shipment and its print job."""

    document_type: DocumentType
    job_id: uuid.UUID
    revision: int
    status: DocumentStatus = DocumentStatus.SENT
    reason: str | None = None
    updated_at: datetime


class TimelineEntry(BaseModel):
    """One thing that happened to the shipment, and when."""

    at: datetime
    what: str
    detail: str | None = None


class Shipment(BaseModel):
    """The shipment of one order."""

    shipment_id: uuid.UUID
    order: OrderSnapshot
    carrier: str
    tracking_number: str
    status: ShipmentStatus = ShipmentStatus.PRINTING
    documents: list[ShipmentDocument]
    attention_reason: str | None = None
    created_at: datetime
    confirmed_at: datetime | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def order_id(self) -> uuid.UUID:
        """The order this shipment ships."""
        return self.order.order_id

    @classmethod
    def create(
        cls, *, order: OrderSnapshot, carrier: str, tracking_number: str, policy: ShipmentPolicy, now: datetime
    ) -> tuple["Shipment", list[Message]]:
        """Make the shipment of an order booked with `carrier`, and send each of its documents to print."""
        documents = [
            ShipmentDocument(
                document_type=document_type,
                job_id=print_job_id(order.order_id, document_type, FIRST_REVISION),
                revision=FIRST_REVISION,
                updated_at=now,
            )
            for document_type in policy.documents
        ]
        shipment = cls(
            shipment_id=shipment_id_for(order.order_id),
            order=order,
            carrier=carrier,
            tracking_number=tracking_number,
            documents=documents,
            created_at=now,
        )
        shipment.note(now, "created", f"{carrier} {tracking_number}; printing {', '.join(policy.documents)}")
        events: list[Message] = [
            ShipmentCreated(
                order_id=order.order_id,
                shipment_id=shipment.shipment_id,
                carrier=carrier,
                tracking_number=tracking_number,
                documents=list(policy.documents),
            ),
            *(
                PrintDocument(
                    job_id=document.job_id,
                    document_type=document.document_type,
                    revision=document.revision,
                    order=order,
                    carrier=carrier,
                    tracking_number=tracking_number,
                )
                for document in documents
            ),
        ]
        if policy.confirm_on == "immediately":
            events += shipment._confirm(now)
        return shipment, events

    def note(self, at: datetime, what: str, detail: str | None = None) -> None:
        """Add an entry to the timeline."""
        self.timeline.append(TimelineEntry(at=at, what=what, detail=detail))

    def receive_again(self, *, now: datetime) -> list[Message]:
        """The order was sent for shipment again: it already has one, so nothing new is booked or printed."""
        self.note(now, "create requested again", "the order already has this shipment")
        return []

    def record_document_outcome(
        self, *, job_id: uuid.UUID, printed: bool, reason: str | None, now: datetime
    ) -> list[Message]:
        """Printing finished (or gave up on) one document; confirm once every document has printed."""
        document = next((d for d in self.documents if d.job_id == job_id), None)
        if document is None:
            raise ShipmentRefused(f"print job {job_id} is not a document of this shipment")
        if document.status is DocumentStatus.PRINTED:
            # The printer took the document already; a later outcome of the same job cannot un-print it.
            self.note(now, f"{document.document_type} outcome ignored", "already printed")
            return []
        document.updated_at = now
        if printed:
            document.status, document.reason = DocumentStatus.PRINTED, None
            self.note(now, f"{document.document_type} printed")
        else:
            document.status, document.reason = DocumentStatus.FAILED, reason or "no reason given"
            self.note(now, f"{document.document_type} failed", document.reason)
        return self._settle(now)

    @property
    def all_printed(self) -> bool:
        """Every document of the shipment has printed."""
        return all(d.status is DocumentStatus.PRINTED for d in self.documents)

    def _settle(self, now: datetime) -> list[Message]:
        """Derive the status from the documents; confirm the first time all of them have printed."""
        failed = [d for d in self.documents if d.status is DocumentStatus.FAILED]
        if failed:
            self.status = ShipmentStatus.ATTENTION
            self.attention_reason = "; ".join(f"{d.document_type} failed: {d.reason}" for d in failed)
            return []
        self.attention_reason = None
        if self.all_printed and self.confirmed_at is None:
            return self._confirm(now)
        self.status = ShipmentStatus.CONFIRMED if self.confirmed_at else ShipmentStatus.PRINTING
        return []

    def _confirm(self, now: datetime) -> list[Message]:
        """The order has shipped; `confirmed_at` makes sure this is announced once."""
        self.status = ShipmentStatus.CONFIRMED
        self.confirmed_at = now
        self.note(now, "confirmed", f"{self.carrier} {self.tracking_number}")
        return [
            ShipmentConfirmed(
                order_id=self.order_id,
                shipment_id=self.shipment_id,
                carrier=self.carrier,
                tracking_number=self.tracking_number,
                shipped_at=now,
            )
        ]
