"""Admin pages: the printer registry (add, edit, remove), a channel's settings, and what one person did (audit).

Every change goes through the owning service's API (printing `PUT/DELETE /printers/{name}`, ingest
`PUT /channels/{id}`), which refuses what it cannot take with a reason; the form comes back with what was typed
and that reason. A channel's credentials are write-only here: the page names them, never shows their references.
"""

import asyncio
import json
import re
from datetime import datetime

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from console.adapters.services import SERVICES, Acting, ServiceError, Services
from console.adapters.users import UserStore
from console.entrypoints.common import CHANNEL_ID, check_csrf, flash_back, optional, render, signed_in

PRINTER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DOCUMENT_TYPES = ("invoice", "shipping_label", "packing_slip", "pick_list")
PROTOCOLS = ("ipp", "raw9100")
PAPERS = ("A4", "Letter", "4x6")
LABEL_FORMATS = ("zpl", "pdf")
CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
ACTOR = re.compile(r"^[^\x00-\x1f]{1,100}$")
AUDIT_PAGE = 50
OTHER_RECORDS = 200  # how many of the newest dead letters, purchase orders and printed jobs the audit reads


def admin_routes(services: Services, users: UserStore) -> APIRouter:
    router = APIRouter()

    # --- printers ---

    @router.get("/printing/printers/new", response_class=HTMLResponse)
    async def new_printer(request: Request) -> Response:
        who = signed_in(request, "admin")
        return await _printer_form(request, services, who, printer=None, editing=False)

    @router.get("/printing/printers/{name}", response_class=HTMLResponse)
    async def edit_printer(request: Request, name: str) -> Response:
        who = signed_in(request, "admin")
        printers = await services.get(who, "printing", "/printers")
        found = next((p for p in printers if p["name"] == name), None)
        if found is None:
            return flash_back(request, "/printing#printers", "error", f"no printer {name!r}")
        return await _printer_form(request, services, who, printer=found, editing=True)

    @router.post("/printing/printers", response_class=HTMLResponse)
    async def save_printer(request: Request, name: str = Form(""), protocol: str = Form(""), address: str = Form(""),
                           paper: str = Form("A4"), label_format: str = Form("zpl"), station: str = Form(""),
                           document_types: list[str] = Form(default_factory=list), editing: bool = Form(False),
                           csrf_token: str = Form("")) -> Response:
        """Register a printer or change one (the printing service checks the address and every choice)."""
        who = signed_in(request, "admin")
        check_csrf(request, csrf_token)
        body = {"name": name.strip(), "protocol": protocol, "address": address.strip(), "paper": paper,
                "document_types": document_types, "label_format": label_format, "station": station.strip() or None}
        if not PRINTER_NAME.match(body["name"]):
            return await _printer_form(request, services, who, printer=body, editing=editing,
                                       problem="a printer name is lower-case letters, digits, - and _ (64 at most)")
        if not document_types:
            return await _printer_form(request, services, who, printer=body, editing=editing,
                                       problem="choose at least one document type it prints")
        try:
            await services.put(who, "printing", f"/printers/{body['name']}", body)
        except ServiceError as refused:
            return await _printer_form(request, services, who, printer=body, editing=editing, problem=refused.detail)
        return flash_back(request, "/printing#printers", "ok", f"printer {body['name']} saved")

    @router.post("/printing/printers/{name}/remove")
    async def remove_printer(request: Request, name: str, csrf_token: str = Form("")) -> Response:
        who = signed_in(request, "admin")
        check_csrf(request, csrf_token)
        if not PRINTER_NAME.match(name):
            return flash_back(request, "/printing#printers", "error", f"no printer {name!r}")
        try:
            await services.delete(who, "printing", f"/printers/{name}")
        except ServiceError as refused:
            return flash_back(request, "/printing#printers", "error", f"remove {name}: {refused.detail}")
        return flash_back(request, "/printing#printers", "ok", f"printer {name} removed")

    # --- channel settings ---

    @router.get("/channels/{channel_id}/settings", response_class=HTMLResponse)
    async def channel_settings(request: Request, channel_id: str) -> Response:
        who = signed_in(request, "admin")
        if not CHANNEL_ID.match(channel_id):
            return flash_back(request, "/channels", "error", f"no channel {channel_id!r}")
        config = await services.get(who, "ingest", f"/channels/{channel_id}")
        return _channel_form(request, config, _form_of(config))

    @router.post("/channels/{channel_id}/settings", response_class=HTMLResponse)
    async def save_channel(request: Request, channel_id: str) -> Response:
        """The whole configuration goes back (PUT): what the form does not edit is kept as the service has it."""
        who = signed_in(request, "admin")
        form = await request.form()
        check_csrf(request, str(form.get("csrf_token", "")))
        if not CHANNEL_ID.match(channel_id):
            return flash_back(request, "/channels", "error", f"no channel {channel_id!r}")
        config = await services.get(who, "ingest", f"/channels/{channel_id}")
        typed = {k: str(v) for k, v in form.items() if not k.startswith(("csrf", "cred_"))}
        try:
            body = _channel_body(config, form)
        except ValueError as bad:
            return _channel_form(request, config, typed, problem=str(bad))
        try:
            await services.put(who, "ingest", f"/channels/{channel_id}", body)
        except ServiceError as refused:
            return _channel_form(request, config, typed, problem=refused.detail)
        return flash_back(request, "/channels", "ok", f"{channel_id}: settings saved")

    # --- audit of one person ---

    @router.get("/settings/audit", response_class=HTMLResponse)
    async def audit(request: Request, user: str = "", cursor: str = "") -> Response:
        """What a person did: their entries in order timelines (paged, latest change first) and, on the first page,
        the newest other records naming them (dead letters closed, templates saved, purchase orders created,
        reprints asked for)."""
        who = signed_in(request, "admin")
        people = await users.all()
        user = user.strip()
        if not user:
            return render(request, "audit.html", people=people, audited="", rows=[], others=None, next_cursor=None,
                          total=None)
        if not ACTOR.match(user):
            return flash_back(request, "/settings/audit", "error", "a user name is 1 to 100 printable characters")
        page = await services.get(who, "orders", "/orders", {"actor": user, "sort": "changed_newest",
                                                             "limit": AUDIT_PAGE, "cursor": cursor})
        rows = sorted(
            ({"at": e["at"], "order_id": o["order_id"], "order_number": o["order_number"], "what": e["what"],
              "detail": e.get("detail")}
             for o in page["items"] for e in o.get("timeline", []) if e.get("by") == user),
            key=lambda r: r["at"], reverse=True)
        others = None if cursor else await _other_records(services, who, user)
        # `audited`, not `user`: the layout's `user` is who is signed in
        return render(request, "audit.html", people=people, audited=user, rows=rows, others=others,
                      next_cursor=page.get("next_cursor"), total=page.get("total"))

    return router


