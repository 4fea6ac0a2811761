"""HTTP API of print jobs. Routes read jobs and publish commands; only the command consumer writes jobs."""

import uuid
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from oms_contracts import derived_id
from oms_contracts.printing.v1 import ReprintJob
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.documents import recorded_outcome, wait_for_outcome
from oms_platform.messaging import Bus
from printing.adapters.repository import PrintJobRepository, job_from_document, stored_document
from printing.domain.errors import InvalidTransition
from printing.domain.model import JobState, ReprintState
from printing.entrypoints.schemas import PrintJobPublic, ReprintAccepted, ReprintRequest


class StationReader(Protocol):
    """The station registry, as the reprint route reads it."""

    async def get(self, name: str) -> dict[str, Any] | None: ...


def print_jobs_router(
    *,
    repo: PrintJobRepository,
    keys: ApiKeys,
    bus: Bus,
    stations: StationReader | None = None,
    command_timeout: float = 10.0,
) -> APIRouter:
    """Routes for reading print jobs and their history, and for reprinting a printed job (`stations`: to refuse
    reprinting for a revoked station)."""
    router = APIRouter(prefix="/print-jobs", tags=["print jobs"])
    staff = require_role(keys, "ops")

    @router.get("", response_model=list[PrintJobPublic])
    async def list_print_jobs(
        order_id: uuid.UUID | None = Query(None, description="Only the jobs of this order (or batch: pick lists)."),
        state: JobState | None = Query(None, description="Only jobs in this state, e.g. rendered: the queue."),
        printer: str | None = Query(None, max_length=500, description="Only jobs for this printer URI."),
        station: str | None = Query(None, max_length=64, description="Only jobs of this print station."),
        limit: int = Query(50, ge=1, le=500),
        _: Caller = Depends(staff),
    ) -> list[PrintJobPublic]:
        """Newest jobs first, optionally of one order, in one state, for one printer or station."""
        docs = await repo.list(order_id=order_id, limit=limit, state=state.value if state else None,
                               printer=printer, station=station)
        return [job_public(doc) for doc in docs]

    @router.get("/{job_id}", response_model=PrintJobPublic)
    async def get_print_job(job_id: uuid.UUID, _: Caller = Depends(staff)) -> PrintJobPublic:
        """One job with its state and history."""
        doc = await repo.get(job_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"print job {job_id} not found")
        return job_public(doc)

    @router.get(
        "/{job_id}/document",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}, "text/plain": {}}},
                   404: {"description": "no such job, or it has no rendered document yet"}},
    )
    async def get_print_job_document(job_id: uuid.UUID, _: Caller = Depends(staff)) -> Response:
        """The document exactly as it went (or goes) to the printer: a PDF, or a ZPL label as text."""
        doc = await repo.get(job_id)
        document = stored_document(doc) if doc is not None else None
        if document is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"print job {job_id} has no rendered document")
        pdf = document.startswith(b"%PDF")
        job = job_from_document(doc)
        name = f"{job.document_type}-{job_id}.{'pdf' if pdf else 'zpl'}"
        return Response(document, media_type="application/pdf" if pdf else "text/plain; charset=utf-8",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})

    @router.post(
        "/{job_id}/reprint",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ReprintAccepted,
        responses={
            200: {"model": ReprintAccepted, "description": "printed, or failed with the error (a network printer)"},
            202: {"description": "waiting for the job's print station, or the worker had not answered in time"},
            404: {"description": "no such job"},
            409: {"description": "the job has never printed, kept no document, or its station is revoked"},
        },
    )
    async def reprint_print_job(
        job_id: uuid.UUID,
        body: ReprintRequest,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(
            None, max_length=200, description="The same key again asks for the same reprint (it prints once)."
        ),
    ) -> JSONResponse:
        """Print a printed job once more, with a reason, from the document it stored. A network printer's job is
        queued for the worker's delivery loop, which sends it within moments: the answer waits for it up to the
        command timeout (200: printed, or failed with the error; 202 `waiting` if the printer is slow). A print
        station's job goes back into that station's queue as a reprint of its own (202, `waiting`): its agent
        prints it once and acknowledges it. The job's history then says "reprinted: <reason> by <who>" (or the
        failure). The job stays printed; `reprints` counts the copies printed again. The worker writes the job:
        this route publishes the command and waits up to the command timeout for it (202 `pending` when it had
        not answered)."""
        doc = await repo.get(job_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"print job {job_id} not found")
        command_id = (
            derived_id("printing-api", "reprint", str(job_id), caller.name, idempotency_key)
            if idempotency_key
            else uuid.uuid4()
        )
        if recorded_outcome(doc, command_id) is None:
            _check_reprintable(doc)
            name = job_from_document(doc).station
            station = await stations.get(name) if name is not None and stations is not None else None
            if station is not None and station.get("revoked"):
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    f"print job {job_id} printed at station {name}, whose key was revoked: "
                    "give the station a new key (POST /stations) first",
                )
            command = ReprintJob(job_id=job_id, reason=body.reason, requested_by=caller.name)
            await bus.publish(bus.envelope(command, event_id=command_id), key=str(job_id))
            doc = await wait_for_outcome(lambda: repo.get(job_id), command_id, timeout=command_timeout,
                                         until=lambda d: _settled_or_for_a_station(d, command_id))
        return _reprint_answer(job_id, command_id, doc)

    return router


def _settled_or_for_a_station(doc: dict, command_id: uuid.UUID) -> bool:
    """Whether the reprint is worth answering now: settled, refused, or waiting for a station (whose agent may
    take minutes); a network printer's waiting reprint is sent by the delivery loop within moments."""
    reprint = job_from_document(doc).reprint_request(command_id)
    return reprint is None or reprint.station is not None or reprint.state is not ReprintState.WAITING


def _check_reprintable(doc: dict) -> None:
    """409 with the reason unless the job printed and kept its document."""
    job = job_from_document(doc)
    try:
        job.check_reprintable()
    except InvalidTransition as refusal:
        raise HTTPException(status.HTTP_409_CONFLICT, str(refusal)) from refusal
    if stored_document(doc) is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"print job {job.job_id} printed before documents were kept for reprinting; issue a new revision",
        )


def _reprint_answer(job_id: uuid.UUID, command_id: uuid.UUID, doc: dict | None) -> JSONResponse:
    """200 when the reprint printed or failed, 202 while it waits for its station or the worker, 409 when the
    worker refused it."""
    answer = ReprintAccepted(job_id=job_id, command_id=command_id)
    if doc is not None and recorded_outcome(doc, command_id) is not None:
        reprint = job_from_document(doc).reprint_request(command_id)
        if reprint is None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"the printing worker refused reprint {command_id} of "
                                                          f"print job {job_id}; see its state and history")
        answer = answer.model_copy(update={"state": reprint.state.value, "station": reprint.station,
                                           "error": reprint.error, "job": job_public(doc)})
    final = answer.state in ("printed", "failed")
    return JSONResponse(answer.model_dump(mode="json"),
                        status_code=status.HTTP_200_OK if final else status.HTTP_202_ACCEPTED)


def job_public(doc: dict) -> PrintJobPublic:
    """The API view of a stored job."""
    return PrintJobPublic.model_validate(job_from_document(doc).model_dump(mode="json"))
