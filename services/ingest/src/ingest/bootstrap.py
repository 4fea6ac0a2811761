"""Builds the ingest service's clients and wiring; nothing connects until a process starts."""

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from ingest.adapters.channel_store import MongoChannelStore
from ingest.adapters.intake_store import MongoIntakeStore
from ingest.connectors.registry import build_connector
from ingest.service_layer.polling import Poller
from ingest.config import Settings
from ingest.entrypoints.api import ingest_router
from ingest.entrypoints.channels_api import channels_router
from ingest.entrypoints.worker import run_republisher
from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now

PRODUCER = "ingest"


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
    @asynccontextmanager
    async def connect_channel(config):
        # Reconciliation: one HTTP client per request, closed with it.
        async with httpx.AsyncClient(timeout=settings.poll_http_timeout_seconds) as http:
            yield build_connector(config, http=http)

    router.include_router(channels_router(
        channels=MongoChannelStore(mongo[settings.database]), keys=ApiKeys(settings.api_keys.get_secret_value()),
        clock=utc_now, store=store, bus=Bus(broker, PRODUCER), connect=connect_channel,
        max_body_bytes=settings.max_body_bytes, publish_timeout=settings.publish_timeout_seconds,
    ))
    return service_api("ingest", settings, broker, mongo, router)


def run_ingest_worker(settings: Settings) -> None:
    """Run the re-publisher until SIGINT/SIGTERM: create topics and indexes, then loop."""
    broker, mongo = connect(settings, client_id="ingest-worker")
    store = MongoIntakeStore(mongo[settings.database])
    bus = Bus(broker, PRODUCER)

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
            )

    run_worker(broker, settings, mongo, on_startup=store.create_indexes, background=republish)
