"""Batches (process flow a): shipments waiting for a batch, printed together (pick list sorted by location, bin
and SKU; packing slips, invoices and labels), then processed together. Fulfilment does the work; this page asks."""

import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.adapters.services import ServiceError, Services
from console.entrypoints.common import OPS, check_csrf, flash_back, render, signed_in


def batches_routes(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get("/batches", response_class=HTMLResponse)
    async def waiting(request: Request) -> Response:
        """The shipments waiting for a batch, to choose from."""
        who = signed_in(request, *OPS)
        shipments = await services.get(who, "fulfilment", "/shipments", {"status": "awaiting_batch", "limit": 200})
        return render(request, "batches.html", shipments=shipments)

    @router.post("/batches")
    async def print_batch(request: Request, csrf_token: str = Form(""),
                          order_id: list[uuid.UUID] = Form(default_factory=list)) -> Response:
        """Print the chosen orders as one batch: its pick list and each order's documents."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        if not order_id:
            return flash_back(request, "/batches", "error", "choose at least one order")
        try:
            batch = await services.post(who, "fulfilment", "/batches", {"order_ids": [str(o) for o in order_id]})
        except ServiceError as refused:
            return flash_back(request, "/batches", "error", f"batch: {refused.detail}")
        if not batch or "batch_id" not in batch:
            return flash_back(request, "/batches", "ok", "batch sent; it prints in a moment")
        return RedirectResponse(f"/batches/{batch['batch_id']}", status_code=303)

    @router.get("/batches/{batch_id}", response_class=HTMLResponse)
    async def batch(request: Request, batch_id: uuid.UUID) -> Response:
        who = signed_in(request, *OPS)
        found = await services.get(who, "fulfilment", f"/batches/{batch_id}")
        return render(request, "batch.html", batch=found)

    @router.post("/batches/{batch_id}/process")
    async def process_batch(request: Request, batch_id: uuid.UUID, csrf_token: str = Form("")) -> Response:
        """Ship every order of the printed batch."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/batches/{batch_id}"
        try:
            await services.post(who, "fulfilment", f"/batches/{batch_id}/process")
        except ServiceError as refused:
            return flash_back(request, back, "error", f"process batch: {refused.detail}")
        return flash_back(request, back, "ok", "batch processed: its orders are shipped")

    return router
