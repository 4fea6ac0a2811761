"""Payment documents in MongoDB (collection `payments`, `_id` = payment id), and the read-only order lookups
payment matching uses (collection `orders`)."""

import re
import uuid
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_platform.documents import save_document


class PaymentRepository(Protocol):
    """Where payment documents live (one writer: the orders command consumer, keyed by payment id)."""

    async def get(self, payment_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...


class WaitingPayments(Protocol):
    """Unmatched payment documents, read by the forwarder when an order arrives."""

    async def unmatched_naming(self, references: list[str]) -> list[dict[str, Any]]: ...


class OrderLookup(Protocol):
    """Read-only searches of the order book for payment matching; each returns order documents."""

    async def by_reference(self, references: list[str]) -> list[dict[str, Any]]: ...

    async def by_transaction(self, provider: str, transaction_id: str) -> list[dict[str, Any]]: ...

    async def by_email(self, email: str) -> list[dict[str, Any]]: ...

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None: ...


class MongoPaymentRepository:
    """Payment documents in MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.payments = db["payments"]

    async def create_indexes(self) -> None:
        """Indexes for the lists staff use."""
        await self.payments.create_index([("state", ASCENDING), ("filed_at", DESCENDING)])
        await self.payments.create_index([("filed_at", DESCENDING)])
        await self.payments.create_index([("references", ASCENDING), ("state", ASCENDING)])

    async def get(self, payment_id: uuid.UUID) -> dict[str, Any] | None:
        return await self.payments.find_one({"_id": str(payment_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        await save_document(self.payments, doc)

    async def unmatched_naming(self, references: list[str]) -> list[dict[str, Any]]:
        """Unmatched payments whose invoice or custom field names one of `references` (read-only)."""
        refs = [r for r in references if r]
        query = {"state": "unmatched", "references": {"$in": refs}}
        return await self.payments.find(query, {"handled": 0}).to_list(length=50)

    async def list(self, *, states: list[str] | None, limit: int) -> list[dict[str, Any]]:
        """Newest first, optionally of some states."""
        query = {"state": {"$in": states}} if states else {}
        cursor = self.payments.find(query, {"handled": 0}).sort("filed_at", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)


class MongoOrderLookup:
    """Order documents searched by what a payment carries (read-only)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.orders = db["orders"]

    async def create_indexes(self) -> None:
        """Indexes for matching: channel order ids and recorded transactions (order numbers have theirs)."""
        await self.orders.create_index([("order.details.channel_order_id", ASCENDING)])
        await self.orders.create_index([("order.payments.records.payment.transaction_id", ASCENDING)])

    async def by_reference(self, references: list[str]) -> list[dict[str, Any]]:
        """Orders whose number or channel order id is one of `references`."""
        if not references:
            return []
        query = {"$or": [{"order_number": {"$in": references}},
                         {"order.details.channel_order_id": {"$in": references}}]}
        return await self.orders.find(query, {"handled": 0}).to_list(length=50)

    async def by_transaction(self, provider: str, transaction_id: str) -> list[dict[str, Any]]:
        """Orders that recorded this transaction already (e.g. staff entered it)."""
        query = {"order.payments.records.payment.transaction_id": transaction_id,
                 "order.payments.records.payment.provider": provider}
        return await self.orders.find(query, {"handled": 0}).to_list(length=50)

    async def by_email(self, email: str) -> list[dict[str, Any]]:
        """Open orders of a buyer email (any case)."""
        query = {"status": "open", "order.details.buyer.email": {"$regex": f"^{re.escape(email)}$", "$options": "i"}}
        return await self.orders.find(query, {"handled": 0}).to_list(length=200)

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None:
        return await self.orders.find_one({"_id": str(order_id)}, {"handled": 0})
