"""The dead-letter desk every service runs: its consumers' dead letters, kept for staff to retry or discard.

A consumer that can never handle a message writes it with its reason to `<topic>.dlq` (`messaging`). Each
service's worker reads every `.dlq` topic and files, in its own database, the letters of its own consumer groups
(`<service>` and `<service>.*`): insert-only, keyed by the letter's place in the DLQ, so a redelivery files nothing new. Staff act
through the API (`/dead-letters`), which sends a command on `oms.platform.deadletters` keyed by the letter id; the
worker is the only one to change a filed letter. Retry sends the original bytes to the original topic with the
original key: every consumer is idempotent, so consumers that had handled it drop it, and the one that failed
tries again (and files a new letter if it fails again).
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from oms_contracts import DeadLetter, Envelope, derived_id
from oms_contracts.deadletters.v1 import DiscardDeadLetter, RetryDeadLetter
from oms_contracts.topics import DEAD_LETTER_COMMANDS, MAIN_TOPICS, dlq
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.documents import (
    ConcurrentWrite,
    record_outcome,
    recorded_outcome,
    save_document,
    wait_for_outcome,
)
from oms_platform.messaging import Bus, subscribe, whole_message

log = logging.getLogger(__name__)
COLLECTION = "dead_letters"
LetterStatus = Literal["new", "retried", "discarded"]


def letter_id(dlq_topic: str, partition: int, offset: int) -> str:
    """Where the letter sits in its DLQ: unique, and the same on every redelivery."""
    return f"{dlq_topic}:{partition}:{offset}"


class DeadLetterDesk:
    """Files this service's dead letters and carries out staff's retry and discard commands."""

    def __init__(self, db: AsyncDatabase, *, service: str, broker: KafkaBroker, clock: Callable[[], datetime]):
        self.letters = db[COLLECTION]
        self.service = service
        self.broker = broker
        self.clock = clock

    async def create_indexes(self) -> None:
        await self.letters.create_index([("status", 1), ("filed_at", DESCENDING)])

    async def file(self, raw: bytes, *, dlq_topic: str, partition: int, offset: int) -> bool:
        """Keep one dead letter if one of this service's consumers wrote it; True when it was filed now."""
        try:
            letter = DeadLetter.model_validate_json(raw)
        except ValidationError as exc:  # someone wrote junk straight to a .dlq topic: say so, keep consuming
            log.error("unreadable record at %s: %s", letter_id(dlq_topic, partition, offset), exc)
            return False
        group = letter.consumer_group
        if group != self.service and not group.startswith(f"{self.service}."):
            return False
        doc = {"_id": letter_id(dlq_topic, partition, offset), "status": "new", "filed_at": self.clock(),
               "letter": letter.model_dump(mode="json"), "version": 0, "handled": {}}
        try:
            await save_document(self.letters, doc)
        except ConcurrentWrite:  # filed before this redelivery
            return False
        return True

    async def handle(self, envelope: Envelope) -> None:
        """Retry or discard one letter, once; a redelivered retry sends the original again (harmless)."""
        command = envelope.payload
        if command.service != self.service:
            return
        doc = await self.letters.find_one({"_id": command.letter_id})
        if doc is None:
            log.warning("%s names no letter %s", command.TYPE, command.letter_id)
            return
        if recorded_outcome(doc, envelope.event_id) is None:
            if doc["status"] != "new":
                record_outcome(doc, envelope.event_id, [])
                doc["refusals"] = [*doc.get("refusals", []), f"already {doc['status']}"]
                await save_document(self.letters, doc)
                return
            doc["status"] = "retried" if isinstance(command, RetryDeadLetter) else "discarded"
            doc["closed"] = {"by": command.requested_by, "at": self.clock().isoformat(), "reason": command.reason,
                             "command_id": str(envelope.event_id)}
            record_outcome(doc, envelope.event_id, [])
            await save_document(self.letters, doc)
        if doc["status"] == "retried" and doc["closed"]["command_id"] == str(envelope.event_id):
            original = doc["letter"]
            await self.broker.publish(
                original["value"].encode(), topic=original["topic"],
                key=original["key"].encode() if original.get("key") else None,
                headers={"retried_from": doc["_id"]},
            )


def register_dead_letter_desk(broker: KafkaBroker, desk: DeadLetterDesk, *, max_attempts: int) -> None:
    """The desk's two consumers: every .dlq topic (filing) and the desk's commands."""

    async def on_dead_letter(message: KafkaMessage) -> None:
        record = message.raw_message
        await desk.file(message.body, dlq_topic=record.topic, partition=record.partition, offset=record.offset)

    broker.subscriber(
        *[dlq(topic) for topic in MAIN_TOPICS], group_id=f"{desk.service}.dead-letter-filing",
        ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest", decoder=whole_message,
    )(on_dead_letter)
    subscribe(broker, DEAD_LETTER_COMMANDS, group_id=f"{desk.service}.dead-letter-desk", handler=desk.handle,
              max_attempts=max_attempts)


