"""Shapes of the printing HTTP API."""

import uuid
from datetime import datetime

from pydantic import BaseModel


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
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntryPublic]
