"""Builds the fulfilment service's clients and wiring; nothing connects until a process starts."""

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now
from fulfilment.adapters.carriers import RangeCarrier
from fulfilment.adapters.repository import MongoShipmentRepository, MongoTrackingNumberClaims
from fulfilment.config import Settings
from fulfilment.entrypoints.api import shipments_router
from fulfilment.entrypoints.worker import register_subscribers

PRODUCER = "fulfilment"


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its Mongo client (reads only) and a broker for the health check."""
    broker, mongo = connect(settings, client_id="fulfilment-api")
    repo = MongoShipmentRepository(mongo[settings.database])
    router = shipments_router(repo=repo, keys=ApiKeys(settings.api_keys.get_secret_value()))
    return service_api("fulfilment", settings, broker, mongo, router)


def build_worker(settings: Settings) -> tuple[KafkaBroker, MongoShipmentRepository, AsyncMongoClient]:
    """A broker with every fulfilment subscriber registered, and what it writes to."""
    broker, mongo = connect(settings, client_id="fulfilment-worker")
    db = mongo[settings.database]
    repo = MongoShipmentRepository(db)
    carrier = RangeCarrier(
        name=settings.carrier_name,
        prefix=settings.tracking_prefix,
        country=settings.tracking_country,
        claims=MongoTrackingNumberClaims(db),
    )
    register_subscribers(
        broker,
        repo=repo,
        bus=Bus(broker, PRODUCER),
        carrier=carrier,
        policy=settings.shipment_policy(),
        clock=utc_now,
        max_attempts=settings.max_attempts,
    )
    return broker, repo, mongo


def run_fulfilment_worker(settings: Settings) -> None:
    """Run the worker: create indexes, then consume until stopped."""
    broker, repo, mongo = build_worker(settings)
    run_worker(broker, settings, mongo, on_startup=repo.create_indexes)
