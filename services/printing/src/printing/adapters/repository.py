"""Print job documents in MongoDB (collection `print_jobs`, `_id` = job id), written only by the command consumer."""

import uuid
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_contracts.printing.v1 import PrintDocument
from oms_platform.documents import save_document
from printing.domain.model import PrintJob


class PrintJobRepository(Protocol):
    """Where print job documents live."""

    async def get(self, job_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...

    async def list(self, *, order_id: uuid.UUID | None, limit: int) -> list[dict[str, Any]]: ...


class MongoPrintJobRepository:
    """Print job documents in MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.jobs = db["print_jobs"]

    async def create_indexes(self) -> None:
        """The index behind 'the jobs of this order'."""
        await self.jobs.create_index([("order_id", ASCENDING), ("created_at", DESCENDING)])

    async def get(self, job_id: uuid.UUID) -> dict[str, Any] | None:
        """The job document, or None."""
        return await self.jobs.find_one({"_id": str(job_id)})

    async def save(self, doc: dict[str, Any]) -> None:
        """Insert or replace at the version read."""
        await save_document(self.jobs, doc)

    async def list(self, *, order_id: uuid.UUID | None, limit: int) -> list[dict[str, Any]]:
        """Newest jobs first, optionally of one order."""
        query = {"order_id": str(order_id)} if order_id else {}
        cursor = self.jobs.find(query, {"handled": 0, "command": 0}).sort("created_at", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)


def job_document(
    job: PrintJob, *, previous: dict[str, Any] | None, command: PrintDocument | None = None
) -> dict[str, Any]:
    """The document that stores `job`, carrying over the version, idempotency record and command of `previous`.

    `command` is the print command the job renders from; it is kept so that a reprint renders the same document.
    """
    return {
        "_id": str(job.job_id),
        "version": previous["version"] if previous else 0,
        "handled": previous.get("handled", {}) if previous else {},
        "settled_by": previous.get("settled_by") if previous else None,
        "order_id": str(job.order_id),
        "state": job.state.value,
        "created_at": job.created_at.isoformat(),
        "job": job.model_dump(mode="json"),
        "command": command.model_dump(mode="json") if command else (previous or {}).get("command"),
    }


def stored_command(doc: dict[str, Any]) -> PrintDocument | None:
    """The print command a job document renders from, or None for a job stored before commands were kept."""
    data = doc.get("command")
    return PrintDocument.model_validate(data) if data else None


def job_from_document(doc: dict[str, Any]) -> PrintJob:
    """The job a document stores."""
    return PrintJob.model_validate(doc["job"])
