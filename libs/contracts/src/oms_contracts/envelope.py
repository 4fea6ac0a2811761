"""The one envelope every message travels in, and the dead-letter record."""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SerializeAsAny

# Namespace for ids derived from other ids, so a replayed message derives the same ids again.
_DERIVED_NAMESPACE = uuid.UUID("5b0c1e9a-4f4e-4a43-9a0e-6f6d73000001")


class Message(BaseModel):
    """Base of every payload: declares its wire `TYPE`, `VERSION` and `TOPIC`; unknown fields are ignored."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    VERSION: ClassVar[int] = 1
    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(BaseModel):
    """Metadata shared by every message; `event_id` is the dedupe key."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID
    type: str
    version: int
    occurred_at: AwareDatetime
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    producer: str
    payload: SerializeAsAny[Message]


def derived_id(source: uuid.UUID | str, *parts: str) -> uuid.UUID:
    """A deterministic id for the message derived from `source`, so redelivery derives the same id."""
    return uuid.uuid5(_DERIVED_NAMESPACE, ":".join([str(source), *parts]))


def new_envelope(
    payload: Message,
    *,
    producer: str,
    cause: Envelope | None = None,
    event_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Envelope:
    """Wrap `payload`; a message caused by another carries its correlation and causation ids."""
    if cause is not None:
        correlation_id = cause.correlation_id
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        type=payload.TYPE,
        version=payload.VERSION,
        occurred_at=now or datetime.now(UTC),
        correlation_id=correlation_id or uuid.uuid4(),
        causation_id=cause.event_id if cause else None,
        producer=producer,
        payload=payload,
    )


class DeadLetter(BaseModel):
    """What a consumer writes to `<topic>.dlq` for a message it can never handle."""

    reason: str
    topic: str
    partition: int
    offset: int
    key: str | None = None
    value: str = Field(description="The original message value, decoded as UTF-8 with replacement.")
    consumer_group: str
    failed_at: AwareDatetime
    attempts: int = 1
    headers: dict[str, Any] = Field(default_factory=dict)
