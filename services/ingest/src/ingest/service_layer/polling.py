"""The poller: fetch each enabled channel's new or changed orders on its schedule (or on "download now"), store
every raw order in the intake log, normalise and publish it like a webhook, and store the cursor after the page.

Crash safety: a page's raw orders are stored (unique intake ids derived from channel, account, channel order
id and the channel's updated time) before the cursor moves past them. A restart re-fetches at most the page
it was on; its orders are already in the intake log, so they are not imported again, and the intakes that
were stored but not published are sent by the re-publisher (which asks `normalise_polled`).
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from ingest.adapters.channel_store import ChannelStore
from ingest.adapters.intake_store import IntakeStore
from ingest.connectors.base import Connector, ConnectorError, Placement, RateLimited, RawOrder
from ingest.connectors.registry import polled
from ingest.domain.channels import (
    ChannelConfig,
    ChannelStatus,
    backoff_seconds,
    next_attempt,
    polled_intake_id,
)
from ingest.domain.errors import OrderSkipped, PayloadRejected, Problem
from ingest.domain.model import Intake, IntakeKind, IntakeStatus, new_intake
from ingest.domain.normalise import NormalisedOrder
from ingest.service_layer.handlers import Clock, publish_intake
from oms_platform.messaging import Bus

log = logging.getLogger(__name__)

# Metadata kept with a polled order's intake (as its "headers"), so it can be normalised again later.
CHANNEL_ID_HEADER = "oms-channel-id"
ORDER_ID_HEADER = "oms-channel-order-id"
UPDATED_AT_HEADER = "oms-channel-updated-at"

ConnectorFactory = Callable[[ChannelConfig], Connector]


class Poller:
    """Polls the configured channels, one task per channel at a time."""

    def __init__(
        self,
        *,
        channels: ChannelStore,
        store: IntakeStore,
        bus: Bus,
        clock: Clock,
        build: ConnectorFactory,
        max_body_bytes: int = 1_000_000,
        publish_timeout: float = 5.0,
        max_pages: int = 100,
    ) -> None:
        self.channels = channels
        self.store = store
        self.bus = bus
        self.clock = clock
        self.build = build
        self.max_body_bytes = max_body_bytes
        self.publish_timeout = publish_timeout
        self.max_pages = max_pages
        self._connectors: dict[str, tuple[ChannelConfig, Connector]] = {}
        self._running: dict[str, asyncio.Task] = {}

    def connector(self, config: ChannelConfig) -> Connector:
        """The channel's connector, rebuilt when its configuration changed (it may pace its own calls)."""
        settings = config.model_copy(update={"download_requested_at": None})
        cached = self._connectors.get(config.channel_id)
        if cached is None or cached[0] != settings:
            cached = (settings, self.build(config))
            self._connectors[config.channel_id] = cached
        return cached[1]

    async def run(self, stop: asyncio.Event, *, tick: float = 1.0) -> None:
        """Every `tick` seconds start a poll of each due channel not already being polled, until `stop` is set."""
        try:
            while not stop.is_set():
                try:
                    await self.start_due()
                except Exception:  # noqa: BLE001 - database unreachable: tried again next tick
                    log.exception("poller round failed; trying again in %.0f s", tick)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=tick)
                except TimeoutError:
                    pass
        finally:
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def start_due(self) -> list[str]:
        """Start a sync task for each due channel that has none running; the ids started."""
        started = []
        now = self.clock()
        for config in await self.channels.configs():
            if not polled(config):
                continue  # configured for write-back only: its orders come by webhook
            running = self._running.get(config.channel_id)
            if running is not None and not running.done():
                continue
            status = await self.channels.status(config.channel_id)
            if status.due(config, now):
                self._running[config.channel_id] = asyncio.create_task(self.sync(config))
                started.append(config.channel_id)
        return started

    async def sync(self, config: ChannelConfig) -> ChannelStatus:
        """Fetch pages since the stored cursor until the channel has no more; record the outcome on its status."""
        status = await self.channels.status(config.channel_id)
        started = self.clock()
        status = status.model_copy(update={
            "last_attempt_at": started,
            "handled_download_at": config.download_requested_at or status.handled_download_at,
        })
        try:
            connector = self.connector(config)
            for _ in range(self.max_pages):
                page = await connector.fetch(status.cursor)
                new = 0
                for raw in page.orders:
                    new += await self.take(config, connector, raw)
                # Only now, with every order of the page in the intake log, may the cursor move past them.
                status = status.model_copy(update={
                    "cursor": page.cursor if page.cursor is not None else status.cursor,
                    "pages": status.pages + 1,
                    "orders_fetched": status.orders_fetched + len(page.orders),
                    "orders_new": status.orders_new + new,
                })
                await self.channels.save_status(status)
                if not page.more:
                    break
        except ConnectorError as exc:
            status = self._failed(config, status, exc, started)
            log.warning("channel %s: sync failed (%s); next attempt at %s", config.channel_id, status.last_error,
                        status.next_attempt_at)
        except Exception as exc:  # noqa: BLE001 - recorded on the channel for staff, retried with backoff
            log.exception("channel %s: sync failed unexpectedly", config.channel_id)
            status = self._failed(config, status, exc, started)
        else:
            status = status.model_copy(update={
                "last_sync_at": self.clock(), "last_error": None, "failures": 0,
                "next_attempt_at": next_attempt(started, config.interval_seconds),
            })
        await self.channels.save_status(status)
        return status

    def _failed(self, config: ChannelConfig, status: ChannelStatus, exc: Exception,
                started: datetime) -> ChannelStatus:
        failures = status.failures + 1
        if isinstance(exc, RateLimited):
            reason = f"rate limited: {exc} (retry after {exc.retry_after:g} s)"
            retry_after: float | None = exc.retry_after
        elif isinstance(exc, ConnectorError):
            reason, retry_after = str(exc), None
        else:
            reason, retry_after = f"unexpected error: {type(exc).__name__}: {exc}", None
        wait = backoff_seconds(interval=config.interval_seconds, failures=failures, retry_after=retry_after)
        return status.model_copy(update={
            "last_error": reason, "last_error_at": self.clock(), "failures": failures,
            "next_attempt_at": next_attempt(started, wait),
        })

    async def take(self, config: ChannelConfig, connector: Connector, raw: RawOrder) -> int:
        """Store one raw order in the intake log, then normalise and publish it; 1 if it was new, else 0."""
        status = await take_order(config, connector, raw, store=self.store, bus=self.bus, clock=self.clock,
                                  max_body_bytes=self.max_body_bytes, publish_timeout=self.publish_timeout)
        return 0 if status is None else 1

    async def normalise_polled(self, intake: Intake) -> NormalisedOrder:
        """A stored polled order normalised again by its channel's connector (for the re-publisher)."""
        meta = dict(intake.headers)
        channel_id = meta.get(CHANNEL_ID_HEADER, "")
        config = await self.channels.config(channel_id)
        if config is None:
            raise PayloadRejected([Problem(loc=("body",), msg=f"channel {channel_id!r} is not configured",
                                           type="unknown_channel")])
        raw = RawOrder(channel_order_id=meta.get(ORDER_ID_HEADER, ""), body=intake.body,
                       updated_at=datetime.fromisoformat(meta[UPDATED_AT_HEADER]))
        return normalise_raw(self.connector(config), raw)