async def _printer_form(request: Request, services: Services, who: Acting, *, printer: dict | None, editing: bool,
                        problem: str | None = None) -> Response:
    stations = await optional(services.get(who, "printing", "/stations"), [])
    return render(request, "printer_edit.html", status_code=422 if problem else 200,
                  printer=printer or {"paper": "A4", "label_format": "zpl", "document_types": []}, editing=editing,
                  problem=problem, stations=[s["name"] for s in stations if not s.get("revoked")],
                  document_types=DOCUMENT_TYPES, protocols=PROTOCOLS, papers=PAPERS, label_formats=LABEL_FORMATS)


def _form_of(config: dict) -> dict:
    """The editable settings of a channel as the form shows them (never a credential reference)."""
    options = dict(config.get("options") or {})
    push_stock = options.pop("push_stock", False) is True
    return {
        "name": config["name"], "url": config.get("url") or "", "interval_seconds": f"{config['interval_seconds']:g}",
        "unprocessed_statuses": ", ".join(config.get("unprocessed_statuses") or []),
        "enabled": "on" if config.get("enabled") else "", "push_stock": "on" if push_stock else "",
        "options": json.dumps(options, indent=2, sort_keys=True) if options else "",
    }


def _channel_body(config: dict, form) -> dict:
    """The channel's new configuration from the form; ValueError with the reason for what cannot be one."""
    try:
        interval = float(str(form.get("interval_seconds", "")).strip())
    except ValueError:
        raise ValueError("poll interval: give a number of seconds") from None
    statuses = [s.strip() for s in re.split(r"[,\n]", str(form.get("unprocessed_statuses", ""))) if s.strip()]
    text = str(form.get("options", "")).strip()
    try:
        options = json.loads(text) if text else {}
    except json.JSONDecodeError as bad:
        raise ValueError(f"other options: not JSON ({bad.msg}, line {bad.lineno})") from None
    if not isinstance(options, dict):
        raise ValueError("other options: a JSON object of name → value")
    options.pop("push_stock", None)
    if form.get("push_stock"):
        options["push_stock"] = True
    credentials = dict(config.get("credentials") or {})
    for name in list(credentials):
        replacement = str(form.get(f"cred_{name}", "")).strip()
        if form.get(f"cred_drop_{name}"):
            del credentials[name]
        elif replacement:
            credentials[name] = replacement
    new_name, new_ref = str(form.get("cred_new_name", "")).strip(), str(form.get("cred_new_ref", "")).strip()
    if new_name or new_ref:
        if not CREDENTIAL_NAME.match(new_name) or not new_ref:
            raise ValueError("new credential: give its name (letters, digits, . _ -) and where it lives")
        credentials[new_name] = new_ref
    return {
        "name": str(form.get("name", "")).strip(), "kind": config["kind"], "account": config["account"],
        "url": str(form.get("url", "")).strip() or None, "credentials": credentials, "interval_seconds": interval,
        "unprocessed_statuses": statuses or None, "options": options, "enabled": bool(form.get("enabled")),
    }


