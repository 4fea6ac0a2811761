"""Stock documents (collection `stock`, `_id` = SKU), the stock ledger (`ledger`, `_id` = command id) and items."""

import uuid
from typing import Any, NamedTuple, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from inventory.adapters.items import ItemStore, MongoItemStore, MongoPurchaseOrderStore, PurchaseOrderStore
from inventory.domain.model import LedgerEntry, Stock
from oms_platform.documents import ConcurrentWrite
from oms_platform.mongo import is_duplicate_key


class StockRepository(Protocol):
    """Where stock documents and ledger entries live, and the stock items (read for minimum levels)."""

    items: ItemStore
    purchase_orders: PurchaseOrderStore

    async def get_stock(self, sku: str) -> Stock | None: ...

    async def save_stock(self, stock: Stock, *, previous_seq: int | None) -> None: ...

    async def get_entry(self, entry_id: uuid.UUID) -> LedgerEntry | None: ...

    async def latest_entry(self, sku: str) -> LedgerEntry | None: ...

    async def add_entry(self, entry: LedgerEntry) -> None: ...

    async def entries(self, sku: str, *, after_seq: int, limit: int) -> list[LedgerEntry]: ...

    async def order_allocation(self, sku: str, order_id: uuid.UUID) -> dict[str, int]: ...

    async def order_holdings(self, sku: str) -> list["OrderHolding"]: ...

    async def stocks(self, skus: list[str]) -> dict[str, Stock]: ...

    async def stock_at(self, location: str, *, after: str | None, limit: int) -> list[Stock]: ...

    async def oversold(self, *, after: str | None, limit: int) -> list[Stock]: ...


class OrderHolding(NamedTuple):
    """What one order holds of a SKU: its net allocation and the ledger seq of its first allocation."""

    order_id: uuid.UUID
    allocated: int
    first_seq: int


def holdings(entries: list[dict[str, Any]]) -> list[OrderHolding]:
    """Orders with a positive net allocation, from their stored ledger entries, first allocated first."""
    totals: dict[str, list[int]] = {}
    for doc in sorted(entries, key=lambda d: d["seq"]):
        if doc.get("order_id") and doc.get("applies_to_stock"):
            held = totals.setdefault(doc["order_id"], [0, doc["seq"]])
            held[0] += doc["allocated_delta"]
    return sorted((OrderHolding(uuid.UUID(order_id), allocated, first_seq)
                   for order_id, (allocated, first_seq) in totals.items() if allocated > 0), key=lambda h: h.first_seq)


