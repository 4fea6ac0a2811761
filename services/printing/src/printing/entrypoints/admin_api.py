"""HTTP API of the printer registry, the templates (with previews) and the print stations.

These are configuration documents staff own: each is written only by these routes, one whole document per write
(see adapters.registry). Print jobs are never written here.
"""

import asyncio
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.resources import files

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from oms_platform.auth import ApiKeys, Caller, require_role
from printing.adapters.registry import MongoPrinterStatus, MongoPrinterStore, MongoStationStore, MongoTemplateStore
from printing.adapters.renderers import TEMPLATES, template_for, template_key
from printing.domain.printers import NAME_PATTERN, PrinterConfig
from printing.entrypoints.schemas import (
    PrinterPublic,
    StationCreate,
    StationCreated,
    StationPublic,
    TemplatePreview,
    TemplatePublic,
    TemplateUpdate,
)
from printing.service_layer.templates import TemplateRefused, pdf_to_png, render_candidate

Clock = Callable[[], datetime]
TEMPLATE_NAMES = "|".join(TEMPLATES)


def admin_router(
    *,
    printers: MongoPrinterStore,
    printer_status: MongoPrinterStatus,
    templates: MongoTemplateStore,
    stations: MongoStationStore,
    keys: ApiKeys,
    clock: Clock,
    seller_name: str,
    online_within: timedelta,
) -> APIRouter:
    """Routes for printers, templates and stations: ops read, admin edits."""
    router = APIRouter()
    staff = require_role(keys, "ops")
    admin = require_role(keys, "admin")

    # Printers

    @router.get("/printers", response_model=list[PrinterPublic], tags=["printers"])
    async def list_printers(_: Caller = Depends(staff)) -> list[PrinterPublic]:
        """Every registered printer with its last success, last failure and whether it was online then."""
        seen = await printer_status.all()
        return [_printer_public(p, seen.get(p.uri)) for p in await printers.printers()]

    @router.put("/printers/{name}", response_model=PrinterPublic, tags=["printers"])
    async def put_printer(
        body: PrinterConfig, name: str = Path(pattern=NAME_PATTERN), _: Caller = Depends(admin)
    ) -> PrinterPublic:
        """Register or change a printer (the body's name must be the path's)."""
        if body.name != name:
            raise HTTPException(422, f"body names {body.name!r}, path {name!r}")
        await printers.put(body)
        return _printer_public(body, (await printer_status.all()).get(body.uri))

    @router.delete("/printers/{name}", status_code=status.HTTP_204_NO_CONTENT, tags=["printers"])
    async def delete_printer(name: str = Path(pattern=NAME_PATTERN), _: Caller = Depends(admin)) -> Response:
        """Remove a printer; jobs already rendered for it still go to it."""
        if not await printers.delete(name):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"printer {name} not found")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # Templates

    @router.get("/templates", response_model=list[TemplatePublic], tags=["templates"])
    async def list_templates(_: Caller = Depends(staff)) -> list[TemplatePublic]:
        """Every override staff saved (the packaged templates apply where there is none)."""
        return [TemplatePublic(key=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})
                for doc in await templates.list()]

    @router.get("/templates/{template}/default", tags=["templates"], response_class=Response,
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                 "description": "The template's source."}})
    async def default_template(template: str = Path(pattern=f"^({TEMPLATE_NAMES})$"),
                               _: Caller = Depends(staff)) -> Response:
        """The packaged source of a template, to start an override from."""
        text = files("printing").joinpath("templates", TEMPLATES[template]).read_text(encoding="utf-8")
        return Response(text, media_type="text/plain; charset=utf-8")

    @router.put(
        "/templates/{template}",
        response_model=TemplatePublic,
        tags=["templates"],
        responses={422: {"description": "the template does not render: the line and the reason"}},
    )
    async def put_template(
        body: TemplateUpdate,
        template: str = Path(pattern=f"^({TEMPLATE_NAMES})$"),
        channel: str | None = Query(None, pattern=r"^[a-z0-9_]+$", max_length=50),
        country: str | None = Query(None, pattern=r"^[A-Z]{2}$"),
        caller: Caller = Depends(admin),
    ) -> TemplatePublic:
        """Save a template for every order, a channel, a country, or both; refused (422) if it does not render."""
        await _render_or_422(template, body.source, seller_name=seller_name, channel=channel, country=country)
        key = template_key(template, channel, country)
        fields = dict(template=template, channel=channel, country=country, source=body.source,
                      updated_at=clock(), updated_by=caller.name)
        await templates.put(key, fields)
        return TemplatePublic(key=key, **fields)

    @router.delete("/templates/{template}", status_code=status.HTTP_204_NO_CONTENT, tags=["templates"])
    async def delete_template(
        template: str = Path(pattern=f"^({TEMPLATE_NAMES})$"),
        channel: str | None = Query(None, pattern=r"^[a-z0-9_]+$", max_length=50),
        country: str | None = Query(None, pattern=r"^[A-Z]{2}$"),
        _: Caller = Depends(admin),
    ) -> Response:
        """Remove an override: the next broader one (or ours) applies again."""
        if not await templates.delete(template_key(template, channel, country)):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such template override")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/templates/{template}/preview",
        tags=["templates"],
        responses={200: {"content": {"application/pdf": {}, "image/png": {}, "text/plain": {}},
                         "description": "A PDF, a PNG of its first page, or a ZPL label's text."},
                   422: {"description": "does not render"}},
    )
    async def preview_template(
        body: TemplatePreview, template: str = Path(pattern=f"^({TEMPLATE_NAMES})$"), _: Caller = Depends(staff)
    ) -> Response:
        """The template (a candidate source, or the one in use for that channel and country) rendered with sample
        data, as PDF or as a PNG of its first page. A ZPL label previews as its ZPL text."""
        source = body.source
        if source is None:
            overrides = await templates.overrides()
            name = template_for(template, channel=body.channel, country=body.country, overrides=overrides)
            source = overrides.get(name)
        if source is None:
            source = files("printing").joinpath("templates", TEMPLATES[template]).read_text(encoding="utf-8")
        document = await _render_or_422(template, source, seller_name=seller_name, channel=body.channel,
                                        country=body.country)
        if not document.startswith(b"%PDF"):
            return Response(document, media_type="text/plain; charset=utf-8")
        if body.format == "png":
            return Response(await asyncio.to_thread(pdf_to_png, document), media_type="image/png")
        return Response(document, media_type="application/pdf")

    # Stations

    @router.post("/stations", response_model=StationCreated, status_code=status.HTTP_201_CREATED, tags=["stations"])
    async def create_station(body: StationCreate, _: Caller = Depends(admin)) -> StationCreated:
        """Register a print station, or give it a new key (the old one stops working); the key is shown once."""
        key = secrets.token_urlsafe(32)
        await stations.create(body.name, key, at=clock())
        return StationCreated(name=body.name, key=key)

    @router.post("/stations/{name}/revoke", response_model=StationPublic, tags=["stations"])
    async def revoke_station(name: str = Path(pattern=NAME_PATTERN), _: Caller = Depends(admin)) -> StationPublic:
        """Revoke a station's key: its agent gets nothing more (403)."""
        if not await stations.revoke(name, at=clock()):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {name} not found")
        return next(s for s in await list_stations_public() if s.name == name)

    async def list_stations_public() -> list[StationPublic]:
        now = clock()
        return [
            StationPublic(
                name=doc["_id"],
                revoked=bool(doc.get("revoked")),
                last_seen_at=doc.get("last_seen_at"),
                online=bool(doc.get("last_seen_at")) and _aware(doc["last_seen_at"]) > now - online_within,
            )
            for doc in await stations.list()
        ]

    @router.get("/stations", response_model=list[StationPublic], tags=["stations"])
    async def list_stations(_: Caller = Depends(staff)) -> list[StationPublic]:
        """Every station; online when its agent asked for jobs recently."""
        return await list_stations_public()

    return router


async def _render_or_422(template: str, source: str, **kwargs) -> bytes:
    try:
        return await asyncio.to_thread(render_candidate, template, source, **kwargs)
    except TemplateRefused as refusal:
        raise HTTPException(
            422,
            {"message": f"the {template} template does not render: {refusal}", "line": refusal.line,
             "reason": refusal.reason},
        ) from refusal


def _aware(at: datetime) -> datetime:
    """Mongo hands back naive UTC datetimes."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _printer_public(printer: PrinterConfig, seen: dict | None) -> PrinterPublic:
    seen = seen or {}
    return PrinterPublic(
        **printer.model_dump(),
        uri=printer.uri,
        online=seen.get("online"),
        last_seen_at=seen.get("last_seen_at"),
        last_success_at=seen.get("last_success_at"),
        last_failure_at=seen.get("last_failure_at"),
        last_error=seen.get("last_error"),
    )
