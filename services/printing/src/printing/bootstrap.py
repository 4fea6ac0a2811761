"""Builds the printing service's clients and wiring; nothing connects until a process starts."""

import asyncio
import contextlib
from datetime import timedelta

from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import Gauge
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now
from printing.adapters.printers import printer_for_uri
from printing.adapters.registry import MongoPrinterStatus, MongoPrinterStore, MongoStationStore, MongoTemplateStore
from printing.adapters.renderers import DocumentRenderer
from printing.adapters.repository import MongoPrintJobRepository
from printing.config import Settings
from printing.entrypoints.admin_api import admin_router
from printing.entrypoints.api import print_jobs_router
from printing.entrypoints.station_api import station_router
from printing.entrypoints.worker import register_subscribers
from printing.service_layer.delivery import DeliveryLoop
from printing.service_layer.handlers import Directory, SendPolicy

PRODUCER = "printing"
PRINT_JOBS = Gauge("oms_print_jobs", "Print jobs per state, read from the database at scrape time.", ["state"])


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (for publishing reprints and acknowledgements) and Mongo client."""
    broker, mongo = connect(settings, client_id="printing-api")
    db = mongo[settings.database]
    repo = MongoPrintJobRepository(db)
    keys = ApiKeys(settings.api_keys.get_secret_value())
    bus = Bus(broker, PRODUCER)
    stations = MongoStationStore(db)
    router = APIRouter()
    router.include_router(print_jobs_router(repo=repo, keys=keys, bus=bus, stations=stations,
                                            command_timeout=settings.command_timeout_seconds))
    router.include_router(
        admin_router(
            printers=MongoPrinterStore(db),
            printer_status=MongoPrinterStatus(db),
            templates=MongoTemplateStore(db),
            stations=stations,
            keys=keys,
            clock=utc_now,
            seller_name=settings.seller_name,
            online_within=timedelta(seconds=settings.station_poll_seconds + 15),
        )
    )
    router.include_router(
        station_router(repo=repo, stations=stations, bus=bus, clock=utc_now,
                       max_wait_seconds=settings.station_poll_seconds)
    )
    return service_api("printing", settings, broker, mongo, router, on_scrape=lambda: count_jobs_by_state(repo))


async def count_jobs_by_state(repo: MongoPrintJobRepository) -> None:
    """`oms_print_jobs{state}` from the database, at each scrape (every API process reports the same figures)."""
    for state, count in (await repo.count_by_state()).items():
        PRINT_JOBS.labels(state).set(count)


def build_worker(settings: Settings) -> tuple[KafkaBroker, MongoPrintJobRepository, AsyncMongoClient, DeliveryLoop]:
    """A broker with the print command subscriber registered, what it writes to, and the delivery loop."""
    broker, mongo = connect(settings, client_id="printing-worker")
    db = mongo[settings.database]
    repo = MongoPrintJobRepository(db)
    bus = Bus(broker, PRODUCER)
    policy = SendPolicy(attempts=settings.send_attempts, max_backoff_seconds=settings.send_max_backoff_seconds)

    def connect_printer(uri: str):
        return printer_for_uri(uri, timeout=settings.printer_timeout_seconds)

    register_subscribers(
        broker,
        repo=repo,
        bus=bus,
        renderer=DocumentRenderer(seller_name=settings.seller_name),
        directory=Directory(MongoPrinterStore(db), settings.printer_uris()),
        templates=MongoTemplateStore(db),
        clock=utc_now,
        max_attempts=settings.max_attempts,
    )
    loop = DeliveryLoop(
        repo=repo, bus=bus, connect=connect_printer, status=MongoPrinterStatus(db), policy=policy, clock=utc_now
    )
    return broker, repo, mongo, loop


def run_printing_worker(settings: Settings) -> None:
    """Run the worker: create indexes, then consume and deliver until stopped."""
    broker, repo, mongo, loop = build_worker(settings)

    async def deliver_until_stopped(stop: asyncio.Event) -> None:
        task = asyncio.create_task(loop.run())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    run_worker(broker, settings, mongo, on_startup=repo.create_indexes, background=deliver_until_stopped)
