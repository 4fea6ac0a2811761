"""Builds the ingest service's clients and wiring; nothing connects until a process starts."""

import asyncio
from datetime import timedelta

from fastapi import FastAPI

from ingest.adapters.intake_store import MongoIntakeStore
from ingest.config import Settings
from ingest.entrypoints.api import ingest_router
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
    )
    return service_api("ingest", settings, broker, mongo, router)


def run_ingest_worker(settings: Settings) -> None:
    """Run the re-publisher until SIGINT/SIGTERM: create topics and indexes, then loop."""
    broker, mongo = connect(settings, client_id="ingest-worker")
    store = MongoIntakeStore(mongo[settings.database])

    async def republish(stop: asyncio.Event) -> None:
        await run_republisher(
            store=store, bus=Bus(broker, PRODUCER), clock=utc_now,
            older_than=timedelta(seconds=settings.republish_after_seconds),
            every=settings.republish_every_seconds, stop=stop,
            woocommerce_statuses=settings.woocommerce_statuses(),
        )

    run_worker(broker, settings, mongo, on_startup=store.create_indexes, background=republish)
