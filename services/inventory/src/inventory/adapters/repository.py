"""Stock documents (collection `stock`, `_id` = SKU), the stock ledger (`ledger`, `_id` = command id) and items.

Every read on the command path is by `_id` (FerretDB v1 filters in SQL only by `_id` and reads a whole collection
for anything else): `ledger_positions` (`_id` = `SKU:seq`, the entry's command id) finds a SKU's latest entries
from the stock's seq, and `order_allocations` (`_id` = `order id:SKU`) keeps what an order holds per location.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

from pymongo import ASCENDING
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

    async def ledger_head(self, sku: str, *, after_seq: int) -> "LedgerHead": ...

    async def add_entry(self, entry: LedgerEntry) -> None: ...

    async def entries(self, sku: str, *, after_seq: int, limit: int) -> list[LedgerEntry]: ...

    async def order_allocation(self, sku: str, order_id: uuid.UUID) -> dict[str, int]: ...

    async def save_order_allocation(self, entry: LedgerEntry) -> None: ...

    async def order_holdings(self, sku: str) -> list["OrderHolding"]: ...

    async def stocks(self, skus: list[str]) -> dict[str, Stock]: ...

    async def stock_at(self, location: str, *, after: str | None, limit: int) -> list[Stock]: ...

    async def oversold(self, *, after: str | None, limit: int) -> list[Stock]: ...


POSITION_PAGE = 50  # positions looked up at once when more than one follows the stock's seq


class LedgerHead(NamedTuple):
    """The end of a SKU's ledger beyond a known seq: the last position taken, and the last entry recorded there
    (None when no entry is recorded beyond that seq)."""

    seq: int
    latest: LedgerEntry | None


class OrderHolding(NamedTuple):
    """What one order holds of a SKU: its net allocation and the ledger seq of its first allocation."""

    order_id: uuid.UUID
    allocated: int
    first_seq: int


async def find_head(
    sku: str,
    *,
    after_seq: int,
    positions: Callable[[list[str]], Awaitable[dict[str, str]]],
    get_entry: Callable[[uuid.UUID], Awaitable[LedgerEntry | None]],
) -> LedgerHead:
    """Walk a SKU's positions from `after_seq` (`positions` answers which of some position ids are taken, and by
    which entry): one lookup when nothing follows, then pages. Positions are claimed one after the other, so the
    first free one ends the walk."""
    taken: list[tuple[int, str]] = []
    wanted = [after_seq + 1]
    while wanted:
        ids = [position_id(sku, seq) for seq in wanted]
        found = await positions(ids)
        for seq, position in zip(wanted, ids, strict=True):
            if position not in found:
                wanted = []
                break
            taken.append((seq, found[position]))
        else:
            wanted = list(range(wanted[-1] + 1, wanted[-1] + 1 + POSITION_PAGE))
    for seq, entry_id in reversed(taken):
        # A position whose entry is missing was claimed by a writer that died before its insert: skipped.
        entry = await get_entry(uuid.UUID(entry_id))
        if entry is not None and entry.sku == sku and entry.seq == seq:
            return LedgerHead(taken[-1][0], entry)
    return LedgerHead(taken[-1][0] if taken else after_seq, None)


def holdings(entries: list[dict[str, Any]]) -> list[OrderHolding]:
    """Orders with a positive net allocation, from their stored ledger entries, first allocated first."""
    totals: dict[str, list[int]] = {}
    for doc in sorted(entries, key=lambda d: d["seq"]):
        if doc.get("order_id") and doc.get("applies_to_stock"):
            held = totals.setdefault(doc["order_id"], [0, doc["seq"]])
            held[0] += doc["allocated_delta"]
    return sorted((OrderHolding(uuid.UUID(order_id), allocated, first_seq)
                   for order_id, (allocated, first_seq) in totals.items() if allocated > 0), key=lambda h: h.first_seq)


class MongoStockRepository:
    """Stock and ledger in MongoDB; only inserts and seq-guarded replaces, so FerretDB behaves like MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.stock = db["stock"]
        self.ledger = db["ledger"]
        self.positions = db["ledger_positions"]
        self.allocations = db["order_allocations"]
        self.migrations = db["migrations"]
        self.items = MongoItemStore(db)
        self.purchase_orders = MongoPurchaseOrderStore(db)

    async def create_indexes(self) -> None:
        """One ledger entry per (SKU, seq) (positions claim it by `_id` too); the ledger's pages read by SKU."""
        await self.ledger.create_index([("sku", ASCENDING), ("seq", ASCENDING)], unique=True, name="sku_seq")
        await self.backfill_positions()

    async def backfill_positions(self) -> None:
        """Once: positions and order holdings for ledger entries written before they existed (inserts only, so
        running it twice or beside a worker changes nothing)."""
        if await self.migrations.find_one({"_id": "ledger_positions"}) is not None:
            return
        held: dict[str, dict[str, Any]] = {}
        async for doc in self.ledger.find({}):
            await _insert_new(self.positions, {"_id": position_id(doc["sku"], doc["seq"]), "entry_id": doc["_id"]})
            if doc.get("order_id") and doc.get("applies_to_stock"):
                holding = held.setdefault(allocation_id(doc["sku"], doc["order_id"]), {"held": {}, "seq": 0})
                holding["held"][doc["location"]] = holding["held"].get(doc["location"], 0) + doc["allocated_delta"]
                holding["seq"] = max(holding["seq"], doc["seq"])
        for holding_id, holding in held.items():
            await _insert_new(self.allocations, {"_id": holding_id, **holding})
        await _insert_new(self.migrations, {"_id": "ledger_positions"})
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

    async def ledger_head(self, sku: str, *, after_seq: int) -> LedgerHead:
        """The positions taken after `after_seq` (the stock's seq: usually none, one after a crash, or a few
        refused or unknown-SKU entries, which do not write the stock), and the latest entry recorded there."""
        return await find_head(sku, after_seq=after_seq, positions=self._positions, get_entry=self.get_entry)

    async def _positions(self, ids: list[str]) -> dict[str, str]:
        query = {"_id": ids[0]} if len(ids) == 1 else {"_id": {"$in": ids}}
        return {doc["_id"]: doc["entry_id"] for doc in await self.positions.find(query).to_list(length=None)}

    async def add_entry(self, entry: LedgerEntry) -> None:
        """Claim the entry's position (SKU, seq), then insert it; its command id and its position must be new."""
        try:
            await self.positions.insert_one({"_id": position_id(entry.sku, entry.seq),
                                             "entry_id": str(entry.entry_id)})
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
        """What an order holds of a SKU per location (the sum of its ledger entries, kept by
        `save_order_allocation`)."""
        doc = await self.allocations.find_one({"_id": allocation_id(sku, order_id)})
        return {} if doc is None else dict(doc["held"])

    async def save_order_allocation(self, entry: LedgerEntry) -> None:
        """Add an entry's allocation change to its order's holding, once: the holding keeps the seq of the last
        entry added, so finishing an entry a second time (after a crash) adds nothing."""
        if entry.order_id is None or not entry.applies_to_stock:
            return
        try:
            await self.allocations.update_one(
                {"_id": allocation_id(entry.sku, entry.order_id), "seq": {"$lt": entry.seq}},
                {"$inc": {f"held.{entry.location}": entry.allocated_delta}, "$set": {"seq": entry.seq}},
                upsert=True,
            )
        except Exception as exc:
            if not is_duplicate_key(exc):  # the holding exists with this seq or a later one: already added
                raise

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


async def _insert_new(collection: Any, doc: dict[str, Any]) -> None:
    """Insert a document unless its `_id` is already there."""
    try:
        await collection.insert_one(doc)
    except Exception as exc:
        if not is_duplicate_key(exc):
            raise


def position_id(sku: str, seq: int) -> str:
    """The `_id` of a ledger position, `SKU:seq` (unambiguous: the seq follows the last colon)."""
    return f"{sku}:{seq}"


def allocation_id(sku: str, order_id: uuid.UUID | str) -> str:
    """The `_id` of what one order holds of one SKU."""
    return f"{order_id}:{sku}"


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
