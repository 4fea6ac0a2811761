"""Write-back documents in MongoDB (`writebacks`, `_id` = write-back id), written only by the ingest command consumer.

The API and the scheduler only read: the list of an order's write-backs, and the pending ones whose next attempt
is due. Saves go through `save_document` (insert, or replace at the version read).
"""

import uuid
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_platform.documents import save_document


class WriteBackStore(Protocol):
    """Where write-back documents live."""

    async def get(self, writeback_id: uuid.UUID | str) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...

    async def of_order(self, order_id: uuid.UUID) -> list[dict[str, Any]]: ...

    async def due(self, *, now: datetime, limit: int) -> list[dict[str, Any]]: ...

    async def in_state(self, state: str, *, limit: int, after: str | None = None) -> list[dict[str, Any]]: ...


class MongoWriteBackStore:
    """Write-backs in MongoDB."""

    def __init__(self, db: AsyncDatabase, collection: str = "writebacks") -> None:
        # The available-stock pushes (`stock_pushes`, `_id` = SKU) are kept the same way.
        self.writebacks = db[collection]

    async def create_indexes(self) -> None:
        """An order's write-backs, and the scheduler's query."""
        await self.writebacks.create_index([("order_id", ASCENDING)])
        await self.writebacks.create_index([("state", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.writebacks.create_index([("state", ASCENDING), ("_id", ASCENDING)])

    async def get(self, writeback_id: uuid.UUID | str) -> dict[str, Any] | None:
        """One write-back document, or None."""
        return await self.writebacks.find_one({"_id": str(writeback_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert a new document or replace it at the version read."""
        await save_document(self.writebacks, doc)

    async def of_order(self, order_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every write-back of an order, oldest first."""
        return await self.writebacks.find({"order_id": str(order_id)}).sort("created_at", ASCENDING).to_list(None)

    async def due(self, *, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Pending write-backs whose next attempt time has come, earliest first."""
        cursor = self.writebacks.find({"state": "pending", "next_attempt_at": {"$lte": now}})
        return await cursor.sort("next_attempt_at", ASCENDING).limit(limit).to_list(None)

    async def in_state(self, state: str, *, limit: int, after: str | None = None) -> list[dict[str, Any]]:
        """One page of the write-backs in a state (e.g. failed) across orders, in id order, after the id `after`."""
        query: dict[str, Any] = {"state": state}
        if after is not None:
            query["_id"] = {"$gt": after}
        return await self.writebacks.find(query).sort("_id", ASCENDING).limit(limit).to_list(None)
