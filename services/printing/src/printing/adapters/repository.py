"""Print job documents in MongoDB (collection `print_jobs`, `_id` = job id), written only by the command consumer."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_contracts.printing.v1 import PrintDocument, PrintPickList
from oms_platform.documents import save_document
from printing.domain.model import JobState, PrintJob


class PrintJobRepository(Protocol):
    """Where print job documents live."""

    async def get(self, job_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...

    async def awaiting(
        self, *, printer: str | None = None, station: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]: ...

    async def printers_with_work(self) -> list[str]: ...

    async def list(
        self,
        *,
        order_id: uuid.UUID | None,
        limit: int,
        state: str | None = None,
        printer: str | None = None,
        station: str | None = None,
    ) -> list[dict[str, Any]]: ...


# Left out of listings: the idempotency record, the command and the rendered document are large.
_LIST_PROJECTION = {"handled": 0, "command": 0, "document": 0}


class MongoPrintJobRepository:
    """Print job documents in MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.jobs = db["print_jobs"]

    async def create_indexes(self) -> None:
        """The indexes behind 'the jobs of this order' and 'the rendered jobs of this printer or station'."""
        await self.jobs.create_index([("order_id", ASCENDING), ("created_at", DESCENDING)])
        await self.jobs.create_index([("state", ASCENDING), ("printer", ASCENDING), ("created_at", ASCENDING)])
        await self.jobs.create_index([("state", ASCENDING), ("station", ASCENDING), ("created_at", ASCENDING)])
        await self.jobs.create_index([("station", ASCENDING), ("reprints_waiting", ASCENDING)])

    async def get(self, job_id: uuid.UUID) -> dict[str, Any] | None:
        """The job document, or None."""
        return await self.jobs.find_one({"_id": str(job_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.jobs, doc)

    async def list(
        self,
        *,
        order_id: uuid.UUID | None,
        limit: int,
        state: str | None = None,
        printer: str | None = None,
        station: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest jobs first, optionally of one order (or batch), in one state, for one printer or station."""
        wanted = {"order_id": str(order_id) if order_id else None, "state": state, "printer": printer,
                  "station": station}
        query = {field: value for field, value in wanted.items() if value is not None}
        cursor = self.jobs.find(query, _LIST_PROJECTION).sort("created_at", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)

    async def awaiting(
        self, *, printer: str | None = None, station: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Rendered jobs waiting for a network printer (`printer`) or a station (`station`), and its printed jobs
        with reprints waiting, oldest first (two plain queries: no `$or` needed)."""
        where = {"station": station} if station is not None else {"printer": printer, "station": None}
        queries = [{"state": "rendered", **where}, {"reprints_waiting": {"$gt": 0}, **where}]
        found: dict[str, dict[str, Any]] = {}
        for wanted in queries:
            cursor = self.jobs.find(wanted, {"handled": 0, "command": 0}).sort("created_at", ASCENDING).limit(limit)
            found.update((doc["_id"], doc) for doc in await cursor.to_list(length=limit))
        return sorted(found.values(), key=lambda doc: doc["created_at"])[:limit]

    async def printers_with_work(self) -> list[str]:
        """The network printers that have rendered jobs or reprints waiting."""
        rendered = await self.jobs.distinct("printer", {"state": "rendered", "station": None})
        reprints = await self.jobs.distinct("printer", {"reprints_waiting": {"$gt": 0}, "station": None})
        return sorted({*rendered, *reprints})

    async def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (one count per state: the states are few and each count uses the
        state index)."""
        return {state.value: await self.jobs.count_documents({"state": state.value}) for state in JobState}


def job_document(
    job: PrintJob,
    *,
    previous: dict[str, Any] | None,
    command: PrintDocument | PrintPickList | None = None,
    document: bytes | None = None,
) -> dict[str, Any]:
    """The document that stores `job`, carrying over the version, idempotency record, command and rendered
    document of `previous`. `command` is kept for the record; `document` is what the printer (or station) gets,
    and what a reprint sends again."""
    previous_document = (previous or {}).get("document")
    return {
        "_id": str(job.job_id),
        "version": previous["version"] if previous else 0,
        "handled": previous.get("handled", {}) if previous else {},
        "settled_by": previous.get("settled_by") if previous else None,
        "correlation_id": previous.get("correlation_id") if previous else None,
        "order_id": str(job.order_id),
        "state": job.state.value,
        "printer": job.printer,
        "station": job.station,
        "attempt": job.attempts,
        "reprints_waiting": len(job.waiting_reprints),  # a station's queue holds these jobs too
        "created_at": job.created_at.isoformat(),
        "job": job.model_dump(mode="json"),
        "command": command.model_dump(mode="json") if command else (previous or {}).get("command"),
        "document": document if document is not None else (bytes(previous_document) if previous_document else None),
    }


def stored_document(doc: dict[str, Any]) -> bytes | None:
    """The rendered document a job keeps, or None."""
    data = doc.get("document")
    return bytes(data) if data else None


def job_from_document(doc: dict[str, Any]) -> PrintJob:
    """The job a document stores."""
    return PrintJob.model_validate(doc["job"])
