"""The latest scheduled reconciliation report of each channel (collection `channel_reconciliations`, `_id` = channel
id), written only by the worker's reconciler loop (one writer), read by the channels API."""

from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase

from ingest.domain.reconciliation import Reconciliation


class ReconciliationStore(Protocol):
    """Where the latest reconciliation report of each channel lives."""

    async def latest(self, channel_id: str) -> Reconciliation | None: ...

    async def save(self, report: Reconciliation) -> None: ...


class MongoReconciliationStore:
    """Reconciliation reports in MongoDB, one document per channel (replaced by the next report)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.reports = db["channel_reconciliations"]

    async def latest(self, channel_id: str) -> Reconciliation | None:
        """The channel's latest report, or None before its first."""
        doc = await self.reports.find_one({"_id": channel_id})
        return None if doc is None else Reconciliation.model_validate(doc["report"])

    async def save(self, report: Reconciliation) -> None:
        """Keep `report` as the channel's latest (stored as JSON-ready fields: uuids and enums as text)."""
        await self.reports.replace_one({"_id": report.channel_id}, {"report": report.model_dump(mode="json")},
                                       upsert=True)
