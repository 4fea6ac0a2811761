"""Builds the inventory service's clients and wiring; nothing connects until a process starts."""

from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now
from inventory.adapters.repository import MongoStockRepository
from inventory.config import Settings
from inventory.entrypoints.api import items_router, locations_router, purchase_orders_router, stock_router
from inventory.entrypoints.worker import register_subscribers

PRODUCER = "inventory"


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (publishing only) and Mongo client (reading only)."""
    keys = ApiKeys(settings.api_keys.get_secret_value())
    broker, mongo = connect(settings, client_id="inventory-api")
    repo = MongoStockRepository(mongo[settings.database])
    bus = Bus(broker, PRODUCER)
    router = APIRouter()
    router.include_router(stock_router(repo=repo, bus=bus, keys=keys))
    router.include_router(locations_router(repo=repo, keys=keys))
    timeout = settings.command_timeout_seconds
    router.include_router(items_router(repo=repo, bus=bus, keys=keys, command_timeout=timeout))
    router.include_router(purchase_orders_router(repo=repo, bus=bus, keys=keys, command_timeout=timeout))
    return service_api("inventory", settings, broker, mongo, router)


def build_worker(settings: Settings) -> tuple[KafkaBroker, MongoStockRepository, AsyncMongoClient]:
    """A broker with every inventory subscriber registered, and what it writes to."""
    broker, mongo = connect(settings, client_id="inventory-worker")
    repo = MongoStockRepository(mongo[settings.database])
    register_subscribers(broker, repo=repo, bus=Bus(broker, PRODUCER), clock=utc_now,
                         max_attempts=settings.max_attempts)
    return broker, repo, mongo


def run_inventory_worker(settings: Settings) -> None:
    """Run the worker: create the ledger's indexes, then consume until stopped."""
    broker, repo, mongo = build_worker(settings)
    run_worker(broker, settings, mongo, on_startup=repo.create_indexes)
