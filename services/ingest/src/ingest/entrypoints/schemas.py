"""What the ingest API accepts and answers."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ingest.domain.model import IntakeKind, IntakeStatus
from ingest.domain.normalise import GenericOrderPayload


class IntakeAccepted(BaseModel):
    """The answer to a payload that was stored (and, normally, published)."""

    intake_id: uuid.UUID
    status: IntakeStatus
    status_url: str


class WebhookAccepted(BaseModel):
    """The answer to a signed webhook delivery: 200 whatever became of it (see `status`), so the channel does
    not resend it. `status` is published, received (stored, Kafka slow), skipped (with `reason`), failed
    (kept in the intake log with `reason`) or duplicate (this delivery id was received before)."""

    intake_id: uuid.UUID | None
    status: str
    reason: str | None = None
    status_url: str | None = None


class SkippedOrderPublic(BaseModel):
    """An order of a CSV file deliberately not imported: its first row and why (cancelled, already_shipped)."""

    channel_order_id: str
    row: int
    reason: str


class CsvImportAccepted(IntakeAccepted):
    """The answer to a CSV file whose every row is good: how many orders it sent, and which it skipped."""

    orders: int
    skipped: list[SkippedOrderPublic]


class IntakeListItem(BaseModel):
    """An intake in a list: no headers, no body."""

    intake_id: uuid.UUID
    kind: IntakeKind
    channel: str
    received_at: datetime
    status: IntakeStatus
    error: str | None
    event_id: uuid.UUID | None
    published_at: datetime | None
    account: str | None = None
    delivery_id: str | None = None
    topic: str | None = None
    skip_reason: str | None = None
    channel_order_id: str | None = None
    channel_updated_at: datetime | None = None
    retries: list[dict] = Field(default_factory=list, description="Each retry asked for: at, by, the error then.")


class IntakePublic(IntakeListItem):
    """One intake with the payload exactly as received (headers without credentials)."""

    headers: list[tuple[str, str]]
    body: str
    mapping: dict[str, str] | None = None


def order_payload_openapi() -> dict[str, Any]:
    """The OpenAPI request body of the generic order intake (the route reads the raw body itself)."""
    schema = GenericOrderPayload.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_refs(schema)}},
        }
    }


def csv_file_openapi() -> dict[str, Any]:
    """The OpenAPI request body of the CSV order import: the file itself, as text/csv."""
    return {
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace `#/$defs/...` references by their definitions (OpenAPI resolves refs against its own root)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)
