"""Stock item and purchase order documents, each with the `handled` map of the commands applied to it."""

from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_platform.documents import save_document


class ItemStore(Protocol):
    """Where stock item documents live: read by id, saved at their version, listed in SKU order."""

    async def get(self, sku: Any) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...

    async def list(self, *, after: str | None, limit: int) -> list[dict[str, Any]]: ...


class MongoItemStore:
    """Stock items in MongoDB; written only by the inventory command consumer."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["stock_items"]

    async def get(self, sku: Any) -> dict[str, Any] | None:
        """The item document of a SKU, or None."""
        return await self.collection.find_one({"_id": str(sku)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.collection, doc)

    async def list(self, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` item documents in SKU order, after the SKU `after`."""
        query = {"_id": {"$gt": after}} if after else {}
        cursor = self.collection.find(query).sort("_id", ASCENDING).limit(limit)
        return await cursor.to_list(length=limit)


OPEN_STATUSES = ["open", "partially_delivered"]


class PurchaseOrderStore(Protocol):
    """Where purchase order documents live, and what is still due per SKU on the open ones."""

    async def get(self, po_id: Any) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...

    async def due(self, sku: str) -> int: ...

    async def list(self, *, status: str | None, after: str | None, limit: int) -> list[dict[str, Any]]: ...


def outstanding(doc: dict[str, Any], sku: str) -> int:
    """How much of `sku` a purchase order document still expects."""
    return sum(line["ordered"] - line["received"] for line in doc["purchase_order"]["lines"] if line["sku"] == sku)


class MongoPurchaseOrderStore:
    """Purchase order documents (collection `purchase_orders`, `_id` = PO id); written only by the command consumer."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["purchase_orders"]

    async def get(self, po_id: Any) -> dict[str, Any] | None:
        """The document of a purchase order, or None."""
        return await self.collection.find_one({"_id": str(po_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.collection, doc)

    async def due(self, sku: str) -> int:
        """Quantity of `sku` ordered but not yet received over every open purchase order."""
        cursor = self.collection.find({"skus": sku, "status": {"$in": OPEN_STATUSES}})
        return sum(outstanding(doc, sku) for doc in await cursor.to_list(length=None))

    async def list(self, *, status: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` purchase order documents in id order after `after`, optionally of one status."""
        query: dict[str, Any] = {"status": status} if status else {}
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query).sort("_id", ASCENDING).limit(limit)
        return await cursor.to_list(length=limit)
