"""The Shipment aggregate: one per order, with its carrier booking, the documents it prints and its confirmation.

A shipment waits for its tracking number (from the built-in range, or typed by staff), then follows its channel's
process flow: print at once and confirm when printed (`printed`) or when sent (`immediately`); wait for a batch,
which prints the documents, and confirm when the batch is processed (`batch`); or wait for the packer to scan every
item, then print at that pack station and confirm (`pack`). Until it is confirmed it can be voided; the order can
then be processed again, which starts a new attempt (new shipment id, new print job revisions).
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import get_args

from pydantic import BaseModel, Field

from oms_contracts import Message, derived_id
from oms_contracts.fulfilment.v1 import (
    ProcessFlow,
    ShipmentConfirmed,
    ShipmentCreated,
    ShipmentDocumentType,
    ShipmentVoided,
)
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import PrintDocument, print_job_id
from fulfilment.domain.errors import ShipmentRefused
from fulfilment.domain.rules import ChannelSettings, ShippingChoice

DOCUMENT_TYPES: tuple[str, ...] = get_args(ShipmentDocumentType)


def shipment_id_for(order_id: uuid.UUID, attempt: int = 1) -> uuid.UUID:
    """The shipment id of an order's attempt: the same order and attempt always derive the same id."""
    return derived_id(order_id, "shipment") if attempt == 1 else derived_id(order_id, "shipment", str(attempt))


class ShipmentStatus(StrEnum):
    """Where a shipment is."""

    AWAITING_TRACKING = "awaiting_tracking"  # the carrier's number is not there yet (range issuing, or staff typing)
    AWAITING_BATCH = "awaiting_batch"  # batch flow: documents print when the order joins a batch
    PACKING = "packing"  # pack flow: waiting for every item to be scanned at a pack station
    PRINTING = "printing"  # documents sent to print
    CONFIRMED = "confirmed"  # shipped: the confirmation was published
    ATTENTION = "attention"  # a document failed to print; staff must look
    VOIDED = "voided"  # staff voided it before confirmation


OPEN = {ShipmentStatus.AWAITING_TRACKING, ShipmentStatus.AWAITING_BATCH, ShipmentStatus.PACKING,
        ShipmentStatus.PRINTING, ShipmentStatus.ATTENTION}


class DocumentStatus(StrEnum):
    """What became of one document's print job."""

    SENT = "sent"
    PRINTED = "printed"
    FAILED = "failed"


class ShipmentDocument(BaseModel):
    """One document of the shipment and its print job."""

    document_type: ShipmentDocumentType
    job_id: uuid.UUID
    revision: int
    status: DocumentStatus = DocumentStatus.SENT
    reason: str | None = None
    station: str | None = None
    updated_at: datetime


class PackItem(BaseModel):
    """One SKU of the order for the pack station: how many to scan and how many were."""

    sku: str
    title: str
    barcode: str | None = None
    quantity: int
    scanned: int = 0


class TimelineEntry(BaseModel):
    """One thing that happened to the shipment, and when."""

    at: datetime
    what: str
    detail: str | None = None


