"""The intake log in MongoDB (collection `intake`, `_id` = intake id).

Unlike aggregate documents, an intake document is written by the HTTP request that received the payload: it
must be stored before the API answers 2xx, so it cannot wait for Kafka (which may be what is down). That is
safe under "one writer per document" (DESIGN.md) because:

- the document is created by an insert with a fresh uuid4 `_id`, or for a webhook an `_id` derived from the
  channel's delivery id (atomic on MongoDB and FerretDB alike; a second insert of the same delivery fails with
  a duplicate key, which is how redeliveries are absorbed), and its payload fields (headers, body,
  received_at) are never written again;
- afterwards only `status` moves, and only forward from `received`, through a guarded
  `update_one({_id, status: "received"}, ...)`. Two writers can touch it: the request that created it, and the
  re-publisher, which only looks at intakes still `received` after INGEST_REPUBLISH_AFTER_SECONDS, long after
  that request has finished. Should both (or two re-publishers) still race, FerretDB v1 may let both pass the
  guard, but both write the same outcome, because normalising an intake is deterministic and the event id
  is derived from the intake id; downstream consumers drop the duplicate message by that id.
"""

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from ingest.domain.model import Intake, IntakeStatus, IntakeSummary
from oms_platform.mongo import DUPLICATE_KEY


class IntakeStore(Protocol):
    """Where intake records live."""

    async def add(self, intake: Intake) -> None: ...

    async def add_once(self, intake: Intake) -> bool: ...

    async def get(self, intake_id: uuid.UUID) -> Intake | None: ...

    async def recent(self, *, status: IntakeStatus | None, channel: str | None, limit: int) -> list[IntakeSummary]: ...

    async def stale(self, *, received_before: datetime, limit: int) -> list[Intake]: ...

    async def mark_published(self, intake_id: uuid.UUID, *, event_id: uuid.UUID | None, at: datetime) -> bool: ...

    async def mark_failed(self, intake_id: uuid.UUID, *, error: str) -> bool: ...

    async def mark_skipped(self, intake_id: uuid.UUID, *, reason: str) -> bool: ...

    async def mark_for_retry(self, intake_id: uuid.UUID, *, by: str, at: datetime) -> bool: ...

    async def of_orders(self, *, channel: str, channel_order_ids: list[str]) -> list[IntakeSummary]: ...

    async def polled_between(self, *, channel: str, account: str, since: datetime,
                             until: datetime) -> list[IntakeSummary]: ...


class MongoIntakeStore:
    """Intake records in MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.intake = db["intake"]
        self._new = GroupedInserts(self.intake)
        self._marks = asyncio.Semaphore(MARKS_AT_ONCE)

    async def create_indexes(self) -> None:
        """Indexes for the re-publisher's query and the lists staff use."""
        await self.intake.create_index([("status", ASCENDING), ("received_at", ASCENDING)])
        await self.intake.create_index([("received_at", DESCENDING)])
        await self.intake.create_index([("channel", ASCENDING), ("channel_order_id", ASCENDING)])

    async def add(self, intake: Intake) -> None:
        """Insert a new intake record."""
        await self.intake.insert_one(to_document(intake))

    async def add_once(self, intake: Intake) -> bool:
        """Insert a new intake record; False (and nothing written) when one with its `_id` exists already.

        Webhook intakes get an `_id` derived from the channel's delivery id, so this unique insert is what
        absorbs a redelivered webhook (atomic on MongoDB and FerretDB alike).
        """
        return await self._new.insert(to_document(intake))

    async def get(self, intake_id: uuid.UUID) -> Intake | None:
        """One intake record with its headers and body, or None."""
        doc = await self.intake.find_one({"_id": str(intake_id)})
        return None if doc is None else Intake.model_validate(from_document(doc))

    async def recent(self, *, status: IntakeStatus | None, channel: str | None, limit: int) -> list[IntakeSummary]:
        """Newest first, without headers and bodies, optionally of one status and channel."""
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = status.value
        if channel is not None:
            query["channel"] = channel
        without_payload = {"headers": 0, "body": 0, "mapping": 0}
        cursor = self.intake.find(query, without_payload).sort("received_at", DESCENDING).limit(limit)
        return [IntakeSummary.model_validate(from_document(doc)) for doc in await cursor.to_list(length=limit)]

    async def stale(self, *, received_before: datetime, limit: int) -> list[Intake]:
        """Intakes still `received` (stored, not published) that arrived before `received_before`, oldest first."""
        # A payload staff asked to read again is due at once; others wait out the request that stored them.
        query = {"status": IntakeStatus.RECEIVED.value,
                 "$or": [{"received_at": {"$lt": received_before}}, {"retry_requested": True}]}
        cursor = self.intake.find(query).sort("received_at", ASCENDING).limit(limit)
        return [Intake.model_validate(from_document(doc)) for doc in await cursor.to_list(length=limit)]

    async def mark_published(self, intake_id: uuid.UUID, *, event_id: uuid.UUID | None, at: datetime) -> bool:
        """Move a `received` intake to `published`; False when it had already moved on.

        `event_id` is the message sent (a CSV file: its first order's; None when it held no order to send).
        """
        async with self._marks:
            result = await self.intake.update_one(
                {"_id": str(intake_id), "status": IntakeStatus.RECEIVED.value},
                {"$set": {"status": IntakeStatus.PUBLISHED.value, "event_id": str(event_id) if event_id else None,
                          "published_at": at}},
            )
        return result.matched_count == 1

    async def mark_failed(self, intake_id: uuid.UUID, *, error: str) -> bool:
        """Move a `received` intake to `failed` with the reason; False when it had already moved on."""
        result = await self.intake.update_one(
            {"_id": str(intake_id), "status": IntakeStatus.RECEIVED.value},
            {"$set": {"status": IntakeStatus.FAILED.value, "error": error}},
        )
        return result.matched_count == 1


    async def mark_for_retry(self, intake_id: uuid.UUID, *, by: str, at: datetime) -> bool:
        """Move a `failed` intake back to `received`, keeping the error it had in `retries`; the re-publisher
        then reads it again. False when it is not failed (a second request, or never failed)."""
        doc = await self.intake.find_one({"_id": str(intake_id), "status": IntakeStatus.FAILED.value})
        if doc is None:
            return False
        retry = {"at": at, "by": by, "error": doc.get("error")}
        result = await self.intake.update_one(
            {"_id": str(intake_id), "status": IntakeStatus.FAILED.value},
            {"$set": {"status": IntakeStatus.RECEIVED.value, "error": None, "retry_requested": True},
             "$push": {"retries": retry}},
        )
        return result.matched_count == 1

    async def mark_skipped(self, intake_id: uuid.UUID, *, reason: str) -> bool:
        """Move a `received` intake to `skipped` with the reason; False when it had already moved on."""
        result = await self.intake.update_one(
            {"_id": str(intake_id), "status": IntakeStatus.RECEIVED.value},
            {"$set": {"status": IntakeStatus.SKIPPED.value, "skip_reason": reason}},
        )
        return result.matched_count == 1


    async def of_orders(self, *, channel: str, channel_order_ids: list[str]) -> list[IntakeSummary]:
        """Every intake (any status, any account) of these channel order ids, without payloads."""
        if not channel_order_ids:
            return []
        query = {"channel": channel, "channel_order_id": {"$in": list(channel_order_ids)}}
        docs = await self.intake.find(query, _WITHOUT_PAYLOAD).to_list(length=None)
        return [IntakeSummary.model_validate(from_document(doc)) for doc in docs]

    async def polled_between(self, *, channel: str, account: str, since: datetime,
                             until: datetime) -> list[IntakeSummary]:
        """Polled order versions of one channel account whose channel updated time is in [since, until]."""
        query = {"channel": channel, "account": account, "kind": "polled_order",
                 "channel_updated_at": {"$gte": since, "$lte": until}}
        docs = await self.intake.find(query, _WITHOUT_PAYLOAD).to_list(length=None)
        return [IntakeSummary.model_validate(from_document(doc)) for doc in docs]


