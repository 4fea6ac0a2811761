"""Fakes and sample data for the inventory tests (exposed as fixtures: test modules never import this file)."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from oms_contracts import new_envelope, topics
from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_contracts.orders.v1 import OrderSnapshot
from oms_platform.documents import ConcurrentWrite
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock
from inventory.adapters.items import OPEN_STATUSES, outstanding
from inventory.adapters.repository import (
    allocation_id,
    find_head,
    holdings,
    ledger_document,
    position_id,
    stock_document,
)
from inventory.domain.model import LedgerEntry, Stock
from inventory.service_layer.handlers import handle_command


class FakeItems(InMemoryDocuments):
    """Stock item documents in a dict, listed in SKU order like the Mongo store."""

    async def list(self, *, after: str | None, limit: int) -> list[dict]:
        return [self.docs[sku] for sku in sorted(self.docs) if after is None or sku > after][:limit]


class FakePurchaseOrders(InMemoryDocuments):
    """Purchase order documents in a dict, with the Mongo store's `due` query."""

    async def due(self, sku: str) -> int:
        return sum(outstanding(doc, sku) for doc in self.docs.values()
                   if sku in doc.get("skus", []) and doc["status"] in OPEN_STATUSES)

    async def list(self, *, status: str | None, after: str | None, limit: int) -> list[dict]:
        return [self.docs[k] for k in sorted(self.docs)
                if (status is None or self.docs[k]["status"] == status) and (after is None or k > after)][:limit]


class FakeRepository:
    """Stock and ledger in dicts, stored in their MongoDB form, with the same unique and seq rules.

    Set `crash_before_stock_save` to make the next stock write fail as if the process died right after the
    ledger insert, or `crash_after_claim` to fail the next entry's insert after its position was claimed.
    """

    def __init__(self) -> None:
        self.stock: dict[str, dict] = {}
        self.ledger: dict[str, dict] = {}
        self.positions: dict[str, str] = {}
        self.allocations: dict[str, dict] = {}
        self.crash_before_stock_save = False
        self.crash_after_claim = False
        self.items = FakeItems()
        self.purchase_orders = FakePurchaseOrders()

    async def get_stock(self, sku: str) -> Stock | None:
        doc = self.stock.get(sku)
        return None if doc is None else Stock.model_validate(doc)

    async def save_stock(self, stock: Stock, *, previous_seq: int | None) -> None:
        if self.crash_before_stock_save:
            self.crash_before_stock_save = False
            raise ConnectionError("crashed between the ledger insert and the stock update")
        current = self.stock.get(stock.sku)
        if (current["seq"] if current else None) != previous_seq:
            raise ConcurrentWrite(f"stock {stock.sku} changed since seq {previous_seq}")
        self.stock[stock.sku] = stock_document(stock)

    async def get_entry(self, entry_id: uuid.UUID) -> LedgerEntry | None:
        doc = self.ledger.get(str(entry_id))
        return None if doc is None else _entry(doc)

    async def ledger_head(self, sku: str, *, after_seq: int):
        async def positions(ids: list[str]) -> dict[str, str]:
            return {i: self.positions[i] for i in ids if i in self.positions}

        return await find_head(sku, after_seq=after_seq, positions=positions, get_entry=self.get_entry)

    async def add_entry(self, entry: LedgerEntry) -> None:
        doc = ledger_document(entry)
        position = position_id(entry.sku, entry.seq)
        if position in self.positions:
            raise ConcurrentWrite(f"ledger of {entry.sku}: seq {entry.seq} taken")
        self.positions[position] = str(entry.entry_id)
        if self.crash_after_claim:
            self.crash_after_claim = False
            raise ConnectionError("crashed between the position claim and the ledger insert")
        if doc["_id"] in self.ledger or any(d["seq"] == entry.seq for d in self._of(entry.sku)):
            raise ConcurrentWrite(f"ledger of {entry.sku}: command or seq {entry.seq} taken")
        self.ledger[doc["_id"]] = doc

    async def entries(self, sku: str, *, after_seq: int, limit: int) -> list[LedgerEntry]:
        return [_entry(d) for d in self._of(sku) if d["seq"] > after_seq][:limit]

    async def order_allocation(self, sku: str, order_id: uuid.UUID) -> dict[str, int]:
        doc = self.allocations.get(allocation_id(sku, order_id))
        return {} if doc is None else dict(doc["held"])

    async def save_order_allocation(self, entry: LedgerEntry) -> None:
        if entry.order_id is None or not entry.applies_to_stock:
            return
        doc = self.allocations.setdefault(allocation_id(entry.sku, entry.order_id), {"held": {}, "seq": 0})
        if doc["seq"] < entry.seq:
            doc["held"][entry.location] = doc["held"].get(entry.location, 0) + entry.allocated_delta
            doc["seq"] = entry.seq

    def held_by_ledger(self, sku: str, order_id: uuid.UUID) -> dict[str, int]:
        """What an order holds of a SKU, summed from its ledger entries (for assertions)."""
        held: dict[str, int] = {}
        for doc in self._of(sku):
            if doc.get("order_id") == str(order_id) and doc.get("applies_to_stock"):
                held[doc["location"]] = held.get(doc["location"], 0) + doc["allocated_delta"]
        return held

    async def order_holdings(self, sku: str) -> list:
        return holdings(self._of(sku))

    async def stocks(self, skus: list[str]) -> dict[str, Stock]:
        return {sku: Stock.model_validate(self.stock[sku]) for sku in skus if sku in self.stock}

    async def stock_at(self, location: str, *, after: str | None, limit: int) -> list[Stock]:
        return [Stock.model_validate(self.stock[sku]) for sku in sorted(self.stock)
                if location in self.stock[sku]["locations"] and (after is None or sku > after)][:limit]

    async def oversold(self, *, after: str | None, limit: int) -> list[Stock]:
        return [Stock.model_validate(self.stock[sku]) for sku in sorted(self.stock)
                if self.stock[sku]["available"] < 0 and (after is None or sku > after)][:limit]

    def entries_of(self, sku: str) -> list[dict]:
        """The SKU's stored ledger documents in seq order (for assertions)."""
        return self._of(sku)

    def _of(self, sku: str) -> list[dict]:
        return sorted((d for d in self.ledger.values() if d["sku"] == sku), key=lambda d: d["seq"])


