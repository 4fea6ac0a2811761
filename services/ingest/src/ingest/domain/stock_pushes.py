"""Available stock pushed to channels: one document per SKU, debounced.

A change of a SKU's available stock makes its push `pending` with `next_attempt_at` one debounce window away;
further changes in that window only update the value, so a burst of changes is one push of the latest value per
channel. A push is `pushed` once every channel that takes stock has the value, else retried with backoff and
`failed` (with each channel's reason) when the attempts run out; the next change starts again. Pure rules.
"""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from ingest.domain.writebacks import REASON_LIMIT, backoff_seconds

PENDING, PUSHED, FAILED = "pending", "pushed", "failed"


class ChannelStock(BaseModel):
    """What one channel was last sent for the SKU, and the last error from it."""

    available: int | None = None
    at: datetime | None = None
    error: str | None = None


class StockPush(BaseModel):
    """A SKU's available stock and where each channel stands with it."""

    sku: str
    available: int
    as_of: datetime
    state: str = PENDING
    next_attempt_at: datetime | None = None
    attempts: int = 0  # every attempt so far (the attempt commands count them)
    round_attempts: int = 0
    channels: dict[str, ChannelStock] = Field(default_factory=dict)  # by channel id
    last_error: str | None = None

    @classmethod
    def first(cls, *, sku: str, available: int, as_of: datetime, now: datetime, debounce: float) -> "StockPush":
        """The SKU's first change: pushed once the debounce window is over."""
        return cls(sku=sku, available=available, as_of=as_of, next_attempt_at=now + timedelta(seconds=debounce))

    def changed(self, *, available: int, as_of: datetime, now: datetime, debounce: float) -> bool:
        """A newer value; an older one (a replay) changes nothing. A settled push starts a new debounce window."""
        if as_of <= self.as_of:
            return False
        self.available, self.as_of = available, as_of
        if self.state != PENDING:
            self.state, self.round_attempts = PENDING, 0
            self.next_attempt_at = now + timedelta(seconds=debounce)
        return True

    def stale(self, channel_id: str) -> bool:
        """Whether the channel still needs the current value."""
        known = self.channels.get(channel_id)
        return known is None or known.available != self.available or known.error is not None

    def pushed(self, *, at: datetime, results: dict[str, str | None], max_attempts: int, backoff: float) -> None:
        """Record one attempt's result per channel (None = accepted)."""
        self.attempts += 1
        self.round_attempts += 1
        for channel_id, error in results.items():
            previous = self.channels.get(channel_id, ChannelStock())
            self.channels[channel_id] = (ChannelStock(available=self.available, at=at) if error is None else
                                         previous.model_copy(update={"error": error[:REASON_LIMIT]}))
        errors = [f"{c}: {e}" for c, e in results.items() if e is not None]
        if not errors:
            self.state, self.last_error, self.next_attempt_at = PUSHED, None, None
        elif self.round_attempts >= max_attempts:
            self.state, self.last_error, self.next_attempt_at = FAILED, "; ".join(errors)[:REASON_LIMIT], None
        else:
            self.last_error = "; ".join(errors)[:REASON_LIMIT]
            self.next_attempt_at = at + timedelta(seconds=backoff_seconds(backoff, self.round_attempts))


def to_document(push: StockPush, *, version: int) -> dict[str, Any]:
    """The push as stored (`_id` = the SKU; times as BSON dates for the scheduler)."""
    doc = push.model_dump(mode="json")
    doc["_id"] = push.sku
    doc["as_of"], doc["next_attempt_at"] = push.as_of, push.next_attempt_at
    doc["channels"] = {k: v.model_dump() for k, v in push.channels.items()}
    return doc | {"version": version}


def from_document(doc: dict[str, Any]) -> StockPush:
    """A stored push."""
    return StockPush.model_validate(doc)
