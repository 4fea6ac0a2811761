"""The ops console's pages. Every page and action goes through `Services` (the other services' APIs) as the
signed-in user; the console itself keeps only its users.

Sessions are signed cookies (SameSite=strict); every form that changes something carries the session's CSRF
token, compared in constant time. Roles: admin (everything, users), ops (orders, stock, printing, channels),
packer (the pack station only).
"""

import asyncio
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from importlib.resources import files
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from console.adapters.services import SERVICES, Acting, ServiceError, Services
from console.adapters.users import UserStore
from console.domain.users import UserError, new_user, password_matches
from console.entrypoints.common import (
    JOB_STATES, LABEL_ACTIONS, LIST_FILTERS, OPS, ORDER_ACTIONS, PACK, STATION, BadCsrf, Forbidden, SignInRequired,
    check_csrf, flash, flash_back, form_key, grid_row, next_query, optional, render, safe_next, signed_in,
)
from console.entrypoints.admin_pages import admin_routes
from console.entrypoints.batches_pages import batches_routes
from console.entrypoints.channels_pages import channels_routes
from console.entrypoints.inventory_pages import inventory_routes
from console.entrypoints.order_edits import order_edit_routes
from console.entrypoints.payments_pages import payments_routes
from console.entrypoints.printing_pages import printing_routes


FAILED_WRITEBACK_PAGES = 5


def build_app(*, users: UserStore, services: Services, session_secret: str, secure_cookies: bool = False,
              session_hours: float = 12, live_poll_seconds: float = 2.0) -> FastAPI:
    """The console app: pages, static files, sessions and the error pages."""
    app = FastAPI(title="OMS console", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SessionMiddleware, secret_key=session_secret, session_cookie="oms_console",
                       max_age=int(session_hours * 3600), same_site="strict", https_only=secure_cookies)
    app.mount("/static", StaticFiles(directory=str(files("console") / "static")), name="static")
    app.include_router(_pages(users, services, live_poll_seconds))
    app.include_router(order_edit_routes(services))
    app.include_router(inventory_routes(services))
    app.include_router(printing_routes(services))
    app.include_router(payments_routes(services))
    app.include_router(channels_routes(services))
    app.include_router(batches_routes(services))
    app.include_router(admin_routes(services, users))

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, _: SignInRequired) -> Response:
        return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "error.html", status_code=403, title="Not allowed",
                     message=f"Your role ({exc}) may not open this page.")

    @app.exception_handler(BadCsrf)
    async def bad_csrf(request: Request, _: BadCsrf) -> Response:
        return render(request, "error.html", status_code=403, title="Form expired",
                     message="This form is not from your current session. Reload the page and try again.")

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        code = exc.status if 400 <= exc.status < 600 else 502
        return render(request, "error.html", status_code=code, title=f"The system said no ({exc.status})",
                     message=exc.detail)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        return {"status": "ok"}

    return app


