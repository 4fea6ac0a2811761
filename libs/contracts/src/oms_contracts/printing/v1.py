"""Printing commands and events, version 1. Key: the print job id.

For a pick list (`PrintPickList`), the job's JobPrinted/JobFailed carry the **batch id** in `order_id`
(a pick list belongs to a batch, not to one order) and `document_type` "pick_list".
"""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from oms_contracts import topics
from oms_contracts.envelope import Message, derived_id
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.registry import register

DocumentType = Literal["invoice", "shipping_label", "packing_slip", "pick_list"]


def print_job_id(order_id: uuid.UUID, document_type: str, revision: int) -> uuid.UUID:
    """A print job is keyed by (order, document type, revision): the same job issued twice is one job."""
    return derived_id("print-job", str(order_id), document_type, str(revision))


# Commands (topic oms.printing.commands)


@register
class PrintDocument(Message):
    """Render one document of an order and send it to the printer for its type."""

    TYPE = "printing.print_document"
    TOPIC = topics.PRINTING_COMMANDS
    job_id: uuid.UUID
    document_type: DocumentType
    revision: int = 1
    order: OrderSnapshot
    carrier: str
    tracking_number: str
    station: str | None = Field(default=None, description="Print at this station's printers (pack station flow).")


class PickListLine(BaseModel):
    """One SKU to pick for a batch: where it lives and how many, over the batch's orders."""

    sku: str
    title: str
    location: str | None = None
    bin: str | None = None
    quantity: int = Field(gt=0)
    order_numbers: list[str] = Field(default_factory=list)


@register
class PrintPickList(Message):
    """Render a batch's pick list (lines sorted by location, bin, then SKU) and print it. Key: the batch id."""

    TYPE = "printing.print_pick_list"
    TOPIC = topics.PRINTING_COMMANDS
    job_id: uuid.UUID
    batch_id: uuid.UUID
    revision: int = 1
    lines: list[PickListLine] = Field(min_length=1)
    station: str | None = None


@register
class ReprintJob(Message):
    """Print a job that already printed once more, from the document it stored; staff gave a reason."""

    TYPE = "printing.reprint_job"
    TOPIC = topics.PRINTING_COMMANDS
    job_id: uuid.UUID
    reason: str
    requested_by: str


@register
class RecordDelivery(Message):
    """Printing's own command: a printer (through the worker's delivery loop) or a print station (through its
    acknowledgement) took a rendered job, or gave up on it. Only the command consumer writes the job, so the
    outcome travels as a command keyed by the job id. `attempt` is the job's attempt it answers (a stale
    answer for an earlier attempt changes nothing); `reprint` set: it answers that reprint of a printed job."""

    TYPE = "printing.record_delivery"
    TOPIC = topics.PRINTING_COMMANDS
    job_id: uuid.UUID
    attempt: int = Field(ge=1)
    printed: bool
    printer: str
    tries: int = Field(default=1, ge=1, description="Connections made to the printer for this attempt.")
    reason: str | None = Field(default=None, description="Why it could not print, when printed is false.")
    sent_at: datetime | None = None
    station: str | None = None
    resumed: bool = Field(
        default=False, description="Sent again after a restart: the printer may have taken a copy before."
    )
    reprint: uuid.UUID | None = Field(
        default=None, description="Set when a station printed (or not) a reprint of the printed job: the reprint's id."
    )


# Events (topic oms.printing.events)


@register
class JobPrinted(Message):
    """The printer took the whole document."""

    TYPE = "printing.job_printed"
    TOPIC = topics.PRINTING_EVENTS
    job_id: uuid.UUID
    order_id: uuid.UUID
    document_type: DocumentType
    printer: str
    size_bytes: int


@register
class JobFailed(Message):
    """The job could not be printed after its retries."""

    TYPE = "printing.job_failed"
    TOPIC = topics.PRINTING_EVENTS
    job_id: uuid.UUID
    order_id: uuid.UUID
    document_type: DocumentType
    reason: str
