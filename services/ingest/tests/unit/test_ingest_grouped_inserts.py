"""GroupedInserts: webhook intakes stored together in one insert_many, each caller with its own outcome."""

import asyncio

import pytest
from pymongo.errors import BulkWriteError, OperationFailure, ServerSelectionTimeoutError

from ingest.adapters.intake_store import GroupedInserts


class FakeCollection:
    """insert_many of an unordered write: stores what is new, reports duplicate `_id`s like MongoDB."""

    def __init__(self, *, fail_with: Exception | None = None, slow: float = 0.0) -> None:
        self.docs: dict[str, dict] = {}
        self.calls: list[list[str]] = []
        self.fail_with = fail_with
        self.slow = slow

    async def insert_many(self, docs: list[dict], *, ordered: bool) -> None:
        assert ordered is False
        self.calls.append([doc["_id"] for doc in docs])
        await asyncio.sleep(self.slow)
        if self.fail_with is not None:
            raise self.fail_with
        errors = []
        for index, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": index, "code": 11000, "errmsg": "E11000 duplicate key"})
            elif doc.get("bad"):
                errors.append({"index": index, "code": 2, "errmsg": "bad document"})
            else:
                self.docs[doc["_id"]] = doc
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nInserted": len(docs) - len(errors)})


class TestGroupedInserts:
    async def test_inserts_handed_in_while_one_is_written_go_together_in_the_next(self):
        collection = FakeCollection(slow=0.01)
        inserts = GroupedInserts(collection)
        outcomes = await asyncio.gather(*(inserts.insert({"_id": f"i{n}"}) for n in range(5)))
        assert outcomes == [True] * 5
        assert sorted(collection.docs) == [f"i{n}" for n in range(5)]
        assert len(collection.calls) <= 2  # the first alone at most, then the rest as one group

    async def test_a_duplicate_id_is_false_for_its_caller_only(self):
        collection = FakeCollection()
        inserts = GroupedInserts(collection)
        assert await inserts.insert({"_id": "a"}) is True
        outcomes = await asyncio.gather(inserts.insert({"_id": "a", "again": True}), inserts.insert({"_id": "b"}))
        assert outcomes == [False, True]
        assert "again" not in collection.docs["a"]

    async def test_another_write_error_is_raised_to_its_caller_only(self):
        inserts = GroupedInserts(FakeCollection())
        outcomes = await asyncio.gather(inserts.insert({"_id": "x", "bad": True}), inserts.insert({"_id": "y"}),
                                        return_exceptions=True)
        assert isinstance(outcomes[0], OperationFailure) and outcomes[1] is True

    async def test_the_database_away_fails_every_caller_of_the_group(self):
        inserts = GroupedInserts(FakeCollection(fail_with=ServerSelectionTimeoutError("no server")))
        outcomes = await asyncio.gather(*(inserts.insert({"_id": f"i{n}"}) for n in range(3)),
                                        return_exceptions=True)
        assert all(isinstance(outcome, ServerSelectionTimeoutError) for outcome in outcomes)

    async def test_a_group_is_never_larger_than_the_limit(self):
        collection = FakeCollection(slow=0.01)
        inserts = GroupedInserts(collection, limit=2)
        assert await asyncio.gather(*(inserts.insert({"_id": f"i{n}"}) for n in range(5))) == [True] * 5
        assert max(len(call) for call in collection.calls) == 2

    async def test_a_caller_that_went_away_does_not_stop_the_others(self):
        collection = FakeCollection(slow=0.02)
        inserts = GroupedInserts(collection)
        first = asyncio.create_task(inserts.insert({"_id": "gone"}))
        await asyncio.sleep(0)
        second = asyncio.create_task(inserts.insert({"_id": "kept"}))
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second is True