def allocation_by_location(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Net allocation per location from one order's stored ledger entries of one SKU."""
    held: dict[str, int] = {}
    for doc in entries:
        if doc.get("applies_to_stock"):
            held[doc["location"]] = held.get(doc["location"], 0) + doc["allocated_delta"]
    return held


class MongoStockRepository:
    """Stock and ledger in MongoDB; only inserts and seq-guarded replaces, so FerretDB behaves like MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.stock = db["stock"]
        self.ledger = db["ledger"]
        self.items = MongoItemStore(db)
        self.purchase_orders = MongoPurchaseOrderStore(db)

    async def create_indexes(self) -> None:
        """One ledger entry per (SKU, seq): a second writer claiming the same position fails."""
        await self.ledger.create_index([("sku", ASCENDING), ("seq", ASCENDING)], unique=True, name="sku_seq")
        await self.ledger.create_index([("sku", ASCENDING), ("order_id", ASCENDING)], name="sku_order")
        await self.stock.create_index([("available", ASCENDING)], name="available")

    async def get_stock(self, sku: str) -> Stock | None:
        """The stock of a SKU, or None when the SKU was never stocked."""
        doc = await self.stock.find_one({"_id": sku})
        return None if doc is None else Stock.model_validate(doc)

    async def save_stock(self, stock: Stock, *, previous_seq: int | None) -> None:
        """Insert a new stock document (previous_seq None) or replace the one read at `previous_seq`."""
        doc = stock_document(stock)
        if previous_seq is None:
            try:
                await self.stock.insert_one(doc)
            except Exception as exc:
                if is_duplicate_key(exc):
                    raise ConcurrentWrite(f"stock {stock.sku} was created concurrently") from exc
                raise
            return
        result = await self.stock.replace_one({"_id": stock.sku, "seq": previous_seq}, doc)
        if result.matched_count != 1:
            raise ConcurrentWrite(f"stock {stock.sku} changed since seq {previous_seq}")

    async def get_entry(self, entry_id: uuid.UUID) -> LedgerEntry | None:
        """The ledger entry of a command, or None when the command was never handled."""
        doc = await self.ledger.find_one({"_id": str(entry_id)})
        return None if doc is None else _entry(doc)

    async def latest_entry(self, sku: str) -> LedgerEntry | None:
        """The SKU's ledger entry with the highest seq."""
        doc = await self.ledger.find_one({"sku": sku}, sort=[("seq", DESCENDING)])
        return None if doc is None else _entry(doc)

    async def add_entry(self, entry: LedgerEntry) -> None:
        """Insert an entry; its command id and its (SKU, seq) must both be new."""
        try:
            await self.ledger.insert_one(ledger_document(entry))
        except Exception as exc:
            if is_duplicate_key(exc):
                raise ConcurrentWrite(f"ledger of {entry.sku}: command or seq {entry.seq} taken") from exc
            raise

    async def entries(self, sku: str, *, after_seq: int, limit: int) -> list[LedgerEntry]:
        """A page of the SKU's ledger in seq order, after `after_seq`."""
        cursor = self.ledger.find({"sku": sku, "seq": {"$gt": after_seq}}).sort("seq", ASCENDING).limit(limit)
        return [_entry(doc) for doc in await cursor.to_list(length=limit)]

    async def order_allocation(self, sku: str, order_id: uuid.UUID) -> dict[str, int]:
        """What an order holds of a SKU per location, summed from its ledger entries."""
        cursor = self.ledger.find({"sku": sku, "order_id": str(order_id)},
                                  {"location": 1, "allocated_delta": 1, "applies_to_stock": 1})
        return allocation_by_location(await cursor.to_list(length=None))

    async def order_holdings(self, sku: str) -> list[OrderHolding]:
        """Every order holding a SKU, first allocated first (read from the ledger)."""
        cursor = self.ledger.find({"sku": sku, "order_id": {"$ne": None}},
                                  {"order_id": 1, "seq": 1, "allocated_delta": 1, "applies_to_stock": 1})
        return holdings(await cursor.to_list(length=None))

    async def stocks(self, skus: list[str]) -> dict[str, Stock]:
        """The stock documents of some SKUs (those that have one)."""
        cursor = self.stock.find({"_id": {"$in": skus}})
        return {doc["_id"]: Stock.model_validate(doc) for doc in await cursor.to_list(length=None)}

    async def stock_at(self, location: str, *, after: str | None, limit: int) -> list[Stock]:
        """Stock of every SKU ever recorded at a location, in SKU order, after the SKU `after`."""
        query: dict[str, Any] = {f"locations.{location}": {"$exists": True}}
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.stock.find(query).sort("_id", ASCENDING).limit(limit)
        return [Stock.model_validate(doc) for doc in await cursor.to_list(length=limit)]

    async def oversold(self, *, after: str | None, limit: int) -> list[Stock]:
        """SKUs whose total available is below zero, in SKU order, after the SKU `after`."""
        query: dict[str, Any] = {"available": {"$lt": 0}}
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.stock.find(query).sort("_id", ASCENDING).limit(limit)
        return [Stock.model_validate(doc) for doc in await cursor.to_list(length=limit)]


def stock_document(stock: Stock) -> dict[str, Any]:
    """The stored form of a SKU's stock: per-location levels plus totals, for reading and querying."""
    totals = stock.totals
    return {
        "_id": stock.sku,
        **stock.model_dump(mode="json"),
        "on_hand": totals.on_hand,
        "allocated": totals.allocated,
        "available": totals.available,
    }


def ledger_document(entry: LedgerEntry) -> dict[str, Any]:
    """The stored form of a ledger entry, `_id` being the command's event id."""
    return {"_id": str(entry.entry_id), **entry.model_dump(mode="json", exclude={"entry_id"})}


def _entry(doc: dict[str, Any]) -> LedgerEntry:
    """A ledger entry from its stored form."""
    return LedgerEntry.model_validate({**doc, "entry_id": doc["_id"]})
