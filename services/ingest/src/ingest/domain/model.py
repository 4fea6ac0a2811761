"""The intake record: one inbound payload exactly as received, and what became of it."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ingest.domain.errors import PayloadRejected, PayloadTooLarge, Problem

# What is kept of a body over the size limit, so staff can still see what was sent.
TOO_LARGE_PREVIEW_BYTES = 64 * 1024

# Headers that carry credentials are never stored; everything else is kept for diagnosis.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_SECRET_WORDS = ("secret", "token", "password", "passwd", "api-key", "apikey", "api_key", "session")


class IntakeStatus(StrEnum):
    """Where an intake is: stored but not yet published, published, failed (kept with its error) or skipped
    (read fine but deliberately not imported, kept with the reason)."""

    RECEIVED = "received"
    PUBLISHED = "published"
    FAILED = "failed"
    SKIPPED = "skipped"


class IntakeKind(StrEnum):
    """What a payload claims to be, which decides how it is normalised."""

    ORDER = "order"
    CSV_ORDERS = "csv_orders"
    SHOPIFY_ORDER = "shopify_order"
    WOOCOMMERCE_ORDER = "woocommerce_order"
    POLLED_ORDER = "polled_order"  # one raw order a channel connector fetched (channel + account = the channel)
    PAYPAL_IPN = "paypal_ipn"  # a PayPal Instant Payment Notification (form-encoded)
    PAYPAL_WEBHOOK = "paypal_webhook"  # a PayPal REST webhook event (captures, refunds)
    PAYPAL_ACTIVITY_CSV = "paypal_activity_csv"  # a PayPal activity download (payments file)


# Orders whose payload failed to read can be read again after a fix (a mapping, a channel option, new code).
RETRYABLE_KINDS = frozenset({IntakeKind.ORDER, IntakeKind.CSV_ORDERS, IntakeKind.SHOPIFY_ORDER,
                             IntakeKind.WOOCOMMERCE_ORDER, IntakeKind.POLLED_ORDER})


class IntakeSummary(BaseModel):
    """An intake without its headers and body: what lists show."""

    model_config = ConfigDict(frozen=True)

    intake_id: uuid.UUID
    kind: IntakeKind
    channel: str
    received_at: datetime
    status: IntakeStatus
    error: str | None = None
    event_id: uuid.UUID | None = None
    published_at: datetime | None = None
    # Webhooks: the channel account it was addressed to, the channel's delivery id and topic.
    account: str | None = None
    delivery_id: str | None = None
    topic: str | None = None
    skip_reason: str | None = None
    # The channel's order id (polled orders, webhooks) and, for polled orders, the channel's updated time of
    # this version: what reconciliation compares with the channel's own list.
    channel_order_id: str | None = None
    channel_updated_at: datetime | None = None
    # Each time staff asked for a failed payload to be read again: when, who, and the error it had then.
    retries: list[dict] = Field(default_factory=list)


class Intake(IntakeSummary):
    """One inbound payload, verbatim (headers without credentials, body as text), and its status."""

    headers: list[tuple[str, str]]
    body: str
    # How to read the body, as given with it (the CSV column mapping); kept so a re-publish reads it the same way.
    mapping: dict[str, str] | None = None


def safe_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request headers in order, without any that carry credentials."""
    kept = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in _SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS):
            continue
        kept.append((name, value))
    return kept


def read_body(raw: bytes, *, limit: int) -> tuple[str, PayloadRejected | None]:
    """The body as text to keep, and why it cannot be read at all (over `limit` bytes, not UTF-8), if so."""
    if len(raw) > limit:
        kept = raw[:TOO_LARGE_PREVIEW_BYTES].decode("utf-8", errors="replace")
        return kept, PayloadTooLarge([Problem(
            loc=("body",),
            msg=f"body larger than {limit} bytes (only its first {TOO_LARGE_PREVIEW_BYTES} bytes are kept)",
            type="too_large",
        )])
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        # MongoDB stores text as UTF-8 only; keep a readable copy and say exactly where it broke.
        return raw.decode("utf-8", errors="replace"), PayloadRejected([Problem(
            loc=("body",), msg=f"body is not UTF-8 ({exc.reason} at byte {exc.start})", type="unicode_invalid",
        )])


def new_intake(
    *,
    intake_id: uuid.UUID,
    kind: IntakeKind,
    channel: str,
    headers: Iterable[tuple[str, str]],
    raw: bytes,
    received_at: datetime,
    limit: int,
    mapping: dict[str, str] | None = None,
    account: str | None = None,
    delivery_id: str | None = None,
    topic: str | None = None,
    channel_order_id: str | None = None,
    channel_updated_at: datetime | None = None,
) -> tuple[Intake, PayloadRejected | None]:
    """The intake record of a payload just received; one whose body cannot be read at all starts as failed.

    `received_at` is kept to the millisecond, as MongoDB stores it, so a message built from the stored
    intake later (occurred_at, default channel_updated_at) equals the one built now.
    """
    body, unreadable = read_body(raw, limit=limit)
    received_at = received_at.replace(microsecond=received_at.microsecond // 1000 * 1000)
    intake = Intake(
        intake_id=intake_id,
        kind=kind,
        channel=channel,
        received_at=received_at,
        headers=safe_headers(headers),
        body=body,
        status=IntakeStatus.FAILED if unreadable else IntakeStatus.RECEIVED,
        error=unreadable.reason if unreadable else None,
        mapping=mapping,
        account=account,
        delivery_id=delivery_id,
        topic=topic,
        channel_order_id=channel_order_id,
        channel_updated_at=channel_updated_at,
    )
    return intake, unreadable
