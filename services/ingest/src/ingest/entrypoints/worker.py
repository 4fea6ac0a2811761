"""The ingest worker: the re-publisher loop that sends intakes stored but never published, the write-back command
consumer with its forwarder of orders events, and the scheduler of write-back attempts."""

import asyncio
import logging
from collections.abc import Iterable
from datetime import timedelta

from faststream.kafka import KafkaBroker

from ingest.adapters.intake_store import IntakeStore
from ingest.domain.channel_orders import DEFAULT_WOOCOMMERCE_STATUSES
from ingest.service_layer import handlers, stock_push, writebacks
from ingest.service_layer.stock_push import StockPushRunner
from ingest.service_layer.handlers import Clock
from ingest.service_layer.writebacks import WriteBackRunner
from oms_contracts import topics
from oms_platform.messaging import Bus, subscribe

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


def register_subscribers(broker: KafkaBroker, *, runner: WriteBackRunner, stock: StockPushRunner, follow_up: bool,
                         max_attempts: int) -> None:
    """Wire the ingest command consumer (the only writer of write-backs and stock pushes) and the forwarders of
    orders and inventory events."""

    async def on_ingest_command(envelope) -> None:
        # One consumer for the whole topic: every ingest command is dispatched from here by its type.
        await writebacks.handle_command(envelope, runner=runner)
        await stock_push.handle_command(envelope, runner=stock)

    async def on_inventory_event(envelope) -> None:
        await stock_push.forward_event(envelope, bus=runner.bus)

    async def on_order_event(envelope) -> None:
        await writebacks.forward_event(envelope, bus=runner.bus, capabilities=runner.capabilities,
                                       follow_up=follow_up)

    subscribe(broker, topics.INGEST_COMMANDS, group_id="ingest", handler=on_ingest_command, max_attempts=max_attempts)
    subscribe(broker, topics.ORDERS_EVENTS, group_id="ingest.orders-events", handler=on_order_event,
              max_attempts=max_attempts)
    subscribe(broker, topics.INVENTORY_EVENTS, group_id="ingest.inventory-events", handler=on_inventory_event,
              max_attempts=max_attempts)


async def run_writeback_scheduler(*, schedulers: list[writebacks.Scheduler], every: float,
                                  stop: asyncio.Event) -> None:
    """Every `every` seconds send the next attempt of each write-back whose backoff is over (and of each stock push
    whose debounce is over), until `stop` is set."""
    while not stop.is_set():
        try:
            for scheduler in schedulers:
                await scheduler.send_due()
        except Exception:  # noqa: BLE001 - database or broker unreachable: the write-backs wait, tried next round
            log.exception("write-back scheduling round failed; trying again in %.1f s", every)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass
