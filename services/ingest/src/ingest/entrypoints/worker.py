"""The ingest worker: the re-publisher loop that sends intakes stored but never published."""

import asyncio
import logging
from collections.abc import Iterable
from datetime import timedelta

from ingest.adapters.intake_store import IntakeStore
from ingest.domain.channel_orders import DEFAULT_WOOCOMMERCE_STATUSES
from ingest.service_layer import handlers
from ingest.service_layer.handlers import Clock
from oms_platform.messaging import Bus

log = logging.getLogger(__name__)


async def run_republisher(
    *,
    store: IntakeStore,
    bus: Bus,
    clock: Clock,
    older_than: timedelta,
    every: float,
    stop: asyncio.Event,
    woocommerce_statuses: Iterable[str] = DEFAULT_WOOCOMMERCE_STATUSES,
    normalise_polled=None,
) -> None:
    """Every `every` seconds re-publish stale `received` intakes, until `stop` is set.

    A round that fails (broker or database unreachable) is logged and simply tried again next time: the
    intakes stay `received` in the meantime, so nothing is lost by waiting.
    """
    while not stop.is_set():
        try:
            await handlers.republish_stale(store=store, bus=bus, clock=clock, older_than=older_than,
                                           woocommerce_statuses=woocommerce_statuses,
                                           normalise_polled=normalise_polled)
        except Exception:  # noqa: BLE001 - retried next round; the intakes wait as `received`
            log.exception("re-publish round failed; trying again in %.0f s", every)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass
