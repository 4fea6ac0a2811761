"""Channel detail pages: a payload that could not be normalised (exactly as received, with the reason) and the
reconciliation of a channel's list against what we received (the latest scheduled report, or one run now)."""

import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from console.adapters.services import ServiceError, Services
from console.entrypoints.common import CHANNEL_ID, OPS, check_csrf, flash_back, render, signed_in


def channels_routes(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get("/channels/intake/{intake_id}", response_class=HTMLResponse)
    async def intake(request: Request, intake_id: uuid.UUID) -> Response:
        who = signed_in(request, *OPS)
        found = await services.get(who, "ingest", f"/intake/{intake_id}")
        return render(request, "intake.html", intake=found)

    @router.post("/channels/intake/{intake_id}/retry")
    async def retry_intake(request: Request, intake_id: uuid.UUID, csrf_token: str = Form("")) -> Response:
        """Read a failed payload again after a fix; the ingest worker takes it at its next round."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/channels/intake/{intake_id}"
        try:
            await services.post(who, "ingest", f"/intake/{intake_id}/retry")
        except ServiceError as refused:
            return flash_back(request, back, "error", f"retry: {refused.detail}")
        return flash_back(request, back, "ok", "retry asked for: the payload is read again in a few seconds")

    @router.get("/channels/{channel_id}/reconciliation", response_class=HTMLResponse)
    async def reconciliation(request: Request, channel_id: str, now: bool = False) -> Response:
        """The latest scheduled report; `now` lists the channel at once."""
        who = signed_in(request, *OPS)
        if not CHANNEL_ID.match(channel_id):
            return flash_back(request, "/channels", "error", f"no channel {channel_id!r}")
        report, problem = None, None
        path = f"/channels/{channel_id}/reconciliation" + ("" if now else "/latest")
        try:
            report = await services.get(who, "ingest", path)
        except ServiceError as refused:
            if refused.status not in (404, 409, 502):
                raise
            problem = refused.detail
        return render(request, "reconciliation.html", channel_id=channel_id, report=report, problem=problem, now=now)

    @router.post("/channels/{channel_id}/reconciliation/fetch-missing", response_class=HTMLResponse)
    async def fetch_missing(request: Request, channel_id: str, csrf_token: str = Form("")) -> Response:
        """Take every missing order into the intake log, like a poll would."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/channels/{channel_id}/reconciliation?now=true"
        if not CHANNEL_ID.match(channel_id):
            return flash_back(request, "/channels", "error", f"no channel {channel_id!r}")
        try:
            report = await services.post(who, "ingest", f"/channels/{channel_id}/reconciliation/fetch-missing")
        except ServiceError as refused:
            return flash_back(request, back, "error", f"fetch missing: {refused.detail}")
        fetched = sum(1 for m in report.get("missing", []) if m.get("fetched"))
        return render(request, "reconciliation.html", channel_id=channel_id, report=report, now=True,
                      problem=None, fetched=fetched)

    return router
