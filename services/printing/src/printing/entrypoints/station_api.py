"""HTTP API the print station agents use: long-poll for the station's own jobs, acknowledge each one.

A station authenticates with its own key (`Authorization: Bearer <station key>`): an unknown station or a wrong
key gets 401, a revoked key 403, and neither ever sees a job. Acknowledgements are forwarded to the command
consumer as RecordDelivery commands (ids derived from job and attempt, so acknowledging twice counts once);
these routes never write a job.

A reprint staff asked for of a printed station job is in the list as a delivery of its own (`reprint` set to its
id); the agent prints it, journals it under that id and acknowledges it with the id, so it prints once however
often the list repeats it.
"""

import asyncio
import base64
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status

from oms_contracts.printing.v1 import RecordDelivery
from oms_platform.messaging import Bus
from printing.adapters.registry import MongoStationStore
from printing.adapters.repository import PrintJobRepository, job_from_document, stored_document
from printing.domain.model import ReprintState
from printing.domain.printers import NAME_PATTERN
from printing.entrypoints.api import job_public
from printing.entrypoints.schemas import PrintJobPublic, StationAck, StationJob
from printing.service_layer.handlers import delivery_envelope

Clock = Callable[[], datetime]


def station_router(
    *,
    repo: PrintJobRepository,
    stations: MongoStationStore,
    bus: Bus,
    clock: Clock,
    max_wait_seconds: float,
    ack_wait_seconds: float = 10.0,
) -> APIRouter:
    """Routes for the station agents."""
    router = APIRouter(prefix="/stations/{name}", tags=["station agents"])

    async def station(
        name: str = Path(pattern=NAME_PATTERN), authorization: str | None = Header(None, include_in_schema=False)
    ) -> str:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a station key is required (Authorization: Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})
        verdict = await stations.authenticate(name, key.strip())
        if verdict == "unknown":
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"no station {name} with that key",
                                headers={"WWW-Authenticate": "Bearer"})
        if verdict == "revoked":
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the key of station {name} was revoked")
        return name

    @router.get("/jobs", response_model=list[StationJob])
    async def next_jobs(
        name: str = Depends(station),
        wait: float = Query(0, ge=0, le=120, description="Seconds to wait for a job when there is none."),
        limit: int = Query(10, ge=1, le=50),
    ) -> list[StationJob]:
        """The station's rendered jobs not yet acknowledged, oldest first; waits up to `wait` s for one. Asking
        is the station's heartbeat. A job (or a reprint, `reprint` set) stays here until its acknowledgement is
        recorded."""
        deadline = time.monotonic() + min(wait, max_wait_seconds)
        while True:
            await stations.seen(name, at=clock())
            docs = await repo.awaiting(station=name, limit=limit)
            jobs = [job for doc in docs for job in _station_jobs(doc)][:limit]
            if jobs or time.monotonic() >= deadline:
                return jobs
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    @router.post("/jobs/{job_id}/ack", response_model=PrintJobPublic,
                 responses={202: {"description": "recorded later"}, 404: {"description": "not this station's job"}})
    async def acknowledge(job_id: uuid.UUID, body: StationAck, name: str = Depends(station)) -> PrintJobPublic:
        """Say the job (or the reprint `reprint`) printed, or why not; answers with the job once it is recorded."""
        doc = await repo.get(job_id)
        if doc is None or doc.get("station") != name:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {name} has no print job {job_id}")
        if body.reprint is not None:
            return await acknowledge_reprint(doc, body, name)
        if doc["state"] == "rendered" and int(doc["attempt"]) == body.attempt:
            command = RecordDelivery(
                job_id=job_id, attempt=body.attempt, printed=body.printed, printer=body.printer,
                reason=None if body.printed else (body.reason or "the station could not print it"),
                sent_at=clock() if body.printed else None, station=name,
            )
            await bus.publish(delivery_envelope(bus, command, doc), key=str(job_id))
            deadline = time.monotonic() + ack_wait_seconds
            while doc["state"] == "rendered" and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                doc = await repo.get(job_id)
        return job_public(doc)

    async def acknowledge_reprint(doc: dict, body: StationAck, name: str) -> PrintJobPublic:
        """Forward the station's answer for a waiting reprint (once; a repeated one changes nothing)."""
        job_id = uuid.UUID(doc["_id"])
        reprint = job_from_document(doc).reprint_request(body.reprint)
        if reprint is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"print job {job_id} has no reprint {body.reprint}")
        if reprint.state is ReprintState.WAITING:
            command = RecordDelivery(
                job_id=job_id, attempt=int(doc["attempt"]), printed=body.printed, printer=body.printer,
                reason=None if body.printed else (body.reason or "the station could not print it"),
                sent_at=clock() if body.printed else None, station=name, reprint=body.reprint,
            )
            await bus.publish(delivery_envelope(bus, command, doc), key=str(job_id))
            deadline = time.monotonic() + ack_wait_seconds
            while _waiting(doc, body.reprint) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                doc = await repo.get(job_id)
        return job_public(doc)

    return router


def _waiting(doc: dict, reprint_id: uuid.UUID) -> bool:
    reprint = job_from_document(doc).reprint_request(reprint_id)
    return reprint is not None and reprint.state is ReprintState.WAITING


def _station_jobs(doc: dict) -> list[StationJob]:
    """What a job holds for its station: the job itself while rendered, and each reprint waiting."""
    job = _station_job(doc)
    reprints = [job.model_copy(update={"printer": r.printer, "reprint": r.reprint_id, "reason": r.reason})
                for r in job_from_document(doc).waiting_reprints]
    return ([job] if doc["state"] == "rendered" else []) + reprints


def _station_job(doc: dict) -> StationJob:
    job = doc["job"]
    document = stored_document(doc) or b""
    printer = doc.get("printer") or ""
    return StationJob(
        job_id=doc["_id"],
        attempt=int(doc["attempt"]),
        document_type=job["document_type"],
        order_number=job["order_number"],
        printer=None if printer.startswith("station:") else printer,
        content_type="application/pdf" if document.startswith(b"%PDF") else "application/vnd.zebra-zpl",
        document_base64=base64.b64encode(document).decode(),
    )
