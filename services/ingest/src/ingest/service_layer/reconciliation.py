"""Reconciling a polled channel, on demand and on a schedule: list what the channel holds as unprocessed in a time window (through
its connector), compare it with the intake log, and re-fetch the missing orders when staff ask.

Scheduled reports (channel option `reconcile_every_seconds`) are kept in `channel_reconciliations`, written only
by the worker's reconciler loop. Nothing here writes the channel's status or cursor (the poller is their only writer): re-fetched orders go into
the intake log exactly like polled ones (the same derived intake ids, so a poll of the same version later
changes nothing) and are normalised and published the same way.
"""

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from ingest.adapters.channel_store import ChannelStore
from ingest.adapters.intake_store import IntakeStore
from ingest.adapters.reconciliation_store import ReconciliationStore
from ingest.connectors.base import Connector, ConnectorError, RawOrder
from ingest.domain.channels import ChannelConfig
from ingest.domain.reconciliation import Reconciliation, compare, latest_versions
from ingest.service_layer.handlers import Clock
from ingest.service_layer.polling import take_order
from oms_platform.messaging import Bus

MAX_PAGES = 200
log = logging.getLogger(__name__)

# Opens a channel's connector (credentials resolved, an HTTP client) for one use; ConnectorError if it cannot.
ConnectorOpener = Callable[[ChannelConfig], AbstractAsyncContextManager[Connector]]


class CannotList(Exception):
    """The channel's connector cannot list a time window (it has no `cursor_at`)."""


async def list_window(connector: Connector, *, since: datetime, until: datetime,
                      max_pages: int = MAX_PAGES) -> tuple[dict[str, RawOrder], bool]:
    """The latest version of every order the channel lists as unprocessed, changed in [since, until], and
    whether the whole list was read (False when it ran over `max_pages`). ConnectorError as the poll's."""
    cursor_at = getattr(connector, "cursor_at", None)
    if cursor_at is None:
        raise CannotList(f"the {connector.channel} connector cannot list a time window")
    cursor, raws = cursor_at(since), []
    for _ in range(max_pages):
        page = await connector.fetch(cursor)
        raws += page.orders
        if not page.more:
            return latest_versions(raws, since=since, until=until), True
        cursor = page.cursor
    return latest_versions(raws, since=since, until=until), False


async def reconcile(*, config: ChannelConfig, connector: Connector, store: IntakeStore, clock: Clock,
                    since: datetime, until: datetime) -> tuple[Reconciliation, dict[str, RawOrder]]:
    """The channel's list in the window against the intake log, and the listed raw orders by id."""
    listed, complete = await list_window(connector, since=since, until=until)
    held = await store.of_orders(channel=connector.channel, channel_order_ids=sorted(listed))
    polled = await store.polled_between(channel=connector.channel, account=config.account, since=since,
                                        until=until)
    missing, not_listed = compare(listed, held, polled)
    report = Reconciliation(
        channel_id=config.channel_id, kind=config.kind, since=since, until=until, checked_at=clock(),
        listed=len(listed), held=len(listed) - len(missing), complete=complete, missing=missing,
        not_listed=not_listed,
    )
    return report, listed


async def fetch_missing(*, config: ChannelConfig, connector: Connector, store: IntakeStore, bus: Bus, clock: Clock,
                        since: datetime, until: datetime, max_body_bytes: int,
                        publish_timeout: float) -> Reconciliation:
    """Reconcile, then take each missing order's listed version into the intake log and publish it like a poll.

    A version stored before (skipped or failed: it needs a fix, not a re-fetch) is left as it is: `fetched`
    stays None for it. Every other missing order gets `fetched` = its new intake's status.
    """
    report, listed = await reconcile(config=config, connector=connector, store=store, clock=clock, since=since,
                                     until=until)
    for missing in report.missing:
        missing.fetched = await take_order(config, connector, listed[missing.channel_order_id], store=store,
                                           bus=bus, clock=clock, max_body_bytes=max_body_bytes,
                                           publish_timeout=publish_timeout)
    return report


# Channel options of the scheduled reconciliation.
EVERY_OPTION = "reconcile_every_seconds"
DAYS_OPTION = "reconcile_days"
DEFAULT_DAYS = 7


async def reconcile_due(*, channels: ChannelStore, reports: ReconciliationStore, store: IntakeStore,
                        connect: ConnectorOpener, clock: Clock) -> list[str]:
    """Reconcile every enabled channel whose option `reconcile_every_seconds` has passed since its last report,
    and keep the report (a channel that cannot be listed gets a report with the error); the ids reconciled."""
    done = []
    for config in await channels.configs():
        every = config.options.get(EVERY_OPTION)
        if not config.enabled or not every:
            continue
        last = await reports.latest(config.channel_id)
        now = clock()
        if last is not None and now - last.checked_at < timedelta(seconds=float(every)):
            continue
        since = now - timedelta(days=float(config.options.get(DAYS_OPTION, DEFAULT_DAYS)))
        try:
            async with connect(config) as connector:
                report, _ = await reconcile(config=config, connector=connector, store=store, clock=clock,
                                            since=since, until=now)
        except (ConnectorError, CannotList) as exc:
            report = Reconciliation(channel_id=config.channel_id, kind=config.kind, since=since, until=now,
                                    checked_at=now, complete=False, error=str(exc))
        if report.missing or report.not_listed or report.error:
            log.warning("channel %s reconciliation: %d missing, %d not listed%s", config.channel_id,
                        len(report.missing), len(report.not_listed), f", error: {report.error}" if report.error else "")
        await reports.save(report)
        done.append(config.channel_id)
    return done


async def run_reconciler(*, channels: ChannelStore, reports: ReconciliationStore, store: IntakeStore,
                         connect: ConnectorOpener, clock: Clock, stop: asyncio.Event, tick: float = 30.0) -> None:
    """Every `tick` seconds reconcile the channels that are due, until `stop` is set (a failed round is logged
    and tried again next tick)."""
    while not stop.is_set():
        try:
            await reconcile_due(channels=channels, reports=reports, store=store, connect=connect, clock=clock)
        except Exception:  # noqa: BLE001 - database unreachable or a bug: tried again next tick, the poll goes on
            log.exception("reconciliation round failed; trying again in %.0f s", tick)
        try:
            await asyncio.wait_for(stop.wait(), timeout=tick)
        except TimeoutError:
            pass