_WITHOUT_PAYLOAD = {"headers": 0, "body": 0, "mapping": 0}

# Marks written at once by one process: they are not awaited by anyone (a webhook's comes after its answer), and on
# FerretDB every write to the intake log's database queues for one SQLite lock, ahead of the inserts answers wait on.
MARKS_AT_ONCE = 1
INSERTS_PER_GROUP = 100


class GroupedInserts:
    """Unique inserts, grouped: those handed in while one group is being written go together in the next
    `insert_many` (unordered: one round trip, and one transaction on FerretDB's SQLite instead of one per document,
    each waiting for the database's single write lock). Each caller still learns its own outcome: True when stored,
    False when its `_id` was there already, or the error."""

    def __init__(self, collection: Any, *, limit: int = INSERTS_PER_GROUP) -> None:
        self.collection = collection
        self.limit = limit
        self.pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self.writer: asyncio.Task | None = None

    async def insert(self, doc: dict[str, Any]) -> bool:
        """Insert `doc` with the next group; True once stored, False when a document with its `_id` exists."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.pending.append((doc, done))
        if self.writer is None or self.writer.done() or self.writer.get_loop() is not loop:
            self.writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        while self.pending:
            group, self.pending = self.pending[: self.limit], self.pending[self.limit:]
            outcomes: dict[int, bool | BaseException] = {}
            try:
                await self.collection.insert_many([doc for doc, _ in group], ordered=False)
            except BulkWriteError as exc:
                for error in exc.details.get("writeErrors", []):
                    outcomes[error["index"]] = (False if error.get("code") == DUPLICATE_KEY
                                                else OperationFailure(error.get("errmsg", "insert failed"),
                                                                      error.get("code"), error))
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the group, who answers with it
                outcomes = dict.fromkeys(range(len(group)), exc)
            for n, (_, done) in enumerate(group):
                outcome = outcomes.get(n, True)
                if done.done():  # its caller went away (a client that hung up); the document is stored or not
                    continue
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)


def to_document(intake: Intake) -> dict[str, Any]:
    """The MongoDB document of an intake.

    Headers are stored as a list of {name, value} documents, not one sub-document keyed by name: header names
    may contain "." and "$", which field names must not, and a header may repeat. (Not [name, value] pairs:
    FerretDB v1 refuses nested arrays.)
    """
    doc = intake.model_dump(mode="python", exclude={"intake_id"})
    doc["_id"] = str(intake.intake_id)
    doc["kind"] = intake.kind.value
    doc["status"] = intake.status.value
    doc["event_id"] = str(intake.event_id) if intake.event_id else None
    doc["headers"] = [{"name": name, "value": value} for name, value in intake.headers]
    # A column mapping is kept as JSON text: its keys are column names, which may hold "." or "$".
    doc["mapping"] = None if intake.mapping is None else json.dumps(intake.mapping)
    return doc


def from_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The fields of an intake model from its MongoDB document."""
    fields = {**doc, "intake_id": doc["_id"]}
    if "headers" in doc:
        fields["headers"] = [(header["name"], header["value"]) for header in doc["headers"]]
    if isinstance(doc.get("mapping"), str):
        fields["mapping"] = json.loads(doc["mapping"])
    return fields
