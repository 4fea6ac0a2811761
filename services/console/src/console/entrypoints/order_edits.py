"""Edits of an order while it is open (notes, tags and folder, addresses, shipping, lines) and its payments.

Each form becomes one call of the orders API as the signed-in user; what the API refuses comes back as a flash
naming its reason. A form's `form_id` is the Idempotency-Key, so a double-submitted form acts once.
"""

import re
import uuid
from collections.abc import Awaitable

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from console.adapters.services import ServiceError, Services
from console.entrypoints.common import OPS, check_csrf, flash_back, form_key, signed_in

ADDRESS_FIELDS = ("name", "company", "line1", "line2", "city", "region", "postcode", "country", "phone")
LINE_QTY = re.compile(r"^qty_(.{1,64})$")


async def _done(request: Request, back: str, what: str, call: Awaitable) -> Response:
    """Flash what happened to a call and go back to the order."""
    try:
        await call
    except ServiceError as refused:
        return flash_back(request, back, "error", f"{what}: {refused.detail}")
    return flash_back(request, back, "ok", f"{what}: done")


def order_edit_routes(services: Services) -> APIRouter:
    router = APIRouter()

    @router.post("/orders/{order_id}/notes")
    async def add_note(request: Request, order_id: uuid.UUID, text: str = Form(""), internal: str = Form(""),
                       csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        """A note: internal, or printed on the invoice."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/orders/{order_id}"
        if not text.strip():
            return flash_back(request, back, "error", "note: write something")
        body = {"text": text.strip(), "internal": internal != "invoice"}
        return await _done(request, back, "note", services.post(who, "orders", f"/orders/{order_id}/notes", body,
                                                                 key=form_key(form_id)))

    @router.post("/orders/{order_id}/notes/{note_id}/delete")
    async def remove_note(request: Request, order_id: uuid.UUID, note_id: uuid.UUID, csrf_token: str = Form(""),
                          form_id: str = Form("")) -> Response:
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        return await _done(request, f"/orders/{order_id}", "note removed",
                           services.delete(who, "orders", f"/orders/{order_id}/notes/{note_id}", key=form_key(form_id)))

    @router.post("/orders/{order_id}/edit")
    async def edit(request: Request, order_id: uuid.UUID, part: str = Form(), tags: str = Form(""),
                   folder: str = Form(""), shipping_service: str = Form(""), shipping_cost: str = Form(""),
                   csrf_token: str = Form(""), form_id: str = Form("")) -> Response:
        """Tags and folder (allowed on a locked order too), or the shipping service and cost."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/orders/{order_id}"
        if part == "labels":
            body = {"tags": sorted({t.strip() for t in tags.split(",") if t.strip()}), "folder": folder.strip()}
        elif part == "shipping":
            body = {"shipping_service": shipping_service.strip()}
            if shipping_cost.strip():
                body["shipping_cost"] = shipping_cost.strip()
        else:
            return flash_back(request, back, "error", f"unknown edit {part!r}")
        return await _done(request, back, f"edit {part}",
                           services.patch(who, "orders", f"/orders/{order_id}", body, key=form_key(form_id)))

    @router.post("/orders/{order_id}/address/{kind}")
    async def edit_address(request: Request, order_id: uuid.UUID, kind: str) -> Response:
        """The shipping or billing address, as a whole."""
        who = signed_in(request, *OPS)
        form = await request.form()
        check_csrf(request, str(form.get("csrf_token", "")))
        back = f"/orders/{order_id}"
        if kind not in ("shipping", "billing"):
            return flash_back(request, back, "error", f"unknown address {kind!r}")
        address = {f: str(form.get(f, "")).strip() for f in ADDRESS_FIELDS}
        address = {f: v.upper() if f == "country" else v for f, v in address.items() if v}
        return await _done(request, back, f"{kind} address",
                           services.patch(who, "orders", f"/orders/{order_id}", {f"{kind}_address": address},
                                          key=form_key(str(form.get("form_id", "")))))

    @router.post("/orders/{order_id}/lines")
    async def change_lines(request: Request, order_id: uuid.UUID) -> Response:
        """New quantities (0 removes the line) and at most one new line."""
        who = signed_in(request, *OPS)
        form = await request.form()
        check_csrf(request, str(form.get("csrf_token", "")))
        back, form_id = f"/orders/{order_id}", str(form.get("form_id", ""))
        order = await services.get(who, "orders", f"/orders/{order_id}")
        was = {line["line_id"]: line["quantity"] for line in order["details"]["lines"]}
        quantities, remove = [], []
        for name, value in form.items():
            match = LINE_QTY.match(name)
            if not match or match.group(1) not in was:
                continue
            try:
                quantity = int(str(value))
            except ValueError:
                return flash_back(request, back, "error", f"lines: {value!r} is not a whole number")
            if quantity <= 0:
                remove.append(match.group(1))
            elif quantity != was[match.group(1)]:
                quantities.append({"line_id": match.group(1), "quantity": quantity})
        add = []
        if str(form.get("add_sku", "")).strip():
            add.append({"line_id": f"c{form_key(form_id)[-10:]}", "sku": str(form["add_sku"]).strip(),
                        "title": str(form.get("add_title", "")).strip() or str(form["add_sku"]).strip(),
                        "quantity": str(form.get("add_quantity", "1")).strip() or "1",
                        "unit_price": str(form.get("add_unit_price", "0")).strip() or "0"})
        if not (add or remove or quantities):
            return flash_back(request, back, "error", "lines: nothing changed")
        return await _done(request, back, "lines",
                           services.post(who, "orders", f"/orders/{order_id}/lines",
                                         {"add": add, "remove": remove, "quantities": quantities},
                                         key=form_key(form_id)))

    @router.post("/orders/{order_id}/payments")
    async def record_payment(request: Request, order_id: uuid.UUID, transaction_id: str = Form(""),
                             amount: str = Form(""), fee: str = Form("0"), method: str = Form("manual"),
                             kind: str = Form("payment"), note: str = Form(""), csrf_token: str = Form(""),
                             form_id: str = Form("")) -> Response:
        """A payment or refund found by hand (bank transfer, cash, a PayPal payment matched by eye)."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        back = f"/orders/{order_id}"
        if not transaction_id.strip() or not amount.strip():
            return flash_back(request, back, "error", "payment: give the transaction id and the amount")
        body = {"transaction_id": transaction_id.strip(), "amount": amount.strip(), "fee": fee.strip() or "0",
                "method": method.strip() or "manual", "kind": kind, "note": note.strip() or None}
        return await _done(request, back, kind, services.post(who, "orders", f"/orders/{order_id}/payments", body,
                                                               key=form_key(form_id)))

    return router