async def take_order(config: ChannelConfig, connector: Connector, raw: RawOrder, *, store: IntakeStore, bus: Bus,
                     clock: Clock, max_body_bytes: int, publish_timeout: float) -> IntakeStatus | None:
    """Store one raw order in the intake log, then normalise and publish it; its status, None if this version
    was stored before (a re-fetch changes nothing)."""
    intake, unreadable = new_intake(
        intake_id=polled_intake_id(connector.channel, config.account, raw.channel_order_id, raw.updated_at),
        kind=IntakeKind.POLLED_ORDER, channel=connector.channel, account=config.account,
        headers=[(CHANNEL_ID_HEADER, config.channel_id), (ORDER_ID_HEADER, raw.channel_order_id),
                 (UPDATED_AT_HEADER, raw.updated_at.isoformat())],
        raw=raw.body.encode("utf-8"), received_at=clock(), limit=max_body_bytes,
        channel_order_id=raw.channel_order_id, channel_updated_at=raw.updated_at,
    )
    if not await store.add_once(intake):
        return None  # this version was fetched before (page overlap, restart): nothing new
    if unreadable is not None:
        return IntakeStatus.FAILED
    try:
        normalised = normalise_raw(connector, raw)
    except OrderSkipped as skipped:
        await store.mark_skipped(intake.intake_id, reason=skipped.reason)
        return IntakeStatus.SKIPPED
    except PayloadRejected as rejected:
        await store.mark_failed(intake.intake_id, error=rejected.reason)
        log.warning("channel %s order %s failed: %s", config.channel_id, raw.channel_order_id, rejected.reason)
        return IntakeStatus.FAILED
    except Exception as exc:  # noqa: BLE001 - a normaliser bug: kept as failed, the orders behind it flow
        log.exception("channel %s order %s: normaliser failed", config.channel_id, raw.channel_order_id)
        await store.mark_failed(intake.intake_id, error=f"normaliser failed: {type(exc).__name__}: {exc}")
        return IntakeStatus.FAILED
    return await publish_intake(intake, normalised, store=store, bus=bus, clock=clock,
                                publish_timeout=publish_timeout)


def normalise_raw(connector: Connector, raw: RawOrder) -> NormalisedOrder:
    """The order a connector reads from a raw order, with how it enters Open Orders."""
    order = connector.normalise(raw)
    placement_of = getattr(connector, "placement", None)
    placement = placement_of(raw) if placement_of is not None else Placement()
    return NormalisedOrder(order=order, channel_updated_at=raw.updated_at, lock_reason=placement.lock_reason,
                           shipped_on_channel=placement.shipped_on_channel)
