"""Builds the printing service's clients and wiring; nothing connects until a process starts."""

from datetime import UTC, datetime

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.mongo import mongo_client
from oms_platform.runtime import broker_lifespan, health_router, run_worker, standard_checks
from printing.adapters.printers import Destination, printer_for_uri
from printing.adapters.renderers import DocumentRenderer
from printing.adapters.repository import MongoPrintJobRepository
from printing.config import Settings
from printing.entrypoints.api import print_jobs_router
from printing.entrypoints.worker import register_subscribers
from printing.service_layer.handlers import SendPolicy

PRODUCER = "printing"


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def destinations(settings: Settings) -> dict[str, Destination]:
    """The printer of each document type."""
    timeout = settings.printer_timeout_seconds
    return {
        "invoice": Destination(settings.invoice_printer, printer_for_uri(settings.invoice_printer, timeout=timeout)),
        "shipping_label": Destination(
            settings.label_printer, printer_for_uri(settings.label_printer, timeout=timeout)
        ),
    }


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (for health and publishing) and Mongo client."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id="printing-api")
    mongo = mongo_client(settings.mongodb_url.get_secret_value())
    repo = MongoPrintJobRepository(mongo[settings.database])
    app = FastAPI(title="OMS printing", version="1", lifespan=broker_lifespan(broker, settings, mongo))
    app.include_router(health_router(standard_checks(broker, mongo)))
    app.include_router(print_jobs_router(repo=repo, keys=ApiKeys(settings.api_keys.get_secret_value())))
    return app


def build_worker(settings: Settings) -> tuple[KafkaBroker, MongoPrintJobRepository, AsyncMongoClient]:
    """A broker with the print command subscriber registered, and what it writes to."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id="printing-worker")
    mongo = mongo_client(settings.mongodb_url.get_secret_value())
    repo = MongoPrintJobRepository(mongo[settings.database])
    register_subscribers(
        broker,
        repo=repo,
        bus=Bus(broker, PRODUCER),
        renderer=DocumentRenderer(seller_name=settings.seller_name),
        printers=destinations(settings),
        clock=utc_now,
        policy=SendPolicy(attempts=settings.send_attempts, max_backoff_seconds=settings.send_max_backoff_seconds),
        max_attempts=settings.max_attempts,
    )
    return broker, repo, mongo


def run_printing_worker(settings: Settings) -> None:
    """Run the worker: create indexes, then consume until stopped."""
    broker, repo, mongo = build_worker(settings)
    run_worker(broker, settings, mongo, on_startup=repo.create_indexes)
