"""Builds the orders service's clients and wiring; nothing connects until a process starts."""

from datetime import UTC, datetime

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.mongo import mongo_client
from oms_platform.runtime import broker_lifespan, health_router, run_worker, standard_checks
from orders.adapters.repository import MongoOrderRepository
from orders.config import Settings
from orders.domain.model import ProcessingGuards
from orders.entrypoints.api import orders_router
from orders.entrypoints.worker import register_subscribers

PRODUCER = "orders"


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (publishing only) and Mongo client."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id="orders-api")
    mongo = mongo_client(settings.mongodb_url.get_secret_value())
    repo = MongoOrderRepository(mongo[settings.database])
    guards = ProcessingGuards(require_paid=settings.require_paid, require_stock=settings.require_stock)
    app = FastAPI(title="OMS orders", version="1", lifespan=broker_lifespan(broker, settings, mongo))
    app.include_router(health_router(standard_checks(broker, mongo)))
    app.include_router(
        orders_router(repo=repo, bus=Bus(broker, PRODUCER), keys=ApiKeys(settings.api_keys.get_secret_value()),
                      guards=guards)
    )
    return app


def build_worker(settings: Settings) -> tuple[KafkaBroker, MongoOrderRepository, AsyncMongoClient]:
    """A broker with every orders subscriber registered, and what it writes to."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id="orders-worker")
    mongo = mongo_client(settings.mongodb_url.get_secret_value())
    repo = MongoOrderRepository(mongo[settings.database])
    register_subscribers(
        broker,
        repo=repo,
        bus=Bus(broker, PRODUCER),
        guards=ProcessingGuards(require_paid=settings.require_paid, require_stock=settings.require_stock),
        clock=utc_now,
        max_attempts=settings.max_attempts,
    )
    return broker, repo, mongo


def run_orders_worker(settings: Settings) -> None:
    """Run the worker: create indexes, then consume until stopped."""
    broker, repo, mongo = build_worker(settings)
    run_worker(broker, settings, mongo, on_startup=repo.create_indexes)
