"""Builds the printing service's clients and wiring; nothing connects until a process starts."""

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now
from printing.adapters.printers import Destination, printer_for_uri
from printing.adapters.renderers import DocumentRenderer
from printing.adapters.repository import MongoPrintJobRepository
from printing.config import Settings
from printing.entrypoints.api import print_jobs_router
from printing.entrypoints.worker import register_subscribers
from printing.service_layer.handlers import SendPolicy

PRODUCER = "printing"


def destinations(settings: Settings) -> dict[str, Destination]:
    """The printer of each document type."""
    timeout = settings.printer_timeout_seconds
    return {
        document_type: Destination(uri, printer_for_uri(uri, timeout=timeout))
        for document_type, uri in settings.printer_uris().items()
    }


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (for health and publishing reprints) and Mongo client."""
    broker, mongo = connect(settings, client_id="printing-api")
    repo = MongoPrintJobRepository(mongo[settings.database])
    keys = ApiKeys(settings.api_keys.get_secret_value())
    router = print_jobs_router(repo=repo, keys=keys, bus=Bus(broker, PRODUCER))
    return service_api("printing", settings, broker, mongo, router)


def build_worker(settings: Settings) -> tuple[KafkaBroker, MongoPrintJobRepository, AsyncMongoClient]:
    """A broker with the print command subscriber registered, and what it writes to."""
    broker, mongo = connect(settings, client_id="printing-worker")
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
