"""Builds the ingest service's clients and wiring; nothing connects until a process starts."""

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from ingest.adapters.channel_store import MongoChannelStore
from ingest.adapters.intake_store import MongoIntakeStore
from ingest.adapters.reconciliation_store import MongoReconciliationStore
from ingest.adapters.email import SmtpSender, buyer_message
from ingest.adapters.writeback_store import MongoWriteBackStore
from ingest.connectors.registry import CAPABILITIES, build_connector, build_writeback
from ingest.service_layer.polling import Poller
from ingest.service_layer.reconciliation import run_reconciler
from ingest.config import Settings
from ingest.adapters.paypal import HttpPayPalVerifier
from ingest.entrypoints.payments_api import payments_router
from ingest.service_layer.payments import PaymentSettings
from ingest.entrypoints.api import ingest_router
from ingest.entrypoints.channels_api import channels_router
from ingest.entrypoints.worker import register_subscribers, run_republisher, run_writeback_scheduler
from ingest.entrypoints.writebacks_api import writebacks_router
from ingest.service_layer import stock_push
from ingest.service_layer.stock_push import StockPushRunner
from ingest.service_layer.writebacks import Scheduler, WriteBackRunner
from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now

PRODUCER = "ingest"


def paypal_verifier(settings: Settings) -> HttpPayPalVerifier:
    """The PayPal verification client (its HTTP client connects on first use)."""
    return HttpPayPalVerifier(
        httpx.AsyncClient(timeout=settings.paypal_timeout_seconds), ipn_url=settings.paypal_ipn_verify_url,
        api_url=settings.paypal_api_url, client_id=settings.paypal_client_id,
        client_secret=settings.paypal_client_secret.get_secret_value(), webhook_id=settings.paypal_webhook_id,
    )


def paypal_settings(settings: Settings) -> PaymentSettings:
    """Whose PayPal payments are ours, and which accounts are a sales channel."""
    def emails(text: str) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in text.split(",") if e.strip())
    return PaymentSettings(receivers=emails(settings.paypal_receivers),
                           order_accounts=emails(settings.paypal_order_accounts),
                           day_first=settings.paypal_dates_day_first)


