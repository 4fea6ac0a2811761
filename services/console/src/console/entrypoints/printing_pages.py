"""Printing administration: print stations (register or give a new key, revoke) and document templates (edit
with a PDF or PNG preview). Admin only; ops see printers, stations and the job queue on the Printing page.

A template that does not render is refused by the printing service with the line and the reason; the editor
shows them next to the source staff typed, which is kept.
"""

import asyncio
import base64
import re
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.adapters.services import ServiceError, Services
from console.entrypoints.common import JOB_STATES, check_csrf, flash_back, optional, render, signed_in

TEMPLATES = ("invoice", "packing_slip", "pick_list", "shipping_label_pdf", "shipping_label_zpl")
CHANNEL = re.compile(r"^[a-z0-9_]{0,50}$")
COUNTRY = re.compile(r"^([A-Z]{2})?$")


def _scope(channel: str, country: str) -> dict | None:
    """The channel and country a template applies to ('' for every one), or None when malformed."""
    channel, country = channel.strip(), country.strip().upper()
    if not CHANNEL.match(channel) or not COUNTRY.match(country):
        return None
    return {"channel": channel or None, "country": country or None}


def printing_routes(services: Services) -> APIRouter:
    router = APIRouter()

    @router.post("/printing/stations", response_class=HTMLResponse)
    async def register_station(request: Request, name: str = Form(""), csrf_token: str = Form("")) -> Response:
        """Register a station (or give it a new key): the key is shown once, on this page, never stored here."""
        who = signed_in(request, "admin")
        check_csrf(request, csrf_token)
        try:
            created = await services.post(who, "printing", "/stations", {"name": name.strip()})
        except ServiceError as refused:
            return flash_back(request, "/printing", "error", f"station {name}: {refused.detail}")
        jobs, printers, stations = await asyncio.gather(
            services.get(who, "printing", "/print-jobs", {"limit": 100}),
            optional(services.get(who, "printing", "/printers"), None),
            optional(services.get(who, "printing", "/stations"), None))
        response = render(request, "printing.html", status_code=201, jobs=jobs, printers=printers,
                          stations=stations, state="", states=JOB_STATES, new_station=created)
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.post("/printing/stations/{name}/revoke")
    async def revoke_station(request: Request, name: str, csrf_token: str = Form("")) -> Response:
        who = signed_in(request, "admin")
        check_csrf(request, csrf_token)
        try:
            await services.post(who, "printing", f"/stations/{name}/revoke")
        except ServiceError as refused:
            return flash_back(request, "/printing", "error", f"revoke {name}: {refused.detail}")
        return flash_back(request, "/printing", "ok", f"station {name}: key revoked")

    @router.get("/printing/templates", response_class=HTMLResponse)
    async def template_list(request: Request) -> Response:
        who = signed_in(request, "admin")
        overrides = await services.get(who, "printing", "/templates")
        return render(request, "templates.html", overrides=overrides, names=TEMPLATES)

    @router.get("/printing/templates/open")
    async def open_template(request: Request, template: str = "", channel: str = "", country: str = "") -> Response:
        """The editor chosen on the list's form."""
        signed_in(request, "admin")
        query = urlencode({k: v for k, v in (("channel", channel), ("country", country.upper())) if v.strip()})
        return RedirectResponse(f"/printing/templates/{quote(template, safe='')}" + (f"?{query}" if query else ""),
                                status_code=303)

    @router.get("/printing/templates/{template}", response_class=HTMLResponse)
    async def template_editor(request: Request, template: str, channel: str = "", country: str = "") -> Response:
        """The override for this channel and country if there is one, else the packaged source to start from."""
        who = signed_in(request, "admin")
        scope = _scope(channel, country)
        if template not in TEMPLATES or scope is None:
            return flash_back(request, "/printing/templates", "error", "unknown template, channel or country")
        overrides = await services.get(who, "printing", "/templates")
        saved = next((o for o in overrides if o["template"] == template and o["channel"] == scope["channel"]
                      and o["country"] == scope["country"]), None)
        if saved:
            source = saved["source"]
        else:
            source = (await services.get_bytes(who, "printing", f"/templates/{template}/default")).text
        return render(request, "template_edit.html", name=template, scope=scope, source=source, saved=saved,
                      preview=None, problem=None)

    @router.post("/printing/templates/{template}", response_class=HTMLResponse)
    async def template_action(request: Request, template: str, source: str = Form(""), action: str = Form("png"),
                              channel: str = Form(""), country: str = Form(""),
                              csrf_token: str = Form("")) -> Response:
        """Preview (PNG on the page, or the PDF itself) or save; a template that does not render shows why."""
        who = signed_in(request, "admin")
        check_csrf(request, csrf_token)
        scope = _scope(channel, country)
        if template not in TEMPLATES or scope is None or action not in ("png", "pdf", "save"):
            return flash_back(request, "/printing/templates", "error", "unknown template, channel, country or action")
        if not source.strip():
            return _editor(request, template, scope, source, problem="the template is empty")
        if action == "save":
            try:
                await services.put(who, "printing", f"/templates/{template}", {"source": source},
                                   params={k: v for k, v in scope.items() if v})
            except ServiceError as refused:
                return _editor(request, template, scope, source, problem=refused.detail)
            where = " · ".join(v for v in scope.values() if v) or "every order"
            return flash_back(request, "/printing/templates", "ok", f"{template} saved for {where}")
        try:
            document = await services.post_for_bytes(who, "printing", f"/templates/{template}/preview",
                                                     {"source": source, "format": action, **scope})
        except ServiceError as refused:
            return _editor(request, template, scope, source, problem=refused.detail)
        kind = document.headers.get("content-type", "")
        if action == "pdf" and kind.startswith("application/pdf"):
            return Response(document.content, media_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="{template}-preview.pdf"'})
        if kind.startswith("image/png"):
            preview = {"png": base64.b64encode(document.content).decode()}
        else:  # a ZPL label previews as its text
            preview = {"text": document.text}
        return _editor(request, template, scope, source, preview=preview)

    return router


def _editor(request: Request, template: str, scope: dict, source: str, *, preview: dict | None = None,
            problem: str | None = None) -> Response:
    return render(request, "template_edit.html", status_code=422 if problem else 200, name=template,
                  scope=scope, source=source, saved=None, preview=preview, problem=problem)
