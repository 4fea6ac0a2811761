"""Reconciliation of a polled channel: what the channel lists as unprocessed in a time window against what the
intake log holds, so staff see orders missing on either side."""

import uuid
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from ingest.connectors.base import RawOrder
from ingest.domain.model import IntakeKind, IntakeStatus, IntakeSummary

# An intake in one of these holds the order: published, or stored and about to be (the re-publisher sends it).
_HOLDING = frozenset({IntakeStatus.PUBLISHED, IntakeStatus.RECEIVED})


class HeldIntake(BaseModel):
    """An intake we hold of an order, with its status and why it did not become an order (if it did not)."""

    intake_id: uuid.UUID
    status: IntakeStatus
    reason: str | None = None


class MissingOrder(BaseModel):
    """An order the channel lists as unprocessed that never became an order here."""

    channel_order_id: str
    channel_updated_at: datetime
    held: list[HeldIntake] = []  # intakes of it that were skipped or failed (empty: never received)
    fetched: IntakeStatus | None = None  # after fetch-missing: what its fresh intake became


class NotListedOrder(BaseModel):
    """An order we imported from this channel in the window that the channel no longer lists as unprocessed
    (shipped, cancelled or changed there since): staff should look at it in Open Orders."""

    channel_order_id: str
    channel_updated_at: datetime | None
    intake_id: uuid.UUID


class Reconciliation(BaseModel):
    """One channel's list (in the window, by the channel's last-changed time) compared with the intake log."""

    channel_id: str
    kind: str
    since: datetime
    until: datetime
    checked_at: datetime
    listed: int = 0  # orders the channel lists as unprocessed in the window
    held: int = 0  # of those, how many we hold
    complete: bool = True  # False when the channel's list was longer than the pages read
    missing: list[MissingOrder] = []
    not_listed: list[NotListedOrder] = []
    error: str | None = None  # a scheduled run that could not list the channel: why


def latest_versions(raws: Iterable[RawOrder], *, since: datetime, until: datetime) -> dict[str, RawOrder]:
    """The latest version of each listed order changed within [since, until], by channel order id."""
    latest: dict[str, RawOrder] = {}
    for raw in raws:
        if not since <= raw.updated_at <= until:
            continue
        seen = latest.get(raw.channel_order_id)
        if seen is None or raw.updated_at > seen.updated_at:
            latest[raw.channel_order_id] = raw
    return latest


def compare(listed: dict[str, RawOrder], held: Iterable[IntakeSummary],
            polled: Iterable[IntakeSummary]) -> tuple[list[MissingOrder], list[NotListedOrder]]:
    """What the channel lists that we do not hold, and what we imported that the channel no longer lists.

    `held`: every intake of the listed order ids (any source: polls, webhooks); `polled`: this channel
    account's polled versions in the window.
    """
    by_order: dict[str, list[IntakeSummary]] = {}
    for intake in held:
        by_order.setdefault(intake.channel_order_id or "", []).append(intake)
    missing = []
    for order_id, raw in sorted(listed.items(), key=lambda item: (item[1].updated_at, item[0])):
        intakes = by_order.get(order_id, [])
        if any(i.status in _HOLDING for i in intakes):
            continue
        missing.append(MissingOrder(
            channel_order_id=order_id, channel_updated_at=raw.updated_at,
            held=[HeldIntake(intake_id=i.intake_id, status=i.status, reason=i.error or i.skip_reason)
                  for i in sorted(intakes, key=lambda i: i.received_at)],
        ))
    imported: dict[str, IntakeSummary] = {}
    for intake in polled:
        if intake.kind is not IntakeKind.POLLED_ORDER or intake.status is not IntakeStatus.PUBLISHED:
            continue
        order_id = intake.channel_order_id or ""
        seen = imported.get(order_id)
        if seen is None or (intake.channel_updated_at or intake.received_at) > (
                seen.channel_updated_at or seen.received_at):
            imported[order_id] = intake
    not_listed = [
        NotListedOrder(channel_order_id=order_id, channel_updated_at=i.channel_updated_at, intake_id=i.intake_id)
        for order_id, i in sorted(imported.items()) if order_id not in listed
    ]
    return missing, not_listed
