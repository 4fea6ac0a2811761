"""Ingest's use cases: receive an order payload (store it first, then publish), and re-publish stale intakes."""

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.adapters.intake_store import IntakeStore
from ingest.domain.errors import PayloadRejected
from ingest.domain.model import Intake, IntakeKind, IntakeStatus, new_intake
from ingest.domain.normalise import NormalisedOrder, normalise
from oms_contracts import Envelope, derived_id
from oms_contracts.ingest.v1 import OrderReceived
from oms_platform.messaging import Bus

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Purpose in the derived event id: the same intake always yields the same `ingest.order_received` event id.
ORDER_RECEIVED_PURPOSE = "order-received"


@dataclass(frozen=True)
class Receipt:
    """What became of a received payload: its intake id and status, and why it was rejected, if it was."""

    intake_id: uuid.UUID
    status: IntakeStatus
    rejected: PayloadRejected | None = None


def order_received(intake: Intake, normalised: NormalisedOrder, *, bus: Bus) -> tuple[Envelope, str]:
    """The `ingest.order_received` envelope of an intake and its Kafka key `<channel>:<channel_order_id>`.

    Everything in it derives from the stored intake (event id, correlation id = intake id, occurred_at =
    received_at), so re-publishing the intake sends the very same message.
    """
    payload = OrderReceived(
        intake_id=intake.intake_id, channel_updated_at=normalised.channel_updated_at, order=normalised.order
    )
    envelope = bus.envelope(
        payload,
        event_id=derived_id(intake.intake_id, ORDER_RECEIVED_PURPOSE),
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
    envelope, key = order_received(intake, normalised, bus=bus)
    try:
        # Bounded, so a channel is not kept waiting for Kafka's own (40 s) timeout; a send that still goes
        # through later only duplicates the event id the re-publisher would send anyway.
        await asyncio.wait_for(bus.publish(envelope, key=key), timeout=publish_timeout)
    except Exception:  # noqa: BLE001 - the payload is stored; the re-publisher sends it (same event id)
        log.warning("intake %s stored but not published; the re-publisher will send it", intake.intake_id,
                    exc_info=True)
        return Receipt(intake.intake_id, IntakeStatus.RECEIVED)
    try:
        await store.mark_published(intake.intake_id, event_id=envelope.event_id, at=clock())
    except Exception:  # noqa: BLE001 - published already; a stale `received` is only re-sent with the same id
        log.warning("intake %s published but not marked; the re-publisher will send it again (same event id)",
                    intake.intake_id, exc_info=True)
        return Receipt(intake.intake_id, IntakeStatus.RECEIVED)
    return Receipt(intake.intake_id, IntakeStatus.PUBLISHED)


async def republish_stale(
    *, store: IntakeStore, bus: Bus, clock: Clock, older_than: timedelta, batch: int = 100
) -> int:
    """Publish the intakes still `received` after `older_than` (oldest first); returns how many were published.

    Each gets the same event id it would have had the first time, so consumers drop a message that did get
    through before. A payload that cannot be normalised is marked failed. If the broker refuses, the round
    stops there (the error propagates) and the next round starts again from the oldest.
    """
    published = 0
    for intake in await store.stale(received_before=clock() - older_than, limit=batch):
        try:
            normalised = normalise(intake)
        except PayloadRejected as rejected:
            await store.mark_failed(intake.intake_id, error=rejected.reason)
            continue
        except Exception as exc:  # noqa: BLE001 - a normaliser bug must not block the intakes behind it
            log.exception("normalising intake %s failed", intake.intake_id)
            await store.mark_failed(intake.intake_id, error=f"normaliser failed: {type(exc).__name__}: {exc}")
            continue
        envelope, key = order_received(intake, normalised, bus=bus)
        await bus.publish(envelope, key=key)
        await store.mark_published(intake.intake_id, event_id=envelope.event_id, at=clock())
        published += 1
        log.info("re-published intake %s as %s", intake.intake_id, envelope.event_id)
    return published

