"""Payments no order was found for (unmatched) or several orders fit (ambiguous): staff match them by hand.

The orders service files every provider payment; matching one records it on the order (and marks it paid) as
the signed-in user.
"""

import asyncio
import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from console.adapters.services import ServiceError, Services
from console.entrypoints.common import OPS, check_csrf, flash_back, form_key, optional, render, signed_in


def payments_routes(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get("/payments", response_class=HTMLResponse)
    async def unmatched(request: Request) -> Response:
        who = signed_in(request, *OPS)
        payments = await services.get(who, "orders", "/payments/unmatched", {"limit": 200})
        # the candidates' numbers, so staff choose by what they know
        ids = sorted({str(c) for p in payments for c in p["candidates"]})
        found = await asyncio.gather(*(optional(services.get(who, "orders", f"/orders/{i}"), None) for i in ids))
        candidates = {i: o for i, o in zip(ids, found, strict=True) if o}
        return render(request, "payments.html", payments=payments, candidates=candidates)

    @router.post("/payments/{payment_id}/match")
    async def match(request: Request, payment_id: uuid.UUID, order: str = Form(""), csrf_token: str = Form(""),
                    form_id: str = Form("")) -> Response:
        """Match to an order given by its id (a candidate's button) or its number (typed)."""
        who = signed_in(request, *OPS)
        check_csrf(request, csrf_token)
        order = order.strip()
        if not order:
            return flash_back(request, "/payments", "error", "match: give the order number")
        try:
            order_id = str(uuid.UUID(order))
        except ValueError:
            page = await services.get(who, "orders", "/orders", {"q": order, "limit": 20})
            exact = [o for o in page["items"] if o["order_number"] == order]
            if len(exact) != 1:
                return flash_back(request, "/payments", "error", f"match: no single order numbered {order}")
            order_id = exact[0]["order_id"]
        try:
            await services.post(who, "orders", f"/payments/{payment_id}/match", {"order_id": order_id},
                                key=form_key(form_id))
        except ServiceError as refused:
            return flash_back(request, "/payments", "error", f"match: {refused.detail}")
        return flash_back(request, "/payments", "ok", f"payment matched to order {order}")

    return router
