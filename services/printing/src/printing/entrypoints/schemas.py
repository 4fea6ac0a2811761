"""Shapes of the printing HTTP API."""

import uuid
from datetime import datetime

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class HistoryEntryPublic(BaseModel):
    """A state the job entered, when, and why (for a failure or a restart)."""

    state: str
    at: datetime
    note: str | None = None


class PrintJobPublic(BaseModel):
    """A print job as staff see it."""

    job_id: uuid.UUID
    order_id: uuid.UUID
    order_number: str
    document_type: str
    revision: int
    printer: str
    state: str
    size_bytes: int | None
    reason: str | None
    attempts: int
    reprints: int
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntryPublic]


class ReprintRequest(BaseModel):
    """Why staff want a printed job printed again."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ReprintAccepted(BaseModel):
    """The reprint was sent to the printing worker; the job's history shows when it printed."""

    job_id: uuid.UUID
    command_id: uuid.UUID
