"""Receiving PayPal payments: IPN, REST webhooks and activity files. Each is stored verbatim in the intake log
first, then verified with PayPal (notifications), read, and published as `ingest.payment_received`.

A notification that PayPal does not confirm, or that cannot be confirmed now, is kept as failed with the reason
and publishes nothing; in the second case the caller answers 503 so PayPal sends it again. The same
notification again (same transaction and status) publishes the same event id, which downstream absorbs.
"""

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ingest.adapters.intake_store import IntakeStore
from ingest.adapters.paypal import PayPalVerifier, Unverifiable
from ingest.domain.errors import OrderSkipped, PayloadRejected
from ingest.domain.model import Intake, IntakeKind, IntakeStatus, new_intake
from ingest.domain.payments import (
    PROVIDER,
    ipn_fields,
    parse_activity_csv,
    payment_event_id,
    payment_from_ipn,
    payment_from_webhook,
    payment_key,
    webhook_event,
)
from oms_contracts import Envelope
from oms_contracts.common import PaymentDetails
from oms_contracts.ingest.v1 import PaymentReceived
from oms_platform.messaging import Bus

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class PaymentSettings:
    """What receiving payments needs to know: whose payments we take, and which accounts are a sales channel."""

    receivers: frozenset[str] = frozenset()  # empty: any receiver
    order_accounts: frozenset[str] = frozenset()  # PayPal as a sales channel: their unmatched payments open orders
    day_first: bool = True  # the activity files' date order (account locale)

    def ours(self, payment: PaymentDetails) -> bool:
        """Whether the payment was made to one of our accounts (refunds are made *from* them)."""
        return not self.receivers or (payment.receiver or "").lower() in self.receivers

    def opens_orders(self, payment: PaymentDetails) -> bool:
        return (payment.receiver or "").lower() in self.order_accounts


@dataclass(frozen=True)
class PaymentReceipt:
    """What became of a notification or file: its intake, status, reason, and whether PayPal should resend."""

    intake_id: uuid.UUID | None
    status: IntakeStatus
    reason: str | None = None
    retry_later: bool = False  # answer non-2xx: PayPal resends, and this time it may be verified or published
    rejected: PayloadRejected | None = None
    payments: dict[str, int] = field(default_factory=dict)  # activity files: rows per kind


def payment_received(intake: Intake, payment: PaymentDetails, *, bus: Bus, opens_orders: bool) -> tuple[Envelope, str]:
    """The `ingest.payment_received` envelope of one payment and its key; every id derives from stored data."""
    payload = PaymentReceived(intake_id=intake.intake_id, payment=payment, open_order_if_unmatched=opens_orders)
    envelope = bus.envelope(payload, event_id=payment_event_id(payment), correlation_id=intake.intake_id,
                            now=intake.received_at)
    return envelope, payment_key(payment)