class DeadLetterAction(BaseModel):
    """Why staff retry or discard a dead letter."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "SKU fixed, try again"}]})

    reason: str = Field(min_length=1, max_length=500)


class DeadLetterPublic(BaseModel):
    """A dead letter as staff see it."""

    letter_id: str
    service: str
    status: LetterStatus
    filed_at: datetime
    reason: str = Field(description="Why the consumer gave up.")
    topic: str
    key: str | None
    consumer_group: str
    attempts: int
    failed_at: datetime
    value: str = Field(description="The original message, as text.")
    closed: dict[str, Any] | None = Field(None, description="Who retried or discarded it, when and why.")


def dead_letters_router(*, db: AsyncDatabase, bus: Bus, keys: ApiKeys, service: str,
                        command_timeout: float = 5.0) -> APIRouter:
    """`/dead-letters`: list and read this service's dead letters; retry or discard one with a reason (ops)."""
    router = APIRouter(prefix="/dead-letters", tags=["dead letters"])
    staff = require_role(keys, "ops")
    letters = db[COLLECTION]

    def public(doc: dict) -> DeadLetterPublic:
        letter = doc["letter"]
        return DeadLetterPublic(letter_id=doc["_id"], service=service, status=doc["status"],
                                filed_at=doc["filed_at"], closed=doc.get("closed"), **{
                                    k: letter[k] for k in ("reason", "topic", "key", "consumer_group", "attempts",
                                                           "failed_at", "value")})

    @router.get("", response_model=list[DeadLetterPublic])
    async def list_dead_letters(
        status_: LetterStatus | None = Query(None, alias="status"), limit: int = Query(50, ge=1, le=500),
        _: Caller = Depends(staff),
    ) -> list[DeadLetterPublic]:
        """Newest first, optionally only those in one status."""
        cursor = letters.find({"status": status_} if status_ else {}).sort("filed_at", DESCENDING).limit(limit)
        return [public(doc) async for doc in cursor]

    @router.get("/{letter_id}", response_model=DeadLetterPublic, responses={404: {"description": "no such letter"}})
    async def get_dead_letter(letter_id: str, _: Caller = Depends(staff)) -> DeadLetterPublic:
        doc = await letters.find_one({"_id": letter_id})
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letter {letter_id} in {service}")
        return public(doc)

    async def act(command_type, letter_id: str, body: DeadLetterAction, caller: Caller, key: str | None):
        doc = await letters.find_one({"_id": letter_id})
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letter {letter_id} in {service}")
        command_id = derived_id("dead-letters-api", command_type.TYPE, letter_id, key) if key else uuid.uuid4()
        if recorded_outcome(doc, command_id) is None:
            if doc["status"] != "new":
                raise HTTPException(status.HTTP_409_CONFLICT, f"dead letter {letter_id} is already {doc['status']}")
            command = command_type(service=service, letter_id=letter_id, reason=body.reason,
                                   requested_by=caller.name)
            await bus.publish(bus.envelope(command, event_id=command_id), key=letter_id)
            doc = await wait_for_outcome(lambda: letters.find_one({"_id": letter_id}), command_id,
                                         timeout=command_timeout)
        if recorded_outcome(doc, command_id) is None:
            raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "the worker has not answered yet; look again")
        closed = doc.get("closed") or {}
        if closed.get("command_id") != str(command_id):
            raise HTTPException(status.HTTP_409_CONFLICT, f"dead letter {letter_id} is already {doc['status']}")
        return public(doc)

    responses = {404: {"description": "no such letter"}, 409: {"description": "already retried or discarded"}}

    @router.post("/{letter_id}/retry", response_model=DeadLetterPublic, responses=responses)
    async def retry_dead_letter(letter_id: str, body: DeadLetterAction, caller: Caller = Depends(staff),
                                idempotency_key: str | None = Header(None, max_length=200)) -> DeadLetterPublic:
        """Send the original message to its topic again."""
        return await act(RetryDeadLetter, letter_id, body, caller, idempotency_key)

    @router.post("/{letter_id}/discard", response_model=DeadLetterPublic, responses=responses)
    async def discard_dead_letter(letter_id: str, body: DeadLetterAction, caller: Caller = Depends(staff),
                                  idempotency_key: str | None = Header(None, max_length=200)) -> DeadLetterPublic:
        """Close it without sending it again."""
        return await act(DiscardDeadLetter, letter_id, body, caller, idempotency_key)

    return router