class Shipment(BaseModel):
    """The shipment of one order (its latest attempt)."""

    shipment_id: uuid.UUID
    attempt: int = 1
    order: OrderSnapshot
    flow: ProcessFlow = "printed"
    planned_documents: tuple[ShipmentDocumentType, ...] = ("invoice", "shipping_label")
    carrier: str
    service: str = ""
    manual_tracking: bool = False
    rule: str | None = None
    weight_kg: float = 0.0
    tracking_number: str | None = None
    status: ShipmentStatus = ShipmentStatus.PRINTING
    documents: list[ShipmentDocument] = Field(default_factory=list)
    items: list[PackItem] = Field(default_factory=list)
    batch_id: uuid.UUID | None = None
    station: str | None = None
    attention_reason: str | None = None
    created_at: datetime
    confirmed_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None
    earlier: list[dict] = Field(default_factory=list, description="Voided attempts, newest last.")
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def order_id(self) -> uuid.UUID:
        """The order this shipment ships."""
        return self.order.order_id

    # Creation --------------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        order: OrderSnapshot,
        choice: ShippingChoice,
        settings: ChannelSettings,
        items: list[PackItem],
        weight_kg: float,
        now: datetime,
        attempt: int = 1,
    ) -> tuple["Shipment", list[Message]]:
        """The shipment of an order, waiting for its tracking number (the carrier adapter says how it comes)."""
        shipment = cls(
            shipment_id=shipment_id_for(order.order_id, attempt),
            attempt=attempt,
            order=order,
            flow=settings.flow,
            planned_documents=settings.documents,
            carrier=choice.carrier,
            service=choice.service,
            manual_tracking=choice.manual_tracking,
            rule=choice.rule,
            weight_kg=weight_kg,
            status=ShipmentStatus.AWAITING_TRACKING,
            items=items,
            created_at=now,
        )
        shipment.note(
            now, "created",
            f"{choice.service} with {choice.carrier} ({'rule ' + choice.rule if choice.rule else 'default'}, "
            f"{weight_kg:g} kg); flow {settings.flow}; documents {', '.join(settings.documents)}",
        )
        if choice.manual_tracking:
            shipment.note(now, "waiting for the tracking number", f"staff type {choice.carrier}'s number")
        return shipment, []

    def retry(self, *, choice: ShippingChoice, settings: ChannelSettings, items: list[PackItem], weight_kg: float,
              now: datetime) -> tuple["Shipment", list[Message]]:
        """The order was sent again after this shipment was voided: a new attempt, keeping this one's history."""
        if self.status is not ShipmentStatus.VOIDED:
            self.note(now, "create requested again", "the order already has this shipment")
            return self, []
        shipment, events = Shipment.create(order=self.order, choice=choice, settings=settings, items=items,
                                           weight_kg=weight_kg, now=now, attempt=self.attempt + 1)
        previous = self.model_dump(mode="json", exclude={"earlier", "timeline", "order"})
        shipment.earlier = [*self.earlier, previous]
        shipment.timeline = [*self.timeline, *shipment.timeline]
        return shipment, events

    def note(self, at: datetime, what: str, detail: str | None = None) -> None:
        """Add an entry to the timeline."""
        self.timeline.append(TimelineEntry(at=at, what=what, detail=detail))

    # Tracking number -------------------------------------------------------------------------------------------

    def record_tracking_number(
        self, *, tracking_number: str, shipment_id: uuid.UUID | None, entered_by: str | None, now: datetime
    ) -> list[Message]:
        """The carrier's number arrived: announce the shipment and go on with the channel's flow."""
        if shipment_id is not None and shipment_id != self.shipment_id:
            raise ShipmentRefused(f"tracking number {tracking_number} is for an earlier, voided attempt")
        if self.status is not ShipmentStatus.AWAITING_TRACKING:
            raise ShipmentRefused(
                f"the shipment is {self.status.value} and has tracking number {self.tracking_number}"
                if self.tracking_number else f"the shipment is {self.status.value}"
            )
        if entered_by is not None and not self.manual_tracking:
            raise ShipmentRefused(f"{self.carrier} issues its own tracking numbers")
        self.tracking_number = tracking_number
        self.note(now, "tracking number", f"{tracking_number}" + (f" typed by {entered_by}" if entered_by else ""))
        events: list[Message] = [
            ShipmentCreated(
                order_id=self.order_id, shipment_id=self.shipment_id, carrier=self.carrier,
                tracking_number=tracking_number, documents=list(self.planned_documents),
            )
        ]
        if self.flow == "batch":
            self.status = ShipmentStatus.AWAITING_BATCH
            self.note(now, "waiting for a batch", "documents print when the order joins a batch")
        elif self.flow == "pack":
            self.status = ShipmentStatus.PACKING
            self.note(now, "waiting for packing", "documents print at the pack station after the last scan")
        else:
            self.status = ShipmentStatus.PRINTING
            events += self._print(self.planned_documents, now=now)
            if self.flow == "immediately":
                events += self._confirm(now)
        return events

    # Batches ---------------------------------------------------------------------------------------------------

    def print_for_batch(self, *, batch_id: uuid.UUID, now: datetime) -> list[Message]:
        """The order joined a batch: print its packing slip, and in the batch flow the documents it held."""
        self._require_open("join a batch")
        if self.status is ShipmentStatus.AWAITING_TRACKING:
            raise ShipmentRefused(f"order {self.order.details.order_number} has no tracking number yet")
        self.batch_id = batch_id
        self.note(now, "joined batch", str(batch_id))
        wanted: tuple[str, ...] = ("packing_slip",)
        if self.flow == "batch":
            wanted = (*self.planned_documents, "packing_slip")
            self.status = ShipmentStatus.PRINTING
        return self._print(wanted, now=now)

    def confirm_for_batch(self, *, batch_id: uuid.UUID, now: datetime) -> list[Message]:
        """Staff processed the order's batch: the batch flow confirms here; other flows confirm on their own."""
        if self.status is ShipmentStatus.CONFIRMED:
            self.note(now, "batch processed", "already confirmed")
            return []
        self._require_open("be processed with a batch")
        if self.batch_id != batch_id:
            raise ShipmentRefused(f"order {self.order.details.order_number} is not in batch {batch_id}")
        if self.flow != "batch":
            self.note(now, "batch processed", f"this order confirms by its own flow ({self.flow})")
            return []
        if self.status is ShipmentStatus.ATTENTION:
            raise ShipmentRefused(f"order {self.order.details.order_number}: {self.attention_reason}")
        return self._confirm(now)

    # Pack station ----------------------------------------------------------------------------------------------

    def scan(self, *, code: str, station: str, now: datetime) -> list[Message]:
        """One item scanned at a pack station; the last one prints the documents there and confirms."""
        number = self.order.details.order_number
        if self.flow != "pack":
            raise ShipmentRefused(f"order {number} is not packed at a station (flow {self.flow})")
        if self.status is not ShipmentStatus.PACKING:
            raise ShipmentRefused(f"order {number} is {self.status.value}, not waiting for packing")
        code = code.strip()
        item = next((i for i in self.items if code in (i.sku, i.barcode)), None)
        if item is None:
            raise ShipmentRefused(f"wrong item: {code} is not in order {number}")
        if item.scanned >= item.quantity:
            raise ShipmentRefused(f"over-scan: all {item.quantity} of {item.sku} in order {number} are scanned")
        item.scanned += 1
        self.note(now, f"scanned {item.sku}", f"{item.scanned} of {item.quantity} at {station}")
        if any(i.scanned < i.quantity for i in self.items):
            return []
        self.station = station
        self.status = ShipmentStatus.PRINTING
        return [*self._print(self.planned_documents, now=now, station=station), *self._confirm(now)]

    # Print outcomes --------------------------------------------------------------------------------------------

    def record_document_outcome(
        self, *, job_id: uuid.UUID, printed: bool, reason: str | None, now: datetime
    ) -> list[Message]:
        """Printing finished (or gave up on) one document; the `printed` flow confirms once every one printed."""
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
        if self.status in (ShipmentStatus.CONFIRMED, ShipmentStatus.VOIDED):
            return []
        return self._settle(now)

    @property
    def all_printed(self) -> bool:
        """Every document sent so far has printed."""
        return bool(self.documents) and all(d.status is DocumentStatus.PRINTED for d in self.documents)

    def _settle(self, now: datetime) -> list[Message]:
        """Derive the status from the documents; the `printed` flow confirms the first time all have printed."""
        failed = [d for d in self.documents if d.status is DocumentStatus.FAILED]
        self.attention_reason = "; ".join(f"{d.document_type} failed: {d.reason}" for d in failed) or None
        if self.status not in (ShipmentStatus.PRINTING, ShipmentStatus.ATTENTION):
            # Still waiting for its batch or its packer (a batch's packing slip printed early): the failure is shown,
            # and the flow goes on.
            return []
        if failed:
            self.status = ShipmentStatus.ATTENTION
            return []
        self.status = ShipmentStatus.PRINTING
        if self.flow == "printed" and self.all_printed:
            return self._confirm(now)
        return []

    # Void ------------------------------------------------------------------------------------------------------

    def void(self, *, reason: str, by: str, now: datetime) -> list[Message]:
        """Staff void the shipment before it is confirmed; its tracking number is dead."""
        if self.status is ShipmentStatus.VOIDED:
            self.note(now, "void requested again", "already voided")
            return []
        if self.status is ShipmentStatus.CONFIRMED:
            raise ShipmentRefused(
                f"the shipment of order {self.order.details.order_number} is confirmed: resend or return instead"
            )
        self.status = ShipmentStatus.VOIDED
        self.voided_at, self.void_reason = now, reason
        self.note(now, "voided", f"{reason} (by {by})")
        return [
            ShipmentVoided(
                order_id=self.order_id, shipment_id=self.shipment_id, tracking_number=self.tracking_number or "",
                reason=reason, by=by,
            )
        ]

    # Helpers ---------------------------------------------------------------------------------------------------

    def _require_open(self, action: str) -> None:
        if self.status not in OPEN:
            raise ShipmentRefused(
                f"order {self.order.details.order_number}'s shipment is {self.status.value} and cannot {action}"
            )

    def _print(self, document_types, *, now: datetime, station: str | None = None) -> list[Message]:
        """Send each document not sent yet to print (at `station` when given)."""
        sent = {d.document_type for d in self.documents}
        events: list[Message] = []
        for document_type in dict.fromkeys(document_types):
            if document_type in sent:
                continue
            document = ShipmentDocument(
                document_type=document_type,
                job_id=print_job_id(self.order_id, document_type, self.attempt),
                revision=self.attempt,
                station=station,
                updated_at=now,
            )
            self.documents.append(document)
            events.append(
                PrintDocument(
                    job_id=document.job_id, document_type=document_type, revision=document.revision,
                    order=self.order, carrier=self.carrier, tracking_number=self.tracking_number or "",
                    station=station,
                )
            )
        if events:
            where = f" at {station}" if station else ""
            self.note(now, "printing" + where, ", ".join(e.document_type for e in events))
        return events

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
                tracking_number=self.tracking_number or "",
                shipped_at=now,
            )
        ]
