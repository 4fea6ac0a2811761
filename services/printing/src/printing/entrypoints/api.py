"""HTTP API of print jobs: read-only; jobs are created and changed only by the command consumer."""

import uuid

from fastapi import APIRouter, Depends, HTTPException, Query, status

from oms_platform.auth import ApiKeys, Caller, require_role
from printing.adapters.repository import PrintJobRepository, job_from_document
from printing.entrypoints.schemas import PrintJobPublic


def print_jobs_router(*, repo: PrintJobRepository, keys: ApiKeys) -> APIRouter:
    """Routes for reading print jobs and their history."""
    router = APIRouter(prefix="/print-jobs", tags=["print jobs"])
    staff = require_role(keys, "ops")

    @router.get("", response_model=list[PrintJobPublic])
    async def list_print_jobs(
        order_id: uuid.UUID | None = Query(None, description="Only the jobs of this order."),
        limit: int = Query(50, ge=1, le=500),
        _: Caller = Depends(staff),
    ) -> list[PrintJobPublic]:
        """Newest jobs first, optionally of one order."""
        docs = await repo.list(order_id=order_id, limit=limit)
        return [_public(doc) for doc in docs]

    @router.get("/{job_id}", response_model=PrintJobPublic)
    async def get_print_job(job_id: uuid.UUID, _: Caller = Depends(staff)) -> PrintJobPublic:
        """One job with its state and history."""
        doc = await repo.get(job_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"print job {job_id} not found")
        return _public(doc)

    return router


def _public(doc: dict) -> PrintJobPublic:
    """The API view of a stored job."""
    return PrintJobPublic.model_validate(job_from_document(doc).model_dump(mode="json"))
