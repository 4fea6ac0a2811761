"""HTTP API of print jobs. Routes read jobs and publish commands; only the command consumer writes jobs."""

import uuid

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status

from oms_contracts import derived_id
from oms_contracts.printing.v1 import ReprintJob
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.messaging import Bus
from printing.adapters.repository import PrintJobRepository, job_from_document, stored_document
from printing.domain.errors import InvalidTransition
from printing.domain.model import JobState
from printing.entrypoints.schemas import PrintJobPublic, ReprintAccepted, ReprintRequest


def print_jobs_router(*, repo: PrintJobRepository, keys: ApiKeys, bus: Bus) -> APIRouter:
    """Routes for reading print jobs and their history, and for reprinting a printed job."""
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
        responses={404: {"description": "no such job"}, 409: {"description": "the job has never printed"}},
    )
    async def reprint_print_job(
        job_id: uuid.UUID,
        body: ReprintRequest,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(
            None, max_length=200, description="The same key again asks for the same reprint (it prints once)."
        ),
    ) -> ReprintAccepted:
        """Print a printed job once more, with a reason; the worker renders it again from the stored order."""
        doc = await repo.get(job_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"print job {job_id} not found")
        job = job_from_document(doc)
        try:
            job.check_reprintable()
        except InvalidTransition as refusal:
            raise HTTPException(status.HTTP_409_CONFLICT, str(refusal)) from refusal
        if stored_document(doc) is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"print job {job_id} printed before documents were kept for reprinting; issue a new revision",
            )
        if job.station is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"print job {job_id} printed at station {job.station}; reprint it there"
            )
        command_id = (
            derived_id("printing-api", "reprint", str(job_id), caller.name, idempotency_key)
            if idempotency_key
            else uuid.uuid4()
        )
        command = ReprintJob(job_id=job_id, reason=body.reason, requested_by=caller.name)
        await bus.publish(bus.envelope(command, event_id=command_id), key=str(job_id))
        return ReprintAccepted(job_id=job_id, command_id=command_id)

    return router


def job_public(doc: dict) -> PrintJobPublic:
    """The API view of a stored job."""
    return PrintJobPublic.model_validate(job_from_document(doc).model_dump(mode="json"))
