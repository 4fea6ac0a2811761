"""Ingest's use cases: receive an order payload, a channel webhook or a CSV order file (store first, then
publish); re-publish."""

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ingest.adapters.intake_store import IntakeStore
from ingest.domain.channel_orders import DEFAULT_WOOCOMMERCE_STATUSES
from ingest.domain.csv_orders import CHANNEL as CSV_CHANNEL
from ingest.domain.csv_orders import CsvImport, SkippedOrder, parse_csv_orders, resolve_mapping
from ingest.domain.errors import OrderSkipped, PayloadRejected
from ingest.domain.model import Intake, IntakeKind, IntakeStatus, new_intake
from ingest.domain.normalise import NormalisedOrder, normalise
from ingest.domain.webhooks import (
    DELIVERY_HEADERS,
    SHOPIFY,
    SIGNATURE_HEADERS,
    TOPIC_HEADERS,
    WOOCOMMERCE,
    WebhookSecrets,
    signature_matches,
)
from oms_contracts import Envelope, derived_id
from oms_contracts.ingest.v1 import OrderReceived
from oms_platform.documents import drill_crash
from oms_platform.messaging import Bus

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Runs a step after the caller has answered (FastAPI's BackgroundTasks.add_task): a webhook's answer then waits
# only for the insert and the publish, not for the intake's "published" mark.
Later = Callable[[Callable[[], Awaitable[None]]], None]

# Purpose in the derived event id: the same intake always yields the same `ingest.order_received` event id.
ORDER_RECEIVED_PURPOSE = "order-received"


@dataclass(frozen=True)
class Receipt:
    """What became of a received payload: its intake id and status, and why it was rejected, if it was."""

    intake_id: uuid.UUID
    status: IntakeStatus
    rejected: PayloadRejected | None = None


def order_received(
    intake: Intake, normalised: NormalisedOrder, *, bus: Bus, event_id: uuid.UUID | None = None
) -> tuple[Envelope, str]:
    """The `ingest.order_received` envelope of an intake and its Kafka key `<channel>:<channel_order_id>`.

    Everything in it derives from the stored intake (event id, correlation id = intake id, occurred_at =
    received_at), so re-publishing the intake sends the very same message.
    """
    order = normalised.order
    if intake.account and order.channel_account is None:
        # The account it came in on: write-back finds the channel's configuration by (kind, account).
        order = order.model_copy(update={"channel_account": intake.account})
    payload = OrderReceived(
        intake_id=intake.intake_id, channel_updated_at=normalised.channel_updated_at, order=order,
        lock_reason=normalised.lock_reason, shipped_on_channel=normalised.shipped_on_channel,
    )
    envelope = bus.envelope(
        payload,
        event_id=event_id or derived_id(intake.intake_id, ORDER_RECEIVED_PURPOSE),
        correlation_id=intake.intake_id,
        now=intake.received_at,
    )
    return envelope, f"{normalised.order.channel}:{normalised.order.channel_order_id}"


async def receive_order(
    *,
    channel: str,
    headers: Iterable[tuple[str, str]],
    raw: bytes,
    store: IntakeStore,
    bus: Bus,
    clock: Clock,
    max_body_bytes: int,
    publish_timeout: float = 5.0,
) -> Receipt:
    """Store the payload in the intake log, then normalise and publish it.

    A payload that cannot be normalised is kept as failed with the reason (nothing received is lost). If
    publishing fails or takes longer than `publish_timeout` seconds, the intake stays `received` and the
    re-publisher sends it later; the payload is safe, so the receipt still counts as accepted.
    """
    intake, unreadable = new_intake(
        intake_id=uuid.uuid4(), kind=IntakeKind.ORDER, channel=channel, headers=headers, raw=raw,
        received_at=clock(), limit=max_body_bytes,
    )
    await store.add(intake)
    if unreadable is not None:
        return Receipt(intake.intake_id, IntakeStatus.FAILED, unreadable)
    try:
        normalised = normalise(intake)
    except PayloadRejected as rejected:
        await store.mark_failed(intake.intake_id, error=rejected.reason)
        return Receipt(intake.intake_id, IntakeStatus.FAILED, rejected)
    except Exception as exc:
        # A normaliser bug: keep the payload as failed for staff to see, and let the caller answer 500.
        await store.mark_failed(intake.intake_id, error=f"normaliser failed: {type(exc).__name__}: {exc}")
        raise
    status = await publish_intake(intake, normalised, store=store, bus=bus, clock=clock,
                                  publish_timeout=publish_timeout)
    return Receipt(intake.intake_id, status)


async def publish_intake(
    intake: Intake, normalised: NormalisedOrder, *, store: IntakeStore, bus: Bus, clock: Clock, publish_timeout: float,
    later: Later | None = None,
) -> IntakeStatus:
    """Publish the order of a stored intake and mark it published (through `later` when given: the event is out,
    and a mark that never happens only makes the re-publisher send it again, same id); `received` if Kafka failed
    or was slow."""
    envelope, key = order_received(intake, normalised, bus=bus)
    drill_crash("store")  # the fault drill's worst moments: stored, not published; published, not marked
    try:
        # Bounded, so a channel is not kept waiting for Kafka's own (40 s) timeout; a send that still goes
        # through later only duplicates the event id the re-publisher would send anyway.
        await asyncio.wait_for(bus.publish(envelope, key=key), timeout=publish_timeout)
    except Exception:  # noqa: BLE001 - the payload is stored; the re-publisher sends it (same event id)
        log.warning("intake %s stored but not published; the re-publisher will send it", intake.intake_id,
                    exc_info=True)
        return IntakeStatus.RECEIVED
    drill_crash("publish")
    at = clock()

    async def mark() -> bool:
        try:
            await store.mark_published(intake.intake_id, event_id=envelope.event_id, at=at)
        except Exception:  # noqa: BLE001 - published already; a stale `received` is only re-sent with the same id
            log.warning("intake %s published but not marked; the re-publisher will send it again (same event id)",
                        intake.intake_id, exc_info=True)
            return False
        return True

    if later is not None:
        later(mark)
        return IntakeStatus.PUBLISHED
    return IntakeStatus.PUBLISHED if await mark() else IntakeStatus.RECEIVED


def csv_order_event_id(intake_id: uuid.UUID, channel_order_id: str) -> uuid.UUID:
    """The event id of one order of a CSV file: the same file intake and order always give the same id."""
    return derived_id(intake_id, ORDER_RECEIVED_PURPOSE, channel_order_id)


def read_csv_intake(intake: Intake) -> CsvImport:
    """The orders of a stored CSV intake, read with the mapping it came with; CsvRejected naming every bad row."""
    return parse_csv_orders(intake.body, mapping=intake.mapping)


def messages_of(
    intake: Intake, *, bus: Bus, woocommerce_statuses: Iterable[str] = DEFAULT_WOOCOMMERCE_STATUSES
) -> list[tuple[Envelope, str]]:
    """Every `ingest.order_received` (and its key) an intake yields; PayloadRejected when it cannot be read,
    OrderSkipped when it is deliberately not imported."""
    if intake.kind is IntakeKind.CSV_ORDERS:
        return [
            order_received(intake, normalised, bus=bus,
                           event_id=csv_order_event_id(intake.intake_id, normalised.order.channel_order_id))
            for normalised in read_csv_intake(intake).orders
        ]
    return [order_received(intake, normalise(intake, woocommerce_statuses=woocommerce_statuses), bus=bus)]


@dataclass(frozen=True)
class CsvReceipt:
    """What became of a CSV file: its intake, how many orders were published, which were skipped, or every error."""

    intake_id: uuid.UUID
    status: IntakeStatus
    orders: int = 0
    skipped: tuple[SkippedOrder, ...] = ()
    rejected: PayloadRejected | None = None


async def receive_csv_orders(
    *,
    headers: Iterable[tuple[str, str]],
    raw: bytes,
    mapping: str | None,
    store: IntakeStore,
    bus: Bus,
    clock: Clock,
    max_body_bytes: int,
    publish_timeout: float = 5.0,
) -> CsvReceipt:
    """Store a CSV order file in the intake log, read all of it, and publish its orders only if every row is good.

    A file with any bad row (or an unusable mapping) is kept as failed with every row error and publishes
    nothing. Publishing is all of the file's orders or, if Kafka fails or is slow, none for now: the intake
    stays `received` and the re-publisher sends them all, with the same event ids.
    """
    received_at = clock()
    try:
        columns = resolve_mapping(mapping)
    except PayloadRejected as rejected:
        columns, bad_mapping = None, rejected
    else:
        bad_mapping = None
    intake, unreadable = new_intake(
        intake_id=uuid.uuid4(), kind=IntakeKind.CSV_ORDERS, channel=CSV_CHANNEL, headers=headers, raw=raw,
        received_at=received_at, limit=max_body_bytes, mapping=columns,
    )
    await store.add(intake)
    if unreadable is not None:
        return CsvReceipt(intake.intake_id, IntakeStatus.FAILED, rejected=unreadable)
    try:
        if bad_mapping is not None:
            raise bad_mapping
        batch = read_csv_intake(intake)
    except PayloadRejected as rejected:
        await store.mark_failed(intake.intake_id, error=rejected.reason)
        return CsvReceipt(intake.intake_id, IntakeStatus.FAILED, rejected=rejected)
    except Exception as exc:
        await store.mark_failed(intake.intake_id, error=f"normaliser failed: {type(exc).__name__}: {exc}")
        raise
    messages = [
        order_received(intake, normalised, bus=bus,
                       event_id=csv_order_event_id(intake.intake_id, normalised.order.channel_order_id))
        for normalised in batch.orders
    ]
    skipped = tuple(batch.skipped)

    async def publish_all() -> None:
        for envelope, key in messages:
            await bus.publish(envelope, key=key)

    try:
        await asyncio.wait_for(publish_all(), timeout=publish_timeout)
    except Exception:  # noqa: BLE001 - the file is stored; the re-publisher sends every order (same event ids)
        log.warning("CSV intake %s stored but not (fully) published; the re-publisher will send it",
                    intake.intake_id, exc_info=True)
        return CsvReceipt(intake.intake_id, IntakeStatus.RECEIVED, orders=len(messages), skipped=skipped)
    first_event = messages[0][0].event_id if messages else None
    try:
        await store.mark_published(intake.intake_id, event_id=first_event, at=clock())
    except Exception:  # noqa: BLE001 - published already; a stale `received` is only re-sent with the same ids
        log.warning("CSV intake %s published but not marked", intake.intake_id, exc_info=True)
        return CsvReceipt(intake.intake_id, IntakeStatus.RECEIVED, orders=len(messages), skipped=skipped)
    return CsvReceipt(intake.intake_id, IntakeStatus.PUBLISHED, orders=len(messages), skipped=skipped)


async def republish_stale(
    *,
    store: IntakeStore,
    bus: Bus,
    clock: Clock,
    older_than: timedelta,
    batch: int = 100,
    woocommerce_statuses: Iterable[str] = DEFAULT_WOOCOMMERCE_STATUSES,
    normalise_polled: Callable[[Intake], Awaitable[NormalisedOrder]] | None = None,
) -> int:
    """Publish the intakes still `received` after `older_than` (oldest first); returns how many were published.

    Each gets the same event id it would have had the first time, so consumers drop a message that did get
    through before. A payload that cannot be normalised is marked failed. If the broker refuses, the round
    stops there (the error propagates) and the next round starts again from the oldest. A polled order is
    read by its channel's connector through `normalise_polled` (the poller's); without it, it waits.
    """
    published = 0
    for intake in await store.stale(received_before=clock() - older_than, limit=batch):
        if intake.kind is IntakeKind.POLLED_ORDER and normalise_polled is None:
            continue
        try:
            if intake.kind is IntakeKind.POLLED_ORDER:
                messages = [order_received(intake, await normalise_polled(intake), bus=bus)]
            else:
                messages = messages_of(intake, bus=bus, woocommerce_statuses=woocommerce_statuses)
        except PayloadRejected as rejected:
            await store.mark_failed(intake.intake_id, error=rejected.reason)
            continue
        except OrderSkipped as skipped:
            await store.mark_skipped(intake.intake_id, reason=skipped.reason)
            continue
        except Exception as exc:  # noqa: BLE001 - a normaliser bug must not block the intakes behind it
            log.exception("normalising intake %s failed", intake.intake_id)
            await store.mark_failed(intake.intake_id, error=f"normaliser failed: {type(exc).__name__}: {exc}")
            continue
        for envelope, key in messages:
            await bus.publish(envelope, key=key)
        first_event = messages[0][0].event_id if messages else None
        await store.mark_published(intake.intake_id, event_id=first_event, at=clock())
        published += 1
        log.info("re-published intake %s (%d message(s))", intake.intake_id, len(messages))
    return published



WEBHOOK_KINDS = {SHOPIFY: IntakeKind.SHOPIFY_ORDER, WOOCOMMERCE: IntakeKind.WOOCOMMERCE_ORDER}
# Purpose in the derived intake id of a webhook delivery: the same delivery always gets the same intake id.
WEBHOOK_DELIVERY_PURPOSE = "webhook-delivery"
_WOOCOMMERCE_PING = re.compile(rb"^webhook_id=\d+$")


class WebhookOutcome(StrEnum):
    """What became of a webhook delivery, beyond the intake statuses."""

    UNAUTHORIZED = "unauthorized"  # signature missing or wrong: nothing stored, nothing published
    TOO_LARGE = "too_large"  # over the size limit, so its signature cannot be checked: nothing stored
    PING = "ping"  # WooCommerce's unsigned `webhook_id=N` test delivery: nothing stored
    DUPLICATE = "duplicate"  # a delivery id already in the intake log: nothing new stored or published


@dataclass(frozen=True)
class WebhookReceipt:
    """What became of a webhook delivery: its intake (if stored) and status, or why it was turned away."""

    status: IntakeStatus | WebhookOutcome
    intake_id: uuid.UUID | None = None
    reason: str | None = None


def webhook_intake_id(channel: str, account: str, delivery_id: str) -> uuid.UUID:
    """The intake id of a webhook delivery, derived from the channel's delivery id (the dedupe key)."""
    return derived_id(f"{channel}:{account}", WEBHOOK_DELIVERY_PURPOSE, delivery_id)


async def receive_webhook(
    *,
    channel: str,
    account: str,
    headers: Iterable[tuple[str, str]],
    raw: bytes,
    secrets: WebhookSecrets,
    store: IntakeStore,
    bus: Bus,
    clock: Clock,
    max_body_bytes: int,
    publish_timeout: float = 5.0,
    woocommerce_statuses: Iterable[str] = DEFAULT_WOOCOMMERCE_STATUSES,
    later: Later | None = None,
) -> WebhookReceipt:
    """Verify a channel webhook's signature, store it once per delivery id, then normalise and publish it.

    The signature is checked on the raw body before anything else: a forged or unsigned delivery is neither
    stored nor published (it is logged, without secrets or signatures). A verified delivery whose id is in
    the intake log already is a redelivery and changes nothing. A delivery that is skipped (cancelled,
    status not unprocessed, unhandled topic) or cannot be normalised stays in the intake log with the reason;
    the caller still answers 2xx, because the channel resending it would not make it any better.
    """
    headers = list(headers)
    by_name = {name.lower(): value for name, value in headers}
    if channel == WOOCOMMERCE and SIGNATURE_HEADERS[channel] not in by_name and _WOOCOMMERCE_PING.match(raw):
        log.info("webhook %s/%s: ping delivery answered", channel, account)
        return WebhookReceipt(WebhookOutcome.PING)
    if len(raw) > max_body_bytes:
        log.warning("webhook %s/%s refused: body over %d bytes, its signature cannot be checked",
                    channel, account, max_body_bytes)
        return WebhookReceipt(WebhookOutcome.TOO_LARGE, reason=f"body larger than {max_body_bytes} bytes")
    account_secrets = secrets.of(channel, account)
    given = by_name.get(SIGNATURE_HEADERS[channel])
    if not signature_matches(raw, given, account_secrets):
        why = ("no secret configured for this account" if not account_secrets
               else "signature missing" if not given else "signature does not match")
        log.warning("webhook %s/%s rejected (%s): %d bytes, delivery %r", channel, account, why, len(raw),
                    by_name.get(DELIVERY_HEADERS[channel], "-"))
        return WebhookReceipt(WebhookOutcome.UNAUTHORIZED, reason="invalid signature")
    delivery_id = (by_name.get(DELIVERY_HEADERS[channel]) or "").strip() or None
    intake_id = webhook_intake_id(channel, account, delivery_id) if delivery_id else uuid.uuid4()
    intake, unreadable = new_intake(
        intake_id=intake_id, kind=WEBHOOK_KINDS[channel], channel=channel, headers=headers, raw=raw,
        received_at=clock(), limit=max_body_bytes, account=account, delivery_id=delivery_id,
        topic=(by_name.get(TOPIC_HEADERS[channel]) or "").strip() or None,
        channel_order_id=_order_id_of(raw),
    )
    if not await store.add_once(intake):
        log.info("webhook %s/%s delivery %s received again: nothing to do", channel, account, delivery_id)
        return WebhookReceipt(WebhookOutcome.DUPLICATE, intake_id)
    if unreadable is not None:
        return WebhookReceipt(IntakeStatus.FAILED, intake_id, unreadable.reason)
    try:
        normalised = normalise(intake, woocommerce_statuses=woocommerce_statuses)
    except OrderSkipped as skipped:
        await store.mark_skipped(intake_id, reason=skipped.reason)
        return WebhookReceipt(IntakeStatus.SKIPPED, intake_id, skipped.reason)
    except PayloadRejected as rejected:
        await store.mark_failed(intake_id, error=rejected.reason)
        log.warning("webhook %s/%s intake %s failed: %s", channel, account, intake_id, rejected.reason)
        return WebhookReceipt(IntakeStatus.FAILED, intake_id, rejected.reason)
    except Exception as exc:
        await store.mark_failed(intake_id, error=f"normaliser failed: {type(exc).__name__}: {exc}")
        raise
    status = await publish_intake(intake, normalised, store=store, bus=bus, clock=clock,
                                  publish_timeout=publish_timeout, later=later)
    return WebhookReceipt(status, intake_id)


def _order_id_of(raw: bytes) -> str | None:
    """The order `id` of a Shopify or WooCommerce order body, kept on the intake for reconciliation (None when
    the body is not such an order; the normaliser then says why)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    order_id = data.get("id") if isinstance(data, dict) else None
    return str(order_id) if isinstance(order_id, (int, str)) and not isinstance(order_id, bool) else None
