"""Order documents in MongoDB (collection `orders`, `_id` = order id)."""

import uuid
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_platform.documents import save_document


class OrderRepository(Protocol):
    """Where order documents live."""

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...


class MongoOrderRepository:
    """Order documents in MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.orders = db["orders"]

    async def create_indexes(self) -> None:
        """Indexes for the channel identity and the lists staff use."""
        await self.orders.create_index(
            [("details.channel", ASCENDING), ("details.channel_order_id", ASCENDING)], unique=True
        )
        await self.orders.create_index([("status", ASCENDING), ("opened_at", DESCENDING)])

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None:
        """The order document, or None."""
        return await self.orders.find_one({"_id": str(order_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.orders, doc)

    async def list(self, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        """Newest orders first, optionally of one status."""
        query = {"status": status} if status else {}
        cursor = self.orders.find(query, {"handled": 0}).sort("opened_at", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)