async def _publish(intake: Intake, messages: list[tuple[Envelope, str]], *, store: IntakeStore, bus: Bus,
                   clock: Clock, timeout: float) -> PaymentReceipt | None:
    """Publish and mark published; on a Kafka failure mark the intake failed and ask for a resend (None = fine)."""
    try:
        async def publish_all() -> None:
            for envelope, key in messages:
                await bus.publish(envelope, key=key)
        await asyncio.wait_for(publish_all(), timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - kept as failed with the reason; the sender sends it again
        reason = f"not published ({type(exc).__name__}: {exc or 'timed out'}); send it again"
        log.warning("payment intake %s: %s", intake.intake_id, reason)
        await store.mark_failed(intake.intake_id, error=reason)
        return PaymentReceipt(intake.intake_id, IntakeStatus.FAILED, reason, retry_later=True)
    await store.mark_published(intake.intake_id, event_id=messages[0][0].event_id if messages else None, at=clock())
    return None


async def _failed(intake: Intake, reason: str, *, store: IntakeStore, retry_later: bool = False,
                  rejected: PayloadRejected | None = None) -> PaymentReceipt:
    log.warning("payment intake %s (%s) failed: %s", intake.intake_id, intake.kind.value, reason)
    await store.mark_failed(intake.intake_id, error=reason)
    return PaymentReceipt(intake.intake_id, IntakeStatus.FAILED, reason, retry_later=retry_later, rejected=rejected)


async def _skipped(intake: Intake, reason: str, *, store: IntakeStore) -> PaymentReceipt:
    log.info("payment intake %s skipped: %s", intake.intake_id, reason)
    await store.mark_skipped(intake.intake_id, reason=reason)
    return PaymentReceipt(intake.intake_id, IntakeStatus.SKIPPED, reason)


async def receive_ipn(
    *, headers: Iterable[tuple[str, str]], raw: bytes, store: IntakeStore, bus: Bus, verifier: PayPalVerifier,
    clock: Clock, settings: PaymentSettings, max_body_bytes: int, publish_timeout: float,
) -> PaymentReceipt:
    """Store an IPN, have PayPal confirm it (post-back), then publish its payment."""
    try:
        fields = ipn_fields(raw[:max_body_bytes])
    except PayloadRejected:
        fields = {}
    intake, unreadable = new_intake(
        intake_id=uuid.uuid4(), kind=IntakeKind.PAYPAL_IPN, channel=PROVIDER, headers=headers, raw=raw,
        received_at=clock(), limit=max_body_bytes, delivery_id=fields.get("ipn_track_id") or None,
        topic=fields.get("txn_type") or None, channel_order_id=fields.get("txn_id") or None,
    )
    await store.add(intake)
    if unreadable is not None:
        return PaymentReceipt(intake.intake_id, IntakeStatus.FAILED, unreadable.reason, rejected=unreadable)
    try:
        verified = await verifier.verify_ipn(raw)
    except Unverifiable as exc:
        return await _failed(intake, f"IPN could not be verified: {exc}", store=store, retry_later=True)
    if not verified:
        return await _failed(intake, "IPN not verified: PayPal answered INVALID", store=store)
    try:
        payment = payment_from_ipn(ipn_fields(raw))
    except OrderSkipped as skipped:
        return await _skipped(intake, skipped.reason, store=store)
    except PayloadRejected as rejected:
        return await _failed(intake, rejected.reason, store=store, rejected=rejected)
    if not settings.ours(payment) and payment.kind == "payment":
        return await _failed(intake, f"receiver {payment.receiver!r} is not one of our PayPal accounts", store=store)
    messages = [payment_received(intake, payment, bus=bus, opens_orders=settings.opens_orders(payment))]
    problem = await _publish(intake, messages, store=store, bus=bus, clock=clock, timeout=publish_timeout)
    return problem or PaymentReceipt(intake.intake_id, IntakeStatus.PUBLISHED)


async def receive_webhook(
    *, headers: Iterable[tuple[str, str]], raw: bytes, store: IntakeStore, bus: Bus, verifier: PayPalVerifier,
    clock: Clock, settings: PaymentSettings, max_body_bytes: int, publish_timeout: float,
) -> PaymentReceipt:
    """Store a REST webhook delivery, verify its signature with PayPal, then publish its capture or refund."""
    headers = list(headers)
    by_name = {name.lower(): value for name, value in headers}
    intake, unreadable = new_intake(
        intake_id=uuid.uuid4(), kind=IntakeKind.PAYPAL_WEBHOOK, channel=PROVIDER, headers=headers, raw=raw,
        received_at=clock(), limit=max_body_bytes, delivery_id=by_name.get("paypal-transmission-id"),
    )
    await store.add(intake)
    if unreadable is not None:
        return PaymentReceipt(intake.intake_id, IntakeStatus.FAILED, unreadable.reason, rejected=unreadable)
    try:
        event = webhook_event(raw)
    except PayloadRejected as rejected:
        return await _failed(intake, rejected.reason, store=store, rejected=rejected)
    try:
        verified = await verifier.verify_webhook(by_name, event)
    except Unverifiable as exc:
        return await _failed(intake, f"webhook could not be verified: {exc}", store=store, retry_later=True)
    if not verified:
        return await _failed(intake, "webhook not verified: PayPal's verify-webhook-signature said FAILURE",
                             store=store)
    try:
        payment = payment_from_webhook(event)
    except OrderSkipped as skipped:
        return await _skipped(intake, skipped.reason, store=store)
    except PayloadRejected as rejected:
        return await _failed(intake, rejected.reason, store=store, rejected=rejected)
    messages = [payment_received(intake, payment, bus=bus, opens_orders=False)]
    problem = await _publish(intake, messages, store=store, bus=bus, clock=clock, timeout=publish_timeout)
    return problem or PaymentReceipt(intake.intake_id, IntakeStatus.PUBLISHED)


async def receive_activity_csv(
    *, headers: Iterable[tuple[str, str]], raw: bytes, store: IntakeStore, bus: Bus, clock: Clock,
    settings: PaymentSettings, max_body_bytes: int, publish_timeout: float,
) -> PaymentReceipt:
    """Store a PayPal activity download, read every row, and publish every payment only if every row is good.

    Importing the same file again publishes the same event ids (one per transaction and status), so it changes
    nothing downstream; a row whose status changed since (Pending → Completed) is news.
    """
    intake, unreadable = new_intake(
        intake_id=uuid.uuid4(), kind=IntakeKind.PAYPAL_ACTIVITY_CSV, channel=PROVIDER, headers=headers, raw=raw,
        received_at=clock(), limit=max_body_bytes,
    )
    await store.add(intake)
    if unreadable is not None:
        return PaymentReceipt(intake.intake_id, IntakeStatus.FAILED, unreadable.reason, rejected=unreadable)
    try:
        rows = parse_activity_csv(intake.body, day_first=settings.day_first)
    except PayloadRejected as rejected:
        return await _failed(intake, rejected.reason, store=store, rejected=rejected)
    messages = [payment_received(intake, row.payment, bus=bus, opens_orders=settings.opens_orders(row.payment))
                for row in rows]
    problem = await _publish(intake, messages, store=store, bus=bus, clock=clock, timeout=publish_timeout)
    counts = dict(Counter(row.payment.kind for row in rows))
    return problem or PaymentReceipt(intake.intake_id, IntakeStatus.PUBLISHED, payments=counts)
