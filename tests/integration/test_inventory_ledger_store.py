"""Inventory's ledger store on the real database: positions and order holdings found by `_id` (FerretDB v1 reads a
whole collection for any other filter), a position taken once, a holding added to once per entry, and the one-time
backfill for ledgers written before positions existed."""

import uuid
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from inventory.adapters.repository import MongoStockRepository
from inventory.domain.model import LedgerEntry, Levels
from oms_platform.documents import ConcurrentWrite

pytestmark = pytest.mark.integration


@pytest.fixture
async def repo(endpoints):
    client = AsyncMongoClient(endpoints[1], tz_aware=True, uuidRepresentation="standard")
    db = client[f"it_ledger_{uuid.uuid4().hex[:8]}"]
    repo = MongoStockRepository(db)
    await repo.create_indexes()
    yield repo
    await client.drop_database(db.name)
    await client.close()


def entry(sku: str, seq: int, allocated_delta: int, order_id: uuid.UUID, *, location: str = "main") -> LedgerEntry:
    return LedgerEntry(entry_id=uuid.uuid4(), sku=sku, seq=seq, command_type="inventory.allocate_stock",
                       location=location, on_hand_delta=0, allocated_delta=allocated_delta, reason="test",
                       order_id=order_id, at=datetime.now(UTC), levels=Levels(), totals=Levels(),
                       applies_to_stock=True)


class TestLedgerPositions:
    async def test_the_latest_entry_is_found_from_the_stocks_seq_and_a_position_is_taken_once(self, repo):
        order_id = uuid.uuid4()
        first, second = entry("MUG:BLUE", 1, 2, order_id), entry("MUG:BLUE", 2, 1, order_id)
        await repo.add_entry(first)
        await repo.add_entry(second)
        with pytest.raises(ConcurrentWrite):
            await repo.add_entry(entry("MUG:BLUE", 2, 5, order_id))
        head = await repo.ledger_head("MUG:BLUE", after_seq=0)
        assert (head.seq, head.latest.entry_id) == (2, second.entry_id)
        assert await repo.ledger_head("MUG:BLUE", after_seq=2) == (2, None)

    async def test_a_claimed_position_without_its_entry_is_skipped(self, repo):
        kept = entry("TEE", 1, 1, uuid.uuid4())
        await repo.add_entry(kept)
        await repo.positions.insert_one({"_id": "TEE:2", "entry_id": str(uuid.uuid4())})  # its writer died here
        head = await repo.ledger_head("TEE", after_seq=0)
        assert (head.seq, head.latest.entry_id) == (2, kept.entry_id)


class TestOrderHoldings:
    async def test_each_entry_is_added_once_however_often_it_is_finished(self, repo):
        order_id = uuid.uuid4()
        allocate, ship = entry("MUG", 1, 3, order_id), entry("MUG", 2, -1, order_id)
        for finished in (allocate, allocate, ship, ship, allocate):
            await repo.save_order_allocation(finished)
        assert await repo.order_allocation("MUG", order_id) == {"main": 2}
        assert await repo.order_allocation("MUG", uuid.uuid4()) == {}

    async def test_ledgers_from_before_positions_are_backfilled_once(self, repo):
        order_id = uuid.uuid4()
        old = [entry("CAP", 1, 2, order_id), entry("CAP", 2, 1, order_id, location="shop")]
        for written in old:
            await repo.add_entry(written)
        for name in ("ledger_positions", "order_allocations", "migrations"):
            await repo.positions.database[name].delete_many({})
        await repo.create_indexes()
        await repo.create_indexes()
        assert (await repo.ledger_head("CAP", after_seq=0)).latest.entry_id == old[1].entry_id
        assert await repo.order_allocation("CAP", order_id) == {"main": 2, "shop": 1}
