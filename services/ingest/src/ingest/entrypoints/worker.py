"""The ingest worker: the re-publisher loop that sends intakes stored but never published, the write-back command
consumer with its forwarder of orders events, and the scheduler of write-back attempts."""

import asyncio
import logging
from collections.abc import Iterable
from datetime import timedelta

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from ingest.adapters.intake_store import IntakeStore
from ingest.domain.channel_orders import DEFAULT_WOOCOMMERCE_STATUSES
from ingest.service_layer import handlers, stock_push, writebacks
from ingest.service_layer.stock_push import StockPushRunner
from ingest.service_layer.handlers import Clock
from ingest.service_layer.writebacks import WriteBackRunner
from oms_contracts import ContractError, decode, topics
from oms_platform.messaging import Bus, subscribe, whole_message
from oms_platform.messaging import dead_letter  # the letter `subscribe` writes, for the batch consumer
from oms_platform.observability import MESSAGES

log = logging.getLogger(__name__)

INVENTORY_GROUP = "ingest.inventory-events"
# The stock forwarder reads inventory events in batches, and the broker holds a fetch until this much has come or
# this long has passed: a burst of changes to one SKU then arrives in one batch and becomes one push command.
STOCK_BATCH_RECORDS = 500
STOCK_FETCH_MIN_BYTES = 64 * 1024
STOCK_FETCH_MAX_WAIT_MS = 1000  # well inside the push debounce (INGEST_STOCK_PUSH_DEBOUNCE_SECONDS)


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


    async def on_order_event(envelope) -> None:
        await writebacks.forward_event(envelope, bus=runner.bus, capabilities=runner.capabilities,
                                       follow_up=follow_up)

    subscribe(broker, topics.INGEST_COMMANDS, group_id="ingest", handler=on_ingest_command, max_attempts=max_attempts)
    subscribe(broker, topics.ORDERS_EVENTS, group_id="ingest.orders-events", handler=on_order_event,
              max_attempts=max_attempts)
    subscribe_stock_changes(broker, bus=runner.bus, max_attempts=max_attempts)


def subscribe_stock_changes(broker: KafkaBroker, *, bus: Bus, max_attempts: int) -> None:
    """Forward inventory stock changes as push commands, a batch at a time, coalesced per SKU. The offsets of a
    batch are committed after its commands are sent (a failure redelivers the batch: the commands' ids derive from
    the events, and an older value changes no push); an undecodable event goes to the DLQ and the batch flows on."""

    async def on_inventory_events(message: KafkaMessage) -> None:
        envelopes = []
        for record in message.raw_message:
            try:
                envelopes.append(decode(record.value or b""))
            except ContractError as exc:
                await dead_letter(broker, record, INVENTORY_GROUP, reason=str(exc), attempts=1)
                MESSAGES.labels(record.topic, "undecodable", "dead_lettered").inc()
        async for attempt in AsyncRetrying(stop=stop_after_attempt(max_attempts), reraise=True,
                                           wait=wait_exponential(multiplier=0.1, max=5.0)):
            with attempt:
                await stock_push.forward_events(envelopes, bus=bus)
        for envelope in envelopes:
            MESSAGES.labels(topics.INVENTORY_EVENTS, envelope.type, "handled").inc()

    broker.subscriber(
        topics.INVENTORY_EVENTS, group_id=INVENTORY_GROUP, batch=True, max_records=STOCK_BATCH_RECORDS,
        ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest",
        fetch_min_bytes=STOCK_FETCH_MIN_BYTES, fetch_max_wait_ms=STOCK_FETCH_MAX_WAIT_MS, decoder=whole_message,
    )(on_inventory_events)


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
