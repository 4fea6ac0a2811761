"""Builds the orders service's clients and wiring; nothing connects until a process starts."""

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now
from orders.adapters.payments import MongoOrderLookup, MongoPaymentRepository
from orders.adapters.repository import MongoOrderRepository
from orders.config import Settings
from orders.domain.model import ProcessingGuards
from orders.entrypoints.api import orders_router
from orders.entrypoints.payments_api import payments_router
from orders.entrypoints.worker import register_subscribers

PRODUCER = "orders"


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (publishing only) and Mongo client."""
    broker, mongo = connect(settings, client_id="orders-api")
    repo = MongoOrderRepository(mongo[settings.database])
    keys = ApiKeys(settings.api_keys.get_secret_value())
    router = orders_router(repo=repo, bus=Bus(broker, PRODUCER), keys=keys,
                           command_timeout=settings.command_timeout_seconds)
    app = service_api("orders", settings, broker, mongo, router)
    app.include_router(payments_router(repo=repo, payments=MongoPaymentRepository(mongo[settings.database]),
                                       bus=Bus(broker, PRODUCER), keys=keys,
                                       command_timeout=settings.command_timeout_seconds))
    return app


def build_worker(settings: Settings) -> tuple[KafkaBroker, MongoOrderRepository, AsyncMongoClient]:
    """A broker with every orders subscriber registered, and what it writes to."""
    broker, mongo = connect(settings, client_id="orders-worker")
    repo = MongoOrderRepository(mongo[settings.database])
    register_subscribers(
        broker,
        repo=repo,
        bus=Bus(broker, PRODUCER),
        guards=ProcessingGuards(require_paid=settings.require_paid, require_stock=settings.require_stock,
                                park_unpaid_channels=frozenset(
                                    c.strip() for c in settings.park_unpaid_channels.split(",") if c.strip()),
                                require_not_parked=settings.require_not_parked,
                                require_not_locked=settings.require_not_locked),
        clock=utc_now,
        max_attempts=settings.max_attempts,
    )
    return broker, repo, mongo


def run_orders_worker(settings: Settings) -> None:
    """Run the worker: create indexes, then consume until stopped."""
    broker, repo, mongo = build_worker(settings)
    payment_store = MongoPaymentRepository(mongo[settings.database])

    async def create_indexes() -> None:
        await repo.create_indexes()
        await payment_store.create_indexes()
        await MongoOrderLookup(mongo[settings.database]).create_indexes()

    run_worker(broker, settings, mongo, on_startup=create_indexes)