def _pages(users: UserStore, services: Services, live_poll_seconds: float) -> APIRouter:
    router = APIRouter()

    # --- sign in and out ---

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return render(request, "login.html", next=safe_next(next), error=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request, username: str = Form(max_length=64), password: str = Form(max_length=200),
                    next: str = Form("/")) -> Response:
        user = await users.get(username)
        if not password_matches(user, password):
            return render(request, "login.html", status_code=401, next=safe_next(next),
                         error="Wrong user name or password, or the user is disabled.")
        request.session.clear()
        request.session.update({"user": user.name, "role": user.role, "csrf": secrets.token_urlsafe(32)})
        target = safe_next(next)
        if target == "/":
            target = "/pack" if user.role == "packer" else "/orders"
        return RedirectResponse(target, status_code=303)

    @router.post("/logout")
    async def logout(request: Request, csrf_token: str = Form("")) -> Response:
        check_csrf(request, csrf_token)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @router.get("/")
    async def home(request: Request) -> Response:
        who = signed_in(request, *PACK)
        return RedirectResponse("/pack" if who.role == "packer" else "/orders", status_code=303)

    # --- open and processed orders ---

    @router.get("/orders", response_class=HTMLResponse)
    async def open_orders(request: Request) -> Response:
        who = signed_in(request, *OPS)
        filters = {k: request.query_params.get(k) for k in LIST_FILTERS}
        page = await services.get(who, "orders", "/orders", {"status": "open", **filters, "limit": 100})
        counts = await _counts(services, who)
        return render(request, "orders.html", page=page, filters=filters, counts=counts,
                      failed_writebacks=await _failed_writebacks(services, who, page["items"]),
                     actions=("process", *ORDER_ACTIONS, "merge", *LABEL_ACTIONS), next_query=next_query(filters, page))

    @router.get("/processed", response_class=HTMLResponse)
    async def processed_orders(request: Request) -> Response:
        who = signed_in(request, *OPS)
        filters = {k: request.query_params.get(k) for k in LIST_FILTERS}
        page = await services.get(who, "orders", "/orders", {"status": "processed", **filters, "limit": 100})
        return render(request, "processed.html", page=page, filters=filters,
                      failed_writebacks=await _failed_writebacks(services, who, page["items"]),
                      next_query=next_query(filters, page))

    @router.get("/orders/live")
    async def live_orders(request: Request) -> Response:
        """Server-sent events: each order that newly appears in Open Orders, as a JSON row."""
        who = signed_in(request, *OPS)
        return StreamingResponse(_new_orders(request, services, who, live_poll_seconds),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @router.post("/orders/batch")
    async def batch(request: Request, action: str = Form(), reason: str = Form(""), label: str = Form(""),
                    csrf_token: str = Form(""),
                    form_id: str = Form(""), order_id: list[uuid.UUID] = Form(default_factory=list)) -> Response:
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        if action == "merge":
            return await _merge(request, services, who, order_id, form_id)
        if action not in ("process", *ORDER_ACTIONS, *LABEL_ACTIONS):
            return flash_back(request, "/orders", "error", f"unknown action {action!r}")
        if not order_id:
            return flash_back(request, "/orders", "error", "select at least one order")
        if action in LABEL_ACTIONS:
            if not label.strip():
                return flash_back(request, "/orders", "error", f"{action}: give the {action} name")
            results = await asyncio.gather(
                *(_label(services, who, oid, action, label.strip(), form_key(form_id, str(oid))) for oid in order_id)
            )
        else:
            if action != "process" and not reason.strip():
                return flash_back(request, "/orders", "error", f"{action}: give a reason")
            results = await asyncio.gather(
                *(_act(services, who, oid, action, reason, form_key(form_id, str(oid))) for oid in order_id)
            )
        refused = [r for r in results if r]
        done = len(results) - len(refused)
        flash(request, "ok", f"{action}: {done} of {len(results)} done")
        for message in refused:
            flash(request, "error", message)
        return RedirectResponse("/orders", status_code=303)

    @router.get("/orders/{order_id}", response_class=HTMLResponse)
    async def order_page(request: Request, order_id: uuid.UUID) -> Response:
        who = signed_in(request, *OPS)
        order = await services.get(who, "orders", f"/orders/{order_id}")
        jobs = await optional(services.get(who, "printing", "/print-jobs", {"order_id": str(order_id)}), [])
        writebacks = await optional(services.get(who, "ingest", "/writebacks", {"order_id": str(order_id)}), [])
        payments = await optional(services.get(who, "orders", f"/orders/{order_id}/payments"), None)
        return render(request, "order.html", order=order, jobs=jobs, writebacks=writebacks, payments=payments,
                      actions=ORDER_ACTIONS)

    @router.post("/orders/{order_id}/writebacks/{writeback_id}/retry")
    async def retry_writeback(request: Request, order_id: uuid.UUID, writeback_id: uuid.UUID,
                              csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        """Try a failed channel write-back (or follow-up email) again."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/orders/{order_id}"
        try:
            await services.post(who, "ingest", f"/writebacks/{writeback_id}/retry", key=form_key(form_id))
        except ServiceError as refused:
            return flash_back(request, back, "error", f"retry: {refused.detail}")
        return flash_back(request, back, "ok", "channel write-back: tried again")

    @router.get("/orders/{order_id}/invoice.pdf")
    async def invoice(request: Request, order_id: uuid.UUID) -> Response:
        """The order's invoice exactly as it printed (the newest revision)."""
        who = signed_in(request, *OPS)
        jobs = await services.get(who, "printing", "/print-jobs", {"order_id": str(order_id), "limit": 100})
        invoices = sorted((j for j in jobs if j["document_type"] == "invoice"), key=lambda j: j.get("revision", 1))
        if not invoices:
            raise ServiceError(404, "No invoice has been printed for this order yet.")
        document = await services.get_bytes(who, "printing", f"/print-jobs/{invoices[-1]['job_id']}/document")
        number = re.sub(r"[^A-Za-z0-9._-]", "_", invoices[-1].get("order_number") or str(order_id))
        return Response(document.content, media_type=document.headers.get("content-type", "application/pdf"),
                        headers={"Content-Disposition": f'attachment; filename="invoice-{number}.pdf"'})

    @router.post("/orders/{order_id}/act")
    async def order_action(request: Request, order_id: uuid.UUID, action: str = Form(), reason: str = Form(""),
                           csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/orders/{order_id}"
        if action not in ("process", *ORDER_ACTIONS):
            return flash_back(request, back, "error", f"unknown action {action!r}")
        if action != "process" and not reason.strip():
            return flash_back(request, back, "error", f"{action}: give a reason")
        refused = await _act(services, who, order_id, action, reason, form_key(form_id))
        return flash_back(request, back, "error" if refused else "ok", refused or f"{action}: done")

    @router.post("/orders/{order_id}/lines-action")
    async def lines_action(request: Request, order_id: uuid.UUID) -> Response:
        """Split (open order), resend or return (processed order): chosen quantities per line."""
        who = signed_in(request, *OPS)
        form = await request.form()
        check_csrf(request, str(form.get("csrf_token", "")))
        back, action = f"/orders/{order_id}", str(form.get("action", ""))
        lines = []
        for name, value in form.multi_items():
            if name.startswith("qty_") and str(value).strip() not in ("", "0"):
                line_id = name.removeprefix("qty_")
                try:
                    quantity = int(str(value))
                except ValueError:
                    return flash_back(request, back, "error", f"line {line_id}: {value!r} is not a quantity")
                line = {"line_id": line_id, "quantity": quantity}
                if action == "return":
                    line["action"] = "restock" if form.get(f"action_{line_id}") == "restock" else "scrap"
                lines.append(line)
        if not lines:
            return flash_back(request, back, "error", f"{action}: choose at least one line and quantity")
        if action in ("split", "resend"):
            path, body = f"/orders/{order_id}/{action}", {"lines": lines, "reason": str(form.get("reason", ""))}
        elif action == "return":
            path = f"/orders/{order_id}/returns"
            body = {"lines": lines, "reason_category": str(form.get("reason_category", "")),
                    "refund": str(form.get("refund", "") or "0")}
        else:
            return flash_back(request, back, "error", f"unknown action {action!r}")
        try:
            made = await services.post(who, "orders", path, body, key=form_key(str(form.get("form_id", ""))))
        except ServiceError as refused:
            return flash_back(request, back, "error", f"{action}: {refused.detail}")
        if action in ("split", "resend") and made and "order_id" in made:
            return flash_back(request, f"/orders/{made['order_id']}", "ok", f"{action}: this is the new order")
        return flash_back(request, back, "ok", f"{action}: booked")

    @router.post("/orders/{order_id}/returns/{rma_id}/receive")
    async def receive_return(request: Request, order_id: uuid.UUID, rma_id: uuid.UUID, csrf_token: str = Form(""),
                             form_id: str = Form("")) -> Response:
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/orders/{order_id}"
        try:
            await services.post(who, "orders", f"/orders/{order_id}/returns/{rma_id}/receive", key=form_key(form_id))
        except ServiceError as refused:
            return flash_back(request, back, "error", f"receive: {refused.detail}")
        return flash_back(request, back, "ok", "return received")

    # --- stock, printing, channels ---

    @router.get("/stock", response_class=HTMLResponse)
    async def stock(request: Request, after: str | None = None) -> Response:
        who = signed_in(request, *OPS)
        page = await services.get(who, "inventory", "/stock-items", {"after": after, "limit": 100})
        levels = await asyncio.gather(
            *(optional(services.get(who, "inventory", f"/stock/{item['sku']}"), None) for item in page["items"])
        )
        return render(request, "stock.html", page=page, rows=list(zip(page["items"], levels, strict=True)))

    @router.get("/stock/{sku}", response_class=HTMLResponse)
    async def stock_item(request: Request, sku: str) -> Response:
        who = signed_in(request, *OPS)
        item = await optional(services.get(who, "inventory", f"/stock-items/{sku}"), None)
        levels = await optional(services.get(who, "inventory", f"/stock/{sku}"), None)
        if item is None and levels is None:
            raise ServiceError(404, f"SKU {sku} has neither a stock item nor stock")
        ledger = await optional(services.get(who, "inventory", f"/stock/{sku}/ledger"), {"entries": []})
        return render(request, "stock_item.html", item=item, levels=levels, ledger=ledger)

    @router.get("/printing", response_class=HTMLResponse)
    async def printing(request: Request, state: str = "") -> Response:
        who = signed_in(request, *OPS)
        state = state if state in JOB_STATES else ""
        jobs, printers, stations = await asyncio.gather(
            services.get(who, "printing", "/print-jobs", {"limit": 100, "state": state}),
            optional(services.get(who, "printing", "/printers"), None),
            optional(services.get(who, "printing", "/stations"), None))
        return render(request, "printing.html", jobs=jobs, printers=printers, stations=stations, state=state,
                      states=JOB_STATES, new_station=None)

    @router.post("/printing/{job_id}/reprint")
    async def reprint(request: Request, job_id: uuid.UUID, reason: str = Form(""),
                      csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        if not reason.strip():
            return flash_back(request, "/printing", "error", "reprint: give a reason")
        try:
            answer = await services.post(who, "printing", f"/print-jobs/{job_id}/reprint", {"reason": reason},
                                         key=form_key(form_id, "reprint"))
        except ServiceError as refused:
            return flash_back(request, "/printing", "error", f"reprint: {refused.detail}")
        # A station's job prints when that station's agent takes it; a network printer's has printed (or failed),
        # unless the printer was slower than the printing API waits.
        state, station = (answer or {}).get("state"), (answer or {}).get("station")
        if state == "failed":
            return flash_back(request, "/printing", "error", f"reprint failed: {answer.get('error')}")
        waiting = (f"reprint queued for station {station}: its agent prints it" if station
                   else "reprint queued for its printer: the job's history shows when it printed")
        text = {"printed": "reprinted", "waiting": waiting}
        return flash_back(request, "/printing", "ok", text.get(state, "reprint sent"))

    @router.get("/channels", response_class=HTMLResponse)
    async def channels(request: Request) -> Response:
        who = signed_in(request, *OPS)
        listed = await services.get(who, "ingest", "/channels")
        intake, capabilities = await asyncio.gather(
            optional(services.get(who, "ingest", "/intake", {"status": "failed"}), []),
            optional(services.get(who, "ingest", "/channels/capabilities"), None))
        return render(request, "channels.html", channels=listed, intake=intake, capabilities=capabilities)

    @router.post("/channels/{channel_id}/download")
    async def download_now(request: Request, channel_id: str, csrf_token: str = Form("")) -> Response:
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        try:
            await services.post(who, "ingest", f"/channels/{channel_id}/download")
        except ServiceError as refused:
            return flash_back(request, "/channels", "error", f"{channel_id}: {refused.detail}")
        return flash_back(request, "/channels", "ok", f"{channel_id}: download asked for")

    # --- dead letters (every service keeps its own) ---

    @router.get("/dead-letters", response_class=HTMLResponse)
    async def dead_letters(request: Request, status: str = "new") -> Response:
        who = signed_in(request, *OPS)
        params = {"status": status} if status in ("new", "retried", "discarded") else {}
        found = await asyncio.gather(
            *(optional(services.get(who, service, "/dead-letters", params), None) for service in SERVICES)
        )
        letters = sorted((letter for batch in found if batch for letter in batch),
                         key=lambda letter: letter["filed_at"], reverse=True)
        silent = [service for service, batch in zip(SERVICES, found, strict=True) if batch is None]
        return render(request, "dead_letters.html", letters=letters, status=status, silent=silent)

    @router.post("/dead-letters/{service}/{letter_id}/{action}")
    async def dead_letter_action(request: Request, service: str, letter_id: str, action: str,
                                 reason: str = Form(""), csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        if service not in SERVICES or action not in ("retry", "discard"):
            return flash_back(request, "/dead-letters", "error", "unknown service or action")
        if not reason.strip():
            return flash_back(request, "/dead-letters", "error", f"{action}: give a reason")
        try:
            await services.post(who, service, f"/dead-letters/{letter_id}/{action}", {"reason": reason},
                                key=form_key(form_id))
        except ServiceError as refused:
            return flash_back(request, "/dead-letters", "error", f"{action}: {refused.detail}")
        return flash_back(request, "/dead-letters", "ok", f"{action}: done ({letter_id})")

    # --- pack station ---

    @router.get("/pack", response_class=HTMLResponse)
    async def pack(request: Request, order: str = "", station: str = "") -> Response:
        """The packing queue of this bench; scan (or type) an order number to open it."""
        who = signed_in(request, *PACK)
        if station.strip():
            if not STATION.match(station.strip()):
                return flash_back(request, "/pack", "error", "a station name is letters, digits, . _ -")
            request.session["station"] = station.strip()
        queue = await services.get(who, "fulfilment", "/shipments", {"status": "packing", "limit": 200})
        if order.strip():
            found = [s for s in queue if s["order_number"] == order.strip()]
            if found:
                return RedirectResponse(f"/pack/{found[0]['order_id']}", status_code=303)
            return render(request, "pack.html", status_code=404, queue=queue, station=request.session.get("station"),
                         error=f"Order {order.strip()!r} is not waiting to be packed. Check the number.")
        return render(request, "pack.html", queue=queue, station=request.session.get("station"), error=None)

    @router.get("/pack/{order_id}", response_class=HTMLResponse)
    async def pack_order(request: Request, order_id: uuid.UUID) -> Response:
        who = signed_in(request, *PACK)
        shipment = await services.get(who, "fulfilment", f"/shipments/{order_id}")
        return render(request, "pack_order.html", shipment=shipment, station=request.session.get("station"))

    @router.post("/pack/{order_id}/scan")
    async def scan(request: Request, order_id: uuid.UUID, code: str = Form(""), csrf_token: str = Form("")) -> Response:
        who = signed_in(request, *PACK)
        check_csrf(request, csrf_token)
        back, station = f"/pack/{order_id}", request.session.get("station")
        if not station:
            return flash_back(request, "/pack", "error", "choose this bench's station first")
        if not code.strip():
            return flash_back(request, back, "error", "scan an item")
        try:
            shipment = await services.post(who, "fulfilment", f"/pack/{order_id}/scan",
                                           {"code": code.strip(), "station": station})
        except ServiceError as refused:
            return flash_back(request, back, "error", f"REFUSED {code.strip()}: {refused.detail}")
        if shipment and shipment.get("status") not in ("packing", None):
            return flash_back(request, "/pack", "ok",
                               f"order {shipment['order_number']} packed: label and invoice printing at {station}")
        return flash_back(request, back, "ok", f"{code.strip()} scanned")

    # --- users (admin) ---

    @router.get("/settings/users", response_class=HTMLResponse)
    async def user_list(request: Request) -> Response:
        signed_in(request, "admin")
        return render(request, "users.html", users=await users.all())

    @router.post("/settings/users")
    async def add_user(request: Request, username: str = Form(max_length=64), role: str = Form(),
                       password: str = Form(max_length=200), csrf_token: str = Form("")) -> Response:
        signed_in(request, "admin")
        check_csrf(request, csrf_token)
        try:
            await users.add(new_user(username, role, password))
        except UserError as refused:
            return flash_back(request, "/settings/users", "error", str(refused))
        return flash_back(request, "/settings/users", "ok", f"user {username} added")

    @router.post("/settings/users/{name}/active")
    async def set_active(request: Request, name: str, active: bool = Form(), csrf_token: str = Form("")) -> Response:
        who = signed_in(request, "admin")
        check_csrf(request, csrf_token)
        if name == who.name and not active:
            return flash_back(request, "/settings/users", "error", "you cannot disable yourself")
        try:
            await users.set_active(name, active)
        except UserError as refused:
            return flash_back(request, "/settings/users", "error", str(refused))
        return flash_back(request, "/settings/users", "ok", f"user {name} {'enabled' if active else 'disabled'}")

    return router


# --- helpers ---



async def _merge(request: Request, services: Services, who: Acting, order_ids: list[uuid.UUID],
                 form_id: str) -> Response:
    if len(order_ids) < 2:
        return flash_back(request, "/orders", "error", "merge: select two or more orders")
    try:
        merged = await services.post(who, "orders", "/orders/merge", {"order_ids": [str(o) for o in order_ids]},
                                     key=form_key(form_id))
    except ServiceError as refused:
        return flash_back(request, "/orders", "error", f"merge: {refused.detail}")
    return flash_back(request, f"/orders/{merged['order_id']}", "ok", f"merge: {len(order_ids)} orders merged into this one")


async def _act(services: Services, who: Acting, order_id: uuid.UUID, action: str, reason: str,
               key: str) -> str | None:
    """Do one order action; None when done, else what the orders service said."""
    body = None if action == "process" else {"reason": reason}
    try:
        await services.post(who, "orders", f"/orders/{order_id}/{action}", body, key=key)
    except ServiceError as refused:
        return f"{action} {order_id}: {refused.detail}"
    return None



async def _counts(services: Services, who: Acting) -> dict | None:
    return await optional(services.get(who, "orders", "/orders/counts", {"status": "open"}), None)


async def _label(services: Services, who: Acting, order_id: uuid.UUID, action: str, name: str,
                 key: str) -> str | None:
    """Add a tag to an order (keeping its others) or move it to a folder; None when done, else why not."""
    try:
        if action == "tag":
            order = await services.get(who, "orders", f"/orders/{order_id}")
            body = {"tags": sorted({*order.get("tags", []), name})}
        else:
            body = {"folder": name}
        await services.patch(who, "orders", f"/orders/{order_id}", body, key=key)
    except ServiceError as refused:
        return f"{action} {order_id}: {refused.detail}"
    return None


async def _failed_writebacks(services: Services, who: Acting, orders: list[dict]) -> set[str]:
    """The orders on a page with a channel write-back that failed: ingest lists the failed ones across orders,
    a page of 500 at a time (a handful of pages at most, so a flood of failures cannot stall the grid)."""
    on_page = {o["order_id"] for o in orders}
    failed: set[str] = set()
    after = None
    for _ in range(FAILED_WRITEBACK_PAGES):
        found = await optional(services.get(who, "ingest", "/writebacks", {"state": "failed", "limit": 500,
                                                                           "after": after}), [])
        failed |= {wb["order_id"] for wb in found} & on_page
        if len(found) < 500:
            break
        after = found[-1]["writeback_id"]
    return failed


async def _new_orders(request: Request, services: Services, who: Acting, every: float) -> AsyncIterator[str]:
    """Poll the newest open orders and send each one not seen before; a comment line keeps proxies open."""
    seen: set[str] | None = None
    while not await request.is_disconnected():
        try:
            page = await services.get(who, "orders", "/orders", {"status": "open", "sort": "newest", "limit": 50})
        except ServiceError as down:
            yield f"event: problem\ndata: {json.dumps(down.detail)}\n\n"
            page = None
        if page is not None:
            ids = [o["order_id"] for o in page["items"]]
            if seen is None:
                seen = set(ids)  # what the page already shows
            for order in reversed(page["items"]):
                if order["order_id"] not in seen:
                    seen.add(order["order_id"])
                    yield f"event: order\ndata: {json.dumps(grid_row(order))}\n\n"
        yield ": keep-alive\n\n"
        await asyncio.sleep(every)


