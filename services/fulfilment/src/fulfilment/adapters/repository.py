"""Fulfilment's documents in MongoDB: shipments, batches, settings, and the tracking range's counter and numbers.

Every collection here is written only by the consumer of oms.fulfilment.commands, each document by the commands
keyed by its id (order id, batch id, 'shipping-rules' / 'channel:<name>', carrier name).
"""

import uuid
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_platform.documents import save_document
from oms_platform.mongo import is_duplicate_key


class ShipmentRepository(Protocol):
    """Where shipment documents live."""

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...

    async def list(self, *, status: str | None, limit: int) -> list[dict[str, Any]]: ...


class MongoDocuments:
    """Aggregate documents of one collection, saved at the version read."""

    def __init__(self, db: AsyncDatabase, collection: str) -> None:
        self.collection = db[collection]

    async def get(self, aggregate_id: Any) -> dict[str, Any] | None:
        """The document, or None."""
        return await self.collection.find_one({"_id": str(aggregate_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.collection, doc)


class MongoShipmentRepository(MongoDocuments):
    """Shipment documents (`shipments`, `_id` = order id)."""

    def __init__(self, db: AsyncDatabase) -> None:
        super().__init__(db, "shipments")
        self.shipments = self.collection

    async def create_indexes(self) -> None:
        """Indexes for the lists staff use and for finding a shipment by tracking number."""
        await self.shipments.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
        await self.shipments.create_index([("tracking_number", ASCENDING)])

    async def list(self, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest shipments, optionally only those in one status (e.g. waiting for a typed tracking number)."""
        query = {} if status is None else {"status": status}
        cursor = self.shipments.find(query).sort([("created_at", DESCENDING), ("_id", ASCENDING)]).limit(limit)
        return await cursor.to_list(length=limit)


class MongoTrackingRange:
    """The range carrier's counter (`tracking_ranges`, `_id` = carrier) and issued numbers (`tracking_numbers`,
    `_id` = shipment id, unique `tracking_number`)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.ranges = db["tracking_ranges"]
        self.numbers = db["tracking_numbers"]

    async def create_indexes(self) -> None:
        """A number belongs to one shipment, whatever happens."""
        await self.numbers.create_index([("tracking_number", ASCENDING)], unique=True)

    async def issued(self, shipment_id: uuid.UUID) -> str | None:
        """The number already issued to the shipment, if any."""
        doc = await self.numbers.find_one({"_id": str(shipment_id)})
        return doc["tracking_number"] if doc else None

    async def take_serial(self, carrier: str, *, first: int) -> int:
        """The next serial, with the counter saved past it (only the consumer keyed by `carrier` calls this)."""
        doc = await self.ranges.find_one({"_id": carrier}) or {"_id": carrier, "next_serial": first}
        serial = max(doc["next_serial"], first)
        doc["next_serial"] = serial + 1
        await save_document(self.ranges, doc)
        return serial

    async def record(self, shipment_id: uuid.UUID, *, order_id: uuid.UUID, tracking_number: str) -> str | None:
        """Record the shipment's number unless it has one; return the shipment's number, or None when this number
        belongs to another shipment."""
        try:
            await self.numbers.insert_one(
                {"_id": str(shipment_id), "order_id": str(order_id), "tracking_number": tracking_number}
            )
            return tracking_number
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        # Either the shipment has its number already, or the number is another's (the counter was reset).
        return await self.issued(shipment_id)
