"""Builds the ingest service's clients and wiring; nothing connects until a process starts."""

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from ingest.adapters.intake_store import MongoIntakeStore
from ingest.config import Settings
from ingest.entrypoints.api import ingest_router
from ingest.entrypoints.worker import run_republisher
from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.mongo import mongo_client
from oms_platform.runtime import broker_lifespan, health_router, run_worker, standard_checks

PRODUCER = "ingest"


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (publishing only) and the intake log it writes to."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id="ingest-api")
    mongo = mongo_client(settings.mongodb_url.get_secret_value())
    store = MongoIntakeStore(mongo[settings.database])
    app = FastAPI(title="OMS ingest", version="1", lifespan=broker_lifespan(broker, settings, mongo))
    app.include_router(health_router(standard_checks(broker, mongo)))
    app.include_router(
        ingest_router(
            store=store, bus=Bus(broker, PRODUCER), keys=ApiKeys(settings.api_keys.get_secret_value()),
            clock=utc_now, max_body_bytes=settings.max_body_bytes, publish_timeout=settings.publish_timeout_seconds,
        )
    )
    return app


def run_ingest_worker(settings: Settings) -> None:
    """Run the re-publisher until SIGINT/SIGTERM: create topics and indexes, then loop."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id="ingest-worker")
    mongo = mongo_client(settings.mongodb_url.get_secret_value())
    store = MongoIntakeStore(mongo[settings.database])

    async def republish(stop: asyncio.Event) -> None:
        await run_republisher(
            store=store, bus=Bus(broker, PRODUCER), clock=utc_now,
            older_than=timedelta(seconds=settings.republish_after_seconds),
            every=settings.republish_every_seconds, stop=stop,
        )

    run_worker(broker, settings, mongo, on_startup=store.create_indexes, background=republish)