def _channel_form(request: Request, config: dict, values: dict, *, problem: str | None = None) -> Response:
    response = render(request, "channel_edit.html", status_code=422 if problem else 200, config=config,
                      values=values, credentials=sorted((config.get("credentials") or {}).keys()), problem=problem)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _other_records(services: Services, who: Acting, user: str) -> dict:
    """The newest records of the other services that name the user; a service that does not answer is named."""
    letters = [(service, status) for service in SERVICES for status in ("retried", "discarded")]
    found = await asyncio.gather(
        *(optional(services.get(who, service, "/dead-letters", {"status": status, "limit": OTHER_RECORDS}), None)
          for service, status in letters),
        optional(services.get(who, "printing", "/templates"), None),
        optional(services.get(who, "inventory", "/purchase-orders", {"limit": OTHER_RECORDS}), None),
        optional(services.get(who, "printing", "/print-jobs", {"state": "printed", "limit": OTHER_RECORDS}), None),
    )
    *closed, saved, purchase_orders, printed = found
    rows, silent = [], set()
    for (service, status), batch in zip(letters, closed, strict=True):
        if batch is None:
            silent.add(service)
            continue
        for letter in batch:
            by = letter.get("closed") or {}
            if by.get("by") == user:
                rows.append({"at": by.get("at") or letter["filed_at"], "what": f"dead letter {status}",
                             "where": f"{service}: {letter['topic']}", "detail": by.get("reason")})
    if saved is None:
        silent.add("printing")
    for template in saved or []:
        if template.get("updated_by") == user:
            scope = " · ".join(v for v in (template.get("channel"), template.get("country")) if v) or "every order"
            rows.append({"at": template.get("updated_at") or "", "what": "template saved",
                         "where": f"{template['template']} ({scope})", "detail": None})
    if purchase_orders is None:
        silent.add("inventory")
    for po in (purchase_orders or {}).get("purchase_orders", []):
        if po.get("created_by") == user:
            rows.append({"at": po.get("created_at") or "", "what": "purchase order created",
                         "where": f"{po['supplier']} ({po['status']})", "detail": None, "po_id": po["po_id"]})
    if printed is None:
        silent.add("printing")
    for job in printed or []:
        for reprint in job.get("reprint_requests") or []:
            if reprint.get("requested_by") == user:
                rows.append({"at": reprint.get("requested_at") or "", "what": f"reprint ({reprint.get('state')})",
                             "where": f"{job['document_type']} of {job.get('order_number') or job['order_id']}",
                             "detail": reprint.get("reason")})
    rows.sort(key=lambda r: _sortable(r["at"]), reverse=True)
    return {"rows": rows, "silent": sorted(silent)}


def _sortable(at: str) -> str:
    """A time as text that sorts in time order (the services all answer UTC ISO 8601)."""
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).isoformat()
    except (ValueError, AttributeError):
        return ""
