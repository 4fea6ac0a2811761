"""Printing's configuration and status documents in MongoDB, each with one writer:

- `printers` (`_id` = name) and `templates` (`_id` = template key): written only by the admin API, each write
  replacing one document whole (staff's edit is the whole configuration of that printer or template).
- `stations` (`_id` = name; the SHA-256 of the key, revoked or not): written only by the admin API.
- `station_status` (`_id` = name; last seen): written only by the station API when an agent polls.
- `printer_status` (`_id` = printer URI) and `deliveries` (`_id` = job id:attempt, inserted before sending,
  then given the attempt's outcome once the printer answered): written only by the worker's delivery loop.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from oms_platform.mongo import is_duplicate_key
from printing.domain.printers import PrinterConfig


def key_hash(key: str) -> str:
    """What is stored of a station key: its SHA-256, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()


class MongoPrinterStore:
    """The printer registry."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["printers"]

    async def printers(self) -> list[PrinterConfig]:
        """Every registered printer, by name."""
        docs = await self.collection.find({}).sort("_id", 1).to_list(length=None)
        return [PrinterConfig.model_validate({k: v for k, v in doc.items() if k != "_id"}) for doc in docs]

    async def put(self, printer: PrinterConfig) -> None:
        """Create or replace a printer."""
        await self.collection.replace_one({"_id": printer.name}, printer.model_dump(mode="json"), upsert=True)

    async def delete(self, name: str) -> bool:
        """Remove a printer; False when there was none."""
        return (await self.collection.delete_one({"_id": name})).deleted_count == 1


class MongoPrinterStatus:
    """Each network printer's last success and failure, as the delivery loop saw them, and the attempts it
    started sending."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["printer_status"]
        self.deliveries = db["deliveries"]

    async def begin(self, job_id: str, delivery: str, *, at: datetime) -> bool:
        """Note that sending a delivery (an attempt number, or `reprint-<id>`) starts; False when it had been
        started before."""
        try:
            await self.deliveries.insert_one({"_id": f"{job_id}:{delivery}", "started_at": at})
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True

    async def keep_outcome(self, job_id: str, delivery: str, outcome: dict[str, Any]) -> None:
        """Keep what the printer did with a delivery, before it is told to the consumer."""
        await self.deliveries.update_one({"_id": f"{job_id}:{delivery}"}, {"$set": {"outcome": outcome}})

    async def kept_outcome(self, job_id: str, delivery: str) -> dict[str, Any] | None:
        """The outcome kept for a delivery that was sent but perhaps never told (a process died), or None."""
        doc = await self.deliveries.find_one({"_id": f"{job_id}:{delivery}"})
        return None if doc is None else doc.get("outcome")

    async def record(self, printer: str, *, ok: bool, at: datetime, error: str | None) -> None:
        """Note a delivery that worked (`ok`) or failed with `error`."""
        fields: dict[str, Any] = {"last_seen_at": at, "online": ok}
        if ok:
            fields["last_success_at"] = at
        else:
            fields.update(last_failure_at=at, last_error=error)
        await self.collection.update_one({"_id": printer}, {"$set": fields}, upsert=True)

    async def all(self) -> dict[str, dict[str, Any]]:
        """The state of every printer the loop has tried, by URI."""
        docs = await self.collection.find({}).to_list(length=None)
        return {doc["_id"]: doc for doc in docs}


class MongoTemplateStore:
    """Staff's template overrides (`_id` = template key, e.g. `invoice@amazon@DE`)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["templates"]

    async def overrides(self) -> dict[str, str]:
        """Every override's source, by template key."""
        docs = await self.collection.find({}).to_list(length=None)
        return {doc["_id"]: doc["source"] for doc in docs}

    async def list(self) -> list[dict[str, Any]]:
        """Every override with its fields."""
        return await self.collection.find({}).sort("_id", 1).to_list(length=None)

    async def put(self, key: str, fields: dict[str, Any]) -> None:
        """Create or replace an override."""
        await self.collection.replace_one({"_id": key}, {"_id": key, **fields}, upsert=True)

    async def delete(self, key: str) -> bool:
        """Remove an override (the packaged template applies again); False when there was none."""
        return (await self.collection.delete_one({"_id": key})).deleted_count == 1


class MongoStationStore:
    """Print stations, their credentials and when each was last seen."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.stations = db["stations"]
        self.status = db["station_status"]

    async def create(self, name: str, key: str, *, at: datetime) -> None:
        """Register a station (or give it a new key, which revokes the old one)."""
        await self.stations.replace_one(
            {"_id": name}, {"_id": name, "key_sha256": key_hash(key), "revoked": False, "created_at": at}, upsert=True
        )

    async def revoke(self, name: str, *, at: datetime) -> bool:
        """Revoke a station's key; False when there is no such station."""
        doc = await self.stations.find_one_and_update(
            {"_id": name}, {"$set": {"revoked": True, "revoked_at": at}}, return_document=ReturnDocument.AFTER
        )
        return doc is not None

    async def get(self, name: str) -> dict[str, Any] | None:
        """A station's document, or None."""
        return await self.stations.find_one({"_id": name})

    async def list(self) -> list[dict[str, Any]]:
        """Every station with its status."""
        docs = await self.stations.find({}).sort("_id", 1).to_list(length=None)
        seen = {doc["_id"]: doc for doc in await self.status.find({}).to_list(length=None)}
        return [{**doc, **{k: v for k, v in seen.get(doc["_id"], {}).items() if k != "_id"}} for doc in docs]

    async def authenticate(self, name: str, key: str) -> str:
        """'ok', 'unknown' (no such station or wrong key) or 'revoked'."""
        doc = await self.get(name)
        if doc is None or not hmac.compare_digest(doc["key_sha256"], key_hash(key)):
            return "unknown"
        return "revoked" if doc.get("revoked") else "ok"

    async def seen(self, name: str, *, at: datetime) -> None:
        """The station's agent asked for work (its heartbeat)."""
        await self.status.update_one({"_id": name}, {"$set": {"last_seen_at": at}}, upsert=True)