def channel_opener(settings: Settings):
    """Opens a channel's connector with an HTTP client of its own, closed after use (reconciliation)."""

    @asynccontextmanager
    async def connect_channel(config):
        async with httpx.AsyncClient(timeout=settings.poll_http_timeout_seconds) as http:
            yield build_connector(config, http=http)

    return connect_channel


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (publishing only) and the intake log it writes to."""
    broker, mongo = connect(settings, client_id="ingest-api")
    store = MongoIntakeStore(mongo[settings.database])
    router = ingest_router(
        store=store, bus=Bus(broker, PRODUCER), keys=ApiKeys(settings.api_keys.get_secret_value()),
        clock=utc_now, max_body_bytes=settings.max_body_bytes, publish_timeout=settings.publish_timeout_seconds,
        webhook_secrets=settings.parsed_webhook_secrets(), woocommerce_statuses=settings.woocommerce_statuses(),
        webhook_publish_timeout=settings.webhook_publish_timeout_seconds,
    )
    # Before the channel routes: `/channels/capabilities` is not a channel id.
    router.include_router(writebacks_router(
        store=MongoWriteBackStore(mongo[settings.database]), bus=Bus(broker, PRODUCER),
        keys=ApiKeys(settings.api_keys.get_secret_value()), capabilities=CAPABILITIES,
        stock_pushes=MongoWriteBackStore(mongo[settings.database], collection="stock_pushes"),
    ))
    router.include_router(channels_router(
        channels=MongoChannelStore(mongo[settings.database]), keys=ApiKeys(settings.api_keys.get_secret_value()),
        clock=utc_now, store=store, bus=Bus(broker, PRODUCER), connect=channel_opener(settings),
        reports=MongoReconciliationStore(mongo[settings.database]),
        max_body_bytes=settings.max_body_bytes, publish_timeout=settings.publish_timeout_seconds,
    ))
    router.include_router(payments_router(
        store=store, bus=Bus(broker, PRODUCER), keys=ApiKeys(settings.api_keys.get_secret_value()), clock=utc_now,
        verifier=paypal_verifier(settings), settings=paypal_settings(settings), max_body_bytes=settings.max_body_bytes,
        publish_timeout=settings.publish_timeout_seconds,
        webhook_publish_timeout=settings.webhook_publish_timeout_seconds,
    ))
    return service_api("ingest", settings, broker, mongo, router)


def run_ingest_worker(settings: Settings) -> None:
    """Run the re-publisher, the poller, the write-back consumer and its scheduler until SIGINT/SIGTERM."""
    broker, mongo = connect(settings, client_id="ingest-worker")
    store = MongoIntakeStore(mongo[settings.database])
    bus = Bus(broker, PRODUCER)
    writeback_store = MongoWriteBackStore(mongo[settings.database])
    writeback_http = httpx.AsyncClient(timeout=settings.writeback_timeout_seconds)
    follow_up = None
    if settings.smtp_host:
        follow_up = SmtpSender(
            host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls, timeout=settings.writeback_timeout_seconds,
            tracking_url=settings.tracking_url)
    runner = WriteBackRunner(
        store=writeback_store, channels=MongoChannelStore(mongo[settings.database]), bus=bus, clock=utc_now,
        build=lambda config: build_writeback(config, http=writeback_http), capabilities=CAPABILITIES,
        send_follow_up=follow_up, buyer_message=buyer_message, tracking_url=settings.tracking_url,
        max_attempts=settings.writeback_max_attempts,
        backoff_seconds=settings.writeback_backoff_seconds)
    stock_store = MongoWriteBackStore(mongo[settings.database], collection="stock_pushes")
    stock = StockPushRunner(
        store=stock_store, channels=runner.channels, clock=utc_now, build=runner.build, capabilities=CAPABILITIES,
        debounce_seconds=settings.stock_push_debounce_seconds, max_attempts=settings.writeback_max_attempts,
        backoff_seconds=settings.writeback_backoff_seconds)
    register_subscribers(broker, runner=runner, stock=stock, follow_up=follow_up is not None,
                         max_attempts=settings.max_attempts)

    async def create_indexes() -> None:
        await store.create_indexes()
        await writeback_store.create_indexes()
        await stock_store.create_indexes()

    async def republish(stop: asyncio.Event) -> None:
        # The channel poller runs beside the re-publisher, which normalises polled intakes through it.
        async with httpx.AsyncClient(timeout=settings.poll_http_timeout_seconds) as http:
            poller = Poller(
                channels=MongoChannelStore(mongo[settings.database]), store=store, bus=bus, clock=utc_now,
                build=lambda config: build_connector(config, http=http), max_body_bytes=settings.max_body_bytes,
                publish_timeout=settings.publish_timeout_seconds,
            )
            await asyncio.gather(
                run_republisher(
                    store=store, bus=bus, clock=utc_now,
                    older_than=timedelta(seconds=settings.republish_after_seconds),
                    every=settings.republish_every_seconds, stop=stop,
                    woocommerce_statuses=settings.woocommerce_statuses(),
                    normalise_polled=poller.normalise_polled,
                ),
                poller.run(stop, tick=settings.poll_tick_seconds),
                run_reconciler(channels=MongoChannelStore(mongo[settings.database]),
                               reports=MongoReconciliationStore(mongo[settings.database]), store=store,
                               connect=channel_opener(settings), clock=utc_now, stop=stop,
                               tick=settings.poll_tick_seconds),
                run_writeback_scheduler(
                    schedulers=[Scheduler(store=writeback_store, bus=bus, clock=utc_now),
                                Scheduler(store=stock_store, bus=bus, clock=utc_now, command=stock_push.attempt_command)],
                    every=settings.writeback_tick_seconds, stop=stop),
            )
        await writeback_http.aclose()

    run_worker(broker, settings, mongo, on_startup=create_indexes, background=republish)
