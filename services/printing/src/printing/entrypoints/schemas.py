"""Shapes of the printing HTTP API."""

import uuid
from datetime import datetime

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class HistoryEntryPublic(BaseModel):
    """A state the job entered, when, and why (for a failure or a restart)."""

    state: str
    at: datetime
    note: str | None = None


class ReprintPublic(BaseModel):
    """One reprint staff asked for: waiting (for the station's agent), printed or failed, and when."""

    reprint_id: uuid.UUID
    reason: str
    requested_by: str
    requested_at: datetime
    station: str | None = None
    printer: str | None = None
    state: Literal["waiting", "printed", "failed"]
    settled_at: datetime | None = None
    error: str | None = None


class PrintJobPublic(BaseModel):
    """A print job as staff see it."""

    job_id: uuid.UUID
    order_id: uuid.UUID
    order_number: str
    document_type: str
    revision: int
    printer: str
    station: str | None = None
    state: str
    size_bytes: int | None
    reason: str | None
    attempts: int
    reprints: int
    reprint_requests: list[ReprintPublic] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntryPublic]


class ReprintRequest(BaseModel):
    """Why staff want a printed job printed again."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ReprintAccepted(BaseModel):
    """What became of a reprint: `printed` or `failed` (a network printer, at once), `waiting` for the station's
    agent (the job's history says when it printed), or `pending` when the worker had not answered in time."""

    job_id: uuid.UUID
    command_id: uuid.UUID = Field(description="The reprint's id (the same Idempotency-Key gives the same one).")
    state: Literal["pending", "waiting", "printed", "failed"] = "pending"
    station: str | None = None
    error: str | None = None
    job: PrintJobPublic | None = None


class PrinterPublic(BaseModel):
    """A registered printer with its state as the delivery loop last saw it (online: the last try worked)."""

    name: str
    protocol: str
    address: str
    uri: str
    paper: str
    document_types: list[str]
    label_format: str
    station: str | None
    online: bool | None = None
    last_seen_at: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None


class TemplateUpdate(BaseModel):
    """A template's new source (Jinja2; HTML for PDF documents, ZPL for thermal labels)."""

    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class TemplatePreview(BaseModel):
    """What to preview: a candidate source (or the template in use when left out), for a channel and country."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, max_length=200_000)
    channel: str | None = Field(None, pattern=r"^[a-z0-9_]+$", max_length=50)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    format: Literal["pdf", "png"] = "pdf"


class TemplatePublic(BaseModel):
    """A template override staff saved."""

    key: str
    template: str
    channel: str | None
    country: str | None
    source: str
    updated_at: datetime
    updated_by: str


class StationCreate(BaseModel):
    """A print station to register; its key is answered once."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class StationCreated(BaseModel):
    """The station's key: keep it, it is not shown again."""

    name: str
    key: str


class StationPublic(BaseModel):
    """A print station as staff see it; online when its agent asked for jobs recently."""

    name: str
    revoked: bool
    last_seen_at: datetime | None = None
    online: bool


class StationJob(BaseModel):
    """A job as a station agent receives it: the rendered document (base64) and where to print it."""

    job_id: uuid.UUID
    attempt: int
    document_type: str
    order_number: str
    printer: str | None = Field(description="The station's registered printer for this type; None: the default.")
    content_type: str
    document_base64: str
    reprint: uuid.UUID | None = Field(
        None, description="Set for a reprint of a printed job: acknowledge with it; each reprint prints once."
    )
    reason: str | None = Field(None, description="Why staff asked for the reprint.")


class StationAck(BaseModel):
    """The agent printed a job (or could not, and says why)."""

    model_config = ConfigDict(extra="forbid")

    attempt: int = Field(ge=1)
    printed: bool
    printer: str = Field(min_length=1, max_length=500)
    reason: str | None = Field(None, max_length=1000)
    reprint: uuid.UUID | None = Field(None, description="The reprint this answers (as the job list gave it).")
