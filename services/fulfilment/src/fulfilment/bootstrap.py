"""Builds the fulfilment service's clients and wiring; nothing connects until a process starts."""

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from oms_platform.auth import ApiKeys
from oms_platform.messaging import Bus
from oms_platform.runtime import connect, run_worker, service_api, utc_now
from fulfilment.adapters.carriers import Carriers, RangeCarrier
from fulfilment.adapters.catalogue import InventoryCatalogue
from fulfilment.adapters.repository import MongoDocuments, MongoShipmentRepository, MongoTrackingRange
from fulfilment.config import Settings
from fulfilment.entrypoints.api import fulfilment_router
from fulfilment.entrypoints.worker import register_subscribers
from fulfilment.service_layer.handlers import Fulfilment

PRODUCER = "fulfilment"


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app with its broker (publishing commands) and Mongo client (reading only)."""
    broker, mongo = connect(settings, client_id="fulfilment-api")
    db = mongo[settings.database]
    router = fulfilment_router(
        shipments=MongoShipmentRepository(db),
        batches=MongoDocuments(db, "batches"),
        settings_store=MongoDocuments(db, "settings"),
        bus=Bus(broker, PRODUCER),
        keys=ApiKeys(settings.api_keys.get_secret_value()),
        range_carrier=settings.carrier_name,
        default_channel=settings.default_channel(),
        default_shipping=settings.default_shipping(),
        command_timeout=settings.command_timeout_seconds,
    )
    return service_api("fulfilment", settings, broker, mongo, router)


def build_worker(settings: Settings) -> tuple[KafkaBroker, Fulfilment, AsyncMongoClient, MongoTrackingRange]:
    """A broker with every fulfilment subscriber registered, and what it writes to."""
    broker, mongo = connect(settings, client_id="fulfilment-worker")
    db = mongo[settings.database]
    tracking = MongoTrackingRange(db)
    ctx = Fulfilment(
        shipments=MongoShipmentRepository(db),
        batches=MongoDocuments(db, "batches"),
        settings=MongoDocuments(db, "settings"),
        bus=Bus(broker, PRODUCER),
        carriers=Carriers(RangeCarrier(
            name=settings.carrier_name, prefix=settings.tracking_prefix, country=settings.tracking_country,
            store=tracking, first=settings.tracking_range_start, last=settings.tracking_range_end,
        )),
        catalogue=InventoryCatalogue(base_url=settings.inventory_url, api_key=settings.inventory_key()),
        default_channel=settings.default_channel(),
        default_shipping=settings.default_shipping(),
        clock=utc_now,
    )
    register_subscribers(broker, ctx=ctx, max_attempts=settings.max_attempts)
    return broker, ctx, mongo, tracking


def run_fulfilment_worker(settings: Settings) -> None:
    """Run the worker: create indexes, then consume until stopped."""
    broker, ctx, mongo, tracking = build_worker(settings)

    async def on_startup() -> None:
        await ctx.shipments.create_indexes()
        await tracking.create_indexes()

    run_worker(broker, settings, mongo, on_startup=on_startup)
