"""Inventory pages beyond levels and the ledger: purchase orders (create, view, receive a delivery, open, cancel),
adjustments, stock counts and transfers with a reason, and the low-stock and oversold lists.

Each form is one call of the inventory API as the signed-in user; what it refuses comes back as a flash naming
its reason. A form's `form_id` is the Idempotency-Key, so a double-submitted form acts once.
"""

import re
import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from console.adapters.services import ServiceError, Services
from console.entrypoints.common import OPS, check_csrf, flash_back, form_key, render, signed_in

PO_STATES = ("pending", "open", "partially_delivered", "delivered", "cancelled")
PO_LINE = re.compile(r"^(sku|qty)_(\d{1,3})$")
NEW_PO_ROWS = 6  # empty line rows on the create form


def _quantity(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a whole number") from None


def _po_lines(form) -> list[dict]:
    """The filled `sku_N`/`qty_N` rows of a form; a row with a SKU and no quantity is refused."""
    rows: dict[str, dict] = {}
    for name, value in form.items():
        if match := PO_LINE.match(name):
            rows.setdefault(match.group(2), {})[match.group(1)] = str(value).strip()
    lines = []
    for row in rows.values():
        if not row.get("sku"):
            continue
        quantity = _quantity(row.get("qty", ""), row["sku"])
        if quantity > 0:
            lines.append({"sku": row["sku"], "quantity": quantity})
    return lines


def inventory_routes(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get("/inventory/low", response_class=HTMLResponse)
    async def low_stock(request: Request, after: str | None = None) -> Response:
        who = signed_in(request, *OPS)
        page = await services.get(who, "inventory", "/stock/low", {"after": after, "limit": 100})
        return render(request, "stock_low.html", page=page)

    @router.get("/inventory/oversold", response_class=HTMLResponse)
    async def oversold(request: Request, after: str | None = None) -> Response:
        who = signed_in(request, *OPS)
        page = await services.get(who, "inventory", "/stock/oversold", {"after": after, "limit": 100})
        return render(request, "stock_oversold.html", page=page)

    @router.post("/stock/{sku}/change")
    async def change_stock(request: Request, sku: str, kind: str = Form(), reason: str = Form(""),
                           location: str = Form(""), amount: str = Form(""), to_location: str = Form(""),
                           csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        """An adjustment (+/−), a stock count (the number on the shelf) or a transfer, always with a reason."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/stock/{sku}"
        if not reason.strip():
            return flash_back(request, back, "error", f"{kind}: give a reason")
        try:
            number = _quantity(amount, kind)
        except ValueError as bad:
            return flash_back(request, back, "error", str(bad))
        location = location.strip() or "default"
        if kind == "adjust":
            path, body = "adjustments", {"location": location, "delta": number, "reason": reason.strip()}
        elif kind == "count":
            path, body = "counts", {"location": location, "counted": number, "reason": reason.strip()}
        elif kind == "transfer":
            path, body = "transfers", {"from_location": location, "to_location": to_location.strip(),
                                       "quantity": number, "reason": reason.strip()}
        else:
            return flash_back(request, back, "error", f"unknown stock change {kind!r}")
        try:
            await services.post(who, "inventory", f"/stock/{sku}/{path}", body, key=form_key(form_id))
        except ServiceError as refused:
            return flash_back(request, back, "error", f"{kind}: {refused.detail}")
        return flash_back(request, back, "ok", f"{kind}: sent (the levels follow in a moment)")

    @router.get("/purchase-orders", response_class=HTMLResponse)
    async def purchase_orders(request: Request, status: str = "", after: str | None = None) -> Response:
        who = signed_in(request, *OPS)
        status = status if status in PO_STATES else ""
        page = await services.get(who, "inventory", "/purchase-orders", {"status": status, "after": after,
                                                                         "limit": 100})
        return render(request, "purchase_orders.html", page=page, status=status, states=PO_STATES,
                      rows=range(NEW_PO_ROWS))

    @router.post("/purchase-orders")
    async def create_purchase_order(request: Request) -> Response:
        who = signed_in(request, *OPS)
        form = await request.form()
        check_csrf(request, str(form.get("csrf_token", "")))
        try:
            lines = _po_lines(form)
        except ValueError as bad:
            return flash_back(request, "/purchase-orders", "error", f"purchase order: {bad}")
        supplier = str(form.get("supplier", "")).strip()
        if not supplier or not lines:
            return flash_back(request, "/purchase-orders", "error", "purchase order: give a supplier and a line")
        body = {"supplier": supplier, "lines": lines, "expected_on": str(form.get("expected_on", "")) or None,
                "status": "pending" if form.get("draft") else "open"}
        try:
            made = await services.post(who, "inventory", "/purchase-orders", body,
                                       key=form_key(str(form.get("form_id", ""))))
        except ServiceError as refused:
            return flash_back(request, "/purchase-orders", "error", f"purchase order: {refused.detail}")
        target = f"/purchase-orders/{made['po_id']}" if "po_id" in made else made["status_url"]
        return flash_back(request, target, "ok", f"purchase order from {supplier}: created")

    @router.get("/purchase-orders/{po_id}", response_class=HTMLResponse)
    async def purchase_order(request: Request, po_id: uuid.UUID) -> Response:
        who = signed_in(request, *OPS)
        po = await services.get(who, "inventory", f"/purchase-orders/{po_id}")
        return render(request, "purchase_order.html", po=po)

    @router.post("/purchase-orders/{po_id}/deliveries")
    async def receive(request: Request, po_id: uuid.UUID) -> Response:
        """What arrived, per SKU; more than outstanding is refused by inventory and nothing is received."""
        who = signed_in(request, *OPS)
        form = await request.form()
        check_csrf(request, str(form.get("csrf_token", "")))
        back = f"/purchase-orders/{po_id}"
        try:
            lines = _po_lines(form)
        except ValueError as bad:
            return flash_back(request, back, "error", f"delivery: {bad}")
        if not lines:
            return flash_back(request, back, "error", "delivery: give the quantity of at least one line")
        try:
            await services.post(who, "inventory", f"/purchase-orders/{po_id}/deliveries", {"lines": lines},
                                key=form_key(str(form.get("form_id", ""))))
        except ServiceError as refused:
            return flash_back(request, back, "error", f"delivery: {refused.detail}")
        return flash_back(request, back, "ok", "delivery received")

    @router.post("/purchase-orders/{po_id}/{action}")
    async def po_action(request: Request, po_id: uuid.UUID, action: str, reason: str = Form(""),
                        csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        """Send a draft to the supplier (open), or cancel with a reason."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/purchase-orders/{po_id}"
        if action not in ("open", "cancel"):
            return flash_back(request, back, "error", f"unknown action {action!r}")
        if action == "cancel" and not reason.strip():
            return flash_back(request, back, "error", "cancel: give a reason")
        body = {"reason": reason.strip()} if action == "cancel" else None
        try:
            await services.post(who, "inventory", f"/purchase-orders/{po_id}/{action}", body, key=form_key(form_id))
        except ServiceError as refused:
            return flash_back(request, back, "error", f"{action}: {refused.detail}")
        return flash_back(request, back, "ok", f"{action}: done")

    return router