def _entry(doc: dict) -> LedgerEntry:
    return LedgerEntry.model_validate({**doc, "entry_id": doc["_id"]})


def make_order(*lines: tuple[str, int], order_id: uuid.UUID | None = None) -> OrderSnapshot:
    """An order snapshot with one line per (sku, quantity)."""
    details = OrderDetails(
        channel="phone",
        channel_order_id=uuid.uuid4().hex,
        order_number="PH-2001",
        buyer=Buyer(name="Katherine Johnson"),
        shipping_address=Address(name="Katherine Johnson", line1="1 Langley Way", city="Hampton",
                                 postcode="23681", country="US"),
        lines=[
            OrderLine(line_id=str(i), sku=sku, title=f"Item {sku}", quantity=qty, unit_price=Decimal("5.00"))
            for i, (sku, qty) in enumerate(lines or (("MUG-BLUE", 2),), start=1)
        ],
        shipping=Shipping(service="Standard"),
        currency="USD",
        paid=True,
    )
    return OrderSnapshot(order_id=order_id or uuid.uuid4(), details=details, opened_at=datetime.now(UTC))


@pytest.fixture(name="make_order")
def make_order_fixture():
    """Build an OrderSnapshot: make_order(("MUG", 2), ("TEE", 1), order_id=...)."""
    return make_order


@pytest.fixture
def command():
    """Wrap a payload in an envelope, as a producer would."""
    return lambda payload: new_envelope(payload, producer="test")


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus("inventory")


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


class WorkerBus(RecordingBus):
    """Records like RecordingBus and, as the worker would, applies each inventory command as it is sent.

    Set `running = False` to play a worker that is too slow to answer.
    """

    def __init__(self, repo, clock) -> None:
        super().__init__("inventory")
        self.repo, self.clock, self.running = repo, clock, True

    async def publish(self, envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        if self.running and envelope.payload.TOPIC == topics.INVENTORY_COMMANDS:
            await handle_command(envelope, repo=self.repo, bus=self, clock=self.clock)


@pytest.fixture
def worker_bus(repo, clock) -> WorkerBus:
    return WorkerBus(repo, clock)
