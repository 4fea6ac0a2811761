"""One aggregate per document, with its idempotency record kept in the same document (DESIGN.md).

The document's `handled` map holds, per command event id, the envelopes that command produced. A redelivered
command finds its entry and re-publishes those same envelopes (same event ids) instead of doing the work again,
so a crash between "stored" and "published" loses nothing. `version` guards against a second writer.

Only the latest KEEP_OUTCOMES commands keep their envelopes; older ones keep their id (a redelivery still changes
nothing) with an empty list, so a long-lived document does not grow with every command it ever handled.
"""

import asyncio
import os
import random
import signal
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from oms_contracts import Envelope, Message, decode, derived_id, encode
from oms_platform.mongo import is_duplicate_key

if TYPE_CHECKING:
    from oms_platform.messaging import Bus

Published = list[tuple[Envelope, str]]  # (envelope, Kafka key)


# Who needs a command's envelopes comes soon after it: its own redelivery (infrastructure errors are retried
# without limit, so a stored command is published before the next message of its partition is handled) and the
# API waiting to answer with its outcome (polling every 0.2 s at most) or replaying an Idempotency-Key. Fifty later
# commands on one document in between would take far longer than either.
KEEP_OUTCOMES = 50


class ConcurrentWrite(Exception):
    """Someone else wrote the document since we read it; the message will be retried."""


def recorded_outcome(doc: dict[str, Any] | None, command_id: uuid.UUID) -> Published | None:
    """What an already-handled command published, or None when it was never handled."""
    if doc is None:
        return None
    entry = doc.get("handled", {}).get(str(command_id))
    if entry is None:
        return None
    return [(decode(item["envelope"]), item["key"]) for item in entry]


def record_outcome(doc: dict[str, Any], command_id: uuid.UUID, published: Published) -> None:
    """Note in the document that `command_id` was handled and what it published (older commands beyond the
    latest KEEP_OUTCOMES keep only their id)."""
    handled = doc.setdefault("handled", {})
    handled[str(command_id)] = [{"envelope": encode(envelope).decode(), "key": key} for envelope, key in published]
    with_envelopes = [key for key, entry in handled.items() if entry]
    for old in with_envelopes[:-KEEP_OUTCOMES]:
        handled[old] = []


async def save_document(collection: AsyncCollection, doc: dict[str, Any]) -> None:
    """Insert a new document (version 1) or replace the one read at `doc['version']`, bumping the version."""
    expected = doc.get("version", 0)
    doc["version"] = expected + 1
    if expected == 0:
        try:
            await collection.insert_one(doc)
        except Exception as exc:
            if is_duplicate_key(exc):
                raise ConcurrentWrite(f"{doc['_id']} was created concurrently") from exc
            raise
        return
    result = await collection.replace_one({"_id": doc["_id"], "version": expected}, doc)
    if result.matched_count != 1:
        raise ConcurrentWrite(f"{doc['_id']} changed since version {expected}")


class DocumentStore(Protocol):
    """Where a context's aggregate documents live."""

    async def get(self, aggregate_id: Any) -> dict[str, Any] | None: ...

    async def save(self, doc: dict[str, Any]) -> None: ...


# What a decision returns: the aggregate's fields to store, and each message to publish with its Kafka key.
Decision = tuple[dict[str, Any], list[tuple[Message, str]]]


async def handle_once(
    envelope: Envelope,
    *,
    aggregate_id: Any,
    store: DocumentStore,
    bus: "Bus",
    decide: Callable[[dict[str, Any] | None], Awaitable[Decision]],
) -> None:
    """Apply a command to its aggregate document exactly once, then publish what it caused.

    A redelivered command re-publishes what it published the first time (same event ids) and changes nothing.
    Published event ids derive from the command's id, so a crash before the save derives the same ids again.
    """
    doc = await store.get(aggregate_id)
    already = recorded_outcome(doc, envelope.event_id)
    if already is not None:
        await bus.publish_all(already)
        return
    fields, outgoing = await decide(doc)
    published: Published = [
        (bus.envelope(payload, cause=envelope, event_id=derived_id(envelope.event_id, str(i))), key)
        for i, (payload, key) in enumerate(outgoing)
    ]
    new_doc = {
        **fields,
        "_id": str(aggregate_id),
        "version": doc["version"] if doc else 0,
        "handled": doc.get("handled", {}) if doc else {},
    }
    record_outcome(new_doc, envelope.event_id, published)
    await store.save(new_doc)
    drill_crash("store")
    await bus.publish_all(published)
    drill_crash("publish")


_drill_counts = {"store": 0, "publish": 0}


def drill_crash(point: str) -> None:
    """A fault drill hook (`make faults`), off unless its environment variable is set: kill -9 this process right
    after `point` of `handle_once`, "store" (stored, not yet published) or "publish" (published, offset not yet
    committed). OMS_CRASH_AFTER_STORE / OMS_CRASH_AFTER_PUBLISH = an integer n: at the n-th command this process
    handles; a fraction such as 0.05: at each command with that probability. Never set it in production.
    """
    value = os.environ.get(f"OMS_CRASH_AFTER_{point.upper()}", "").strip()
    if not value:
        return
    _drill_counts[point] += 1
    hit = random.random() < float(value) if "." in value else _drill_counts[point] == int(value)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)


# Back off while the worker is busy, then keep polling every 0.2 s.
POLL_SECONDS = (0.02, 0.05, 0.1, 0.2)


async def wait_for_outcome(
    load: Callable[[], Awaitable[dict[str, Any] | None]],
    event_id: uuid.UUID,
    *,
    timeout: float,
    until: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any] | None:
    """The document once it records `event_id` as handled (and `until` holds for it, when given; read-only
    polling), or the latest read at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    attempt = 0
    while True:
        doc = await load()
        if recorded_outcome(doc, event_id) is not None and (until is None or until(doc)):
            return doc
        remaining = deadline - loop.time()
        if remaining <= 0:
            return doc
        await asyncio.sleep(min(POLL_SECONDS[min(attempt, len(POLL_SECONDS) - 1)], remaining))
        attempt += 1
