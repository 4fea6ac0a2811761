"""Shipment documents (collection `shipments`, `_id` = order id) and tracking-number claims in MongoDB."""

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


class MongoShipmentRepository:
    """Shipment documents in MongoDB, written only by the consumer of oms.fulfilment.commands."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.shipments = db["shipments"]

    async def create_indexes(self) -> None:
        """Indexes for the lists staff use and for finding a shipment by tracking number."""
        await self.shipments.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
        await self.shipments.create_index([("tracking_number", ASCENDING)])

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None:
        """The shipment document of an order, or None."""
        return await self.shipments.find_one({"_id": str(order_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.shipments, doc)


class MongoTrackingNumberClaims:
    """Issued tracking numbers (collection `tracking_numbers`, `_id` = the number): a claim is a unique insert."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.numbers = db["tracking_numbers"]

    async def claim(self, tracking_number: str, *, order_id: uuid.UUID) -> uuid.UUID:
        """Claim the number for `order_id` unless it is taken; return the order that holds it."""
        try:
            await self.numbers.insert_one({"_id": tracking_number, "order_id": str(order_id)})
            return order_id
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        holder = await self.numbers.find_one({"_id": tracking_number})
        return uuid.UUID(holder["order_id"])
