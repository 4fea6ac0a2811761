"""Order documents in MongoDB (collection `orders`, `_id` = order id)."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_platform.documents import save_document

if TYPE_CHECKING:
    from orders.domain.model import Order

# Sort orders of the list: name → (document field, direction). `_id` breaks ties, so paging never skips or repeats.
SORTS = {
    "newest": ("opened_at", DESCENDING),
    "oldest": ("opened_at", ASCENDING),
    "order_number": ("order_number", ASCENDING),
    "processed_newest": ("processed_at", DESCENDING),  # Processed Orders
    "changed_newest": ("changed_at", DESCENDING),  # a person's audit: the orders they changed, latest change first
}

# Grid counts of Open Orders: name → list field (a list field such as `tags` counts each value it holds).
COUNTED_FIELDS = {"channel": "channel", "paid": "paid", "parked": "parked", "locked": "locked",
                  "out_of_stock": "out_of_stock", "tag": "tags", "folder": "folder"}


@dataclass(frozen=True)
class OrderFilter:
    """What staff filter the order list by; None means any."""

    status: str | None = None
    channel: str | None = None
    paid: bool | None = None
    parked: bool | None = None
    locked: bool | None = None
    country: str | None = None
    sku: str | None = None
    text: str | None = None  # part of the order number, buyer name, email or postcode, any case
    tag: str | None = None
    folder: str | None = None
    shipping_service: str | None = None
    out_of_stock: bool | None = None
    shipped_on_channel: bool | None = None
    tracking_number: str | None = None
    opened_from: datetime | None = None  # date ranges: from inclusive, to exclusive
    opened_to: datetime | None = None
    processed_from: datetime | None = None
    processed_to: datetime | None = None
    actor: str | None = None  # named in the timeline: a console user, "channel:shopify", a rule...


def list_fields(order: "Order") -> dict[str, Any]:
    """Top-level fields of an order document that the list filters, sorts and indexes on."""
    details = order.details
    searchable = [details.order_number, details.buyer.name, details.buyer.email or "",
                  details.shipping_address.postcode or ""]
    return {
        "status": order.status.value,
        "opened_at": _stamp(order.opened_at),
        "order_number": details.order_number,
        "channel": details.channel,
        "paid": details.paid,
        "parked": order.parked,
        "locked": order.locked,
        "country": details.shipping_address.country,
        "skus": sorted({line.sku for line in details.lines}),
        "search": " ".join(searchable).lower(),
        "tags": list(order.tags),
        "folder": order.folder,
        "shipping_service": details.shipping.service,
        "out_of_stock": any(
            (a := order.allocations.get(sku)) is not None and (a.short > 0 or not a.known_sku)
            for sku in order.quantities_by_sku()
        ),
        "shipped_on_channel": order.shipped_on_channel,
        "processed_at": _stamp(order.processed_at),
        "tracking_number": order.shipment.tracking_number if order.shipment else None,
        # Who changed the order and when it last changed: the audit of one person is a list query, not a scan.
        "actors": sorted({entry.by for entry in order.timeline}),
        "changed_at": _stamp(order.timeline[-1].at if order.timeline else order.opened_at),
    }


def _stamp(at: datetime | None) -> str | None:
    """A time as stored in list fields: UTC ISO 8601, so strings compare in time order."""
    return at.astimezone(UTC).isoformat() if at else None


def filter_query(f: OrderFilter) -> dict[str, Any]:
    """The MongoDB filter of an OrderFilter (only operators FerretDB v1 supports)."""
    query: dict[str, Any] = {
        field: value
        for field, value in (("status", f.status), ("channel", f.channel), ("paid", f.paid), ("parked", f.parked),
                             ("locked", f.locked), ("country", f.country), ("skus", f.sku), ("tags", f.tag),
                             ("folder", f.folder), ("shipping_service", f.shipping_service),
                             ("out_of_stock", f.out_of_stock), ("shipped_on_channel", f.shipped_on_channel),
                             ("tracking_number", f.tracking_number), ("actors", f.actor))
        if value is not None
    }
    if f.text:
        query["search"] = {"$regex": re.escape(f.text.lower())}
    for field, start, end in (("opened_at", f.opened_from, f.opened_to),
                              ("processed_at", f.processed_from, f.processed_to)):
        bounds = {op: _stamp(at) for op, at in (("$gte", start), ("$lt", end)) if at is not None}
        if bounds:
            query[field] = bounds
    return query


def after_query(sort: str, after: tuple[Any, str]) -> dict[str, Any]:
    """Documents that come after (sort value, _id) in the given sort order."""
    field, direction = SORTS[sort]
    beyond = "$gt" if direction == ASCENDING else "$lt"
    value, last_id = after
    return {"$or": [{field: {beyond: value}}, {field: value, "_id": {beyond: last_id}}]}


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
        await self.orders.create_index([("opened_at", DESCENDING), ("_id", DESCENDING)])
        await self.orders.create_index([("channel", ASCENDING), ("opened_at", DESCENDING)])
        await self.orders.create_index([("skus", ASCENDING)])
        await self.orders.create_index([("order_number", ASCENDING)])
        await self.orders.create_index([("status", ASCENDING), ("processed_at", DESCENDING)])
        await self.orders.create_index([("tracking_number", ASCENDING)])
        await self.orders.create_index([("tags", ASCENDING)])
        await self.orders.create_index([("folder", ASCENDING)])
        await self.orders.create_index([("actors", ASCENDING), ("changed_at", DESCENDING)])

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None:
        """The order document, or None."""
        return await self.orders.find_one({"_id": str(order_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.orders, doc)

    async def list(
        self, *, where: OrderFilter, sort: str = "newest", limit: int = 50, after: tuple[Any, str] | None = None
    ) -> list[dict[str, Any]]:
        """One page of orders matching `where`, in `sort` order, starting after (sort value, _id)."""
        field, direction = SORTS[sort]
        query = filter_query(where)
        if after is not None:
            query = {"$and": [query, after_query(sort, after)]} if query else after_query(sort, after)
        cursor = (
            self.orders.find(query, {"handled": 0})
            .sort([(field, direction), ("_id", direction)])
            .limit(limit)
        )
        return await cursor.to_list(length=limit)

    async def count(self, *, where: OrderFilter) -> int:
        """How many orders match `where`."""
        return await self.orders.count_documents(filter_query(where))

    async def counts(self, *, where: OrderFilter) -> dict[str, dict[str, int]]:
        """Per grid filter, how many orders matching `where` hold each value.

        Two passes over the matching orders (only $match/$unwind/$group, which FerretDB v1 supports): one groups by
        every single-valued field at once (few combinations), one unwinds the tags.
        """
        query = filter_query(where)
        result: dict[str, dict[str, int]] = {name: {} for name in COUNTED_FIELDS}
        single = {name: field for name, field in COUNTED_FIELDS.items() if field != "tags"}
        combos = await (await self.orders.aggregate([
            {"$match": query}, {"$group": {"_id": {name: f"${field}" for name, field in single.items()},
                                           "n": {"$sum": 1}}},
        ])).to_list(length=None)
        for row in combos:
            for name in single:
                value = row["_id"].get(name)
                if value is not None:
                    key = _count_key(value)
                    result[name][key] = result[name].get(key, 0) + row["n"]
        tags = await (await self.orders.aggregate([
            {"$match": query}, {"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}},
        ])).to_list(length=None)
        result["tag"] = {str(row["_id"]): row["n"] for row in tags if row["_id"] is not None}
        return result


def _count_key(value: Any) -> str:
    """A counted value as a JSON object key (booleans as true/false)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
