"""Write-backs: telling a channel (or a buyer) what happened to an order, one document per (order, action).

A write-back is `pending` until the channel accepts it (`confirmed`) or its attempts run out (`failed`, with the
last reason); staff can retry a failed one, which starts a fresh round of attempts. An action the channel cannot
do is recorded as `skipped` with the reason, so staff see why nothing was sent. Pure rules, no I/O.
"""

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from oms_contracts.common import OrderDetails

MAX_BACKOFF_SECONDS = 3600.0
REASON_LIMIT = 500


class WriteBackState(StrEnum):
    """Where a write-back is."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Attempt(BaseModel):
    """One try: when, and what went wrong (None = the channel accepted it)."""

    at: datetime
    error: str | None = None


class WriteBack(BaseModel):
    """One action told to one order's channel: what to send, where it is, and every attempt so far."""

    writeback_id: uuid.UUID
    order_id: uuid.UUID
    action: str  # ship | cancel | refund | follow_up
    channel: str
    channel_account: str | None = None
    channel_order_id: str
    order: OrderDetails
    carrier: str | None = None
    tracking_number: str | None = None
    shipped_at: datetime | None = None
    refund: Decimal | None = None
    reason: str | None = None
    via: str | None = None  # a follow-up's way: "message" (through the channel) or "email"
    state: WriteBackState = WriteBackState.PENDING
    last_error: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    round_attempts: int = 0  # attempts since it was created or last retried by staff
    next_attempt_at: datetime | None = None
    created_at: datetime
    confirmed_at: datetime | None = None

    def attempted(self, *, at: datetime, error: str | None, max_attempts: int, backoff: float) -> None:
        """Record one attempt: confirmed, pending until the next (doubling backoff), or failed when out of tries."""
        error = None if error is None else error[:REASON_LIMIT]
        self.attempts.append(Attempt(at=at, error=error))
        self.round_attempts += 1
        if error is None:
            self.state, self.last_error, self.confirmed_at, self.next_attempt_at = (
                WriteBackState.CONFIRMED, None, at, None)
        elif self.round_attempts >= max_attempts:
            self.state, self.last_error, self.next_attempt_at = WriteBackState.FAILED, error, None
        else:
            self.state, self.last_error = WriteBackState.PENDING, error
            self.next_attempt_at = at + timedelta(seconds=backoff_seconds(backoff, self.round_attempts))

    def retry(self, *, at: datetime) -> bool:
        """Staff asked again: a failed write-back starts a new round now; False when it is not failed."""
        if self.state is not WriteBackState.FAILED:
            return False
        self.state, self.round_attempts, self.next_attempt_at = WriteBackState.PENDING, 0, at
        return True

    def skip(self, reason: str) -> None:
        """Nothing will be sent, for `reason` (the channel cannot do this action)."""
        self.state, self.last_error, self.next_attempt_at = WriteBackState.SKIPPED, reason[:REASON_LIMIT], None


def backoff_seconds(base: float, attempts: int) -> float:
    """Wait after the `attempts`-th failed attempt of a round: base, 2×base, 4×base…, capped at an hour."""
    return min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def to_document(writeback: WriteBack, *, version: int, handled: dict[str, Any]) -> dict[str, Any]:
    """The write-back as stored (`_id` = its id, `version` and `handled` for one writer and idempotency)."""
    doc = writeback.model_dump(mode="json")
    doc["_id"] = str(doc.pop("writeback_id"))
    # Times stay BSON dates, so the scheduler can ask for those due.
    for name in ("shipped_at", "next_attempt_at", "created_at", "confirmed_at"):
        doc[name] = getattr(writeback, name)
    doc["attempts"] = [{"at": a.at, "error": a.error} for a in writeback.attempts]
    return doc | {"version": version, "handled": handled}


def from_document(doc: dict[str, Any]) -> WriteBack:
    """A stored write-back."""
    return WriteBack.model_validate({**doc, "writeback_id": doc["_id"]})
