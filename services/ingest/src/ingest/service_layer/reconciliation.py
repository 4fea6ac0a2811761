"""Reconciling a polled channel on demand: list what the channel holds as unprocessed in a time window (through
its connector), compare it with the intake log, and re-fetch the missing orders when staff ask.

Nothing here writes the channel's status or cursor (the poller is their only writer): re-fetched orders go into
the intake log exactly like polled ones (the same derived intake ids, so a poll of the same version later
changes nothing) and are normalised and published the same way.
"""

from datetime import datetime

from ingest.adapters.intake_store import IntakeStore
from ingest.connectors.base import Connector, RawOrder
from ingest.domain.channels import ChannelConfig
from ingest.domain.reconciliation import Reconciliation, compare, latest_versions
from ingest.service_layer.handlers import Clock
from ingest.service_layer.polling import take_order
from oms_platform.messaging import Bus

MAX_PAGES = 200


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
