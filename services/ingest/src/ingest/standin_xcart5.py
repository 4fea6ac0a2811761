"""An X-Cart 5 REST API add-on stand-in for tests: `GET/PUT {shop}/admin.php?target=RESTAPI&_key=…&_path=order[/id]`.

It keeps orders as plain dicts in the add-on's default schema, checks the read and read/write keys (403 otherwise),
filters the list on `_cnd[shippingStatus]` and `_cnd[dateRange]`, sorts by order id and pages with
`_cnd[limit]=[offset, size]`; a PUT applies `model[shippingStatus][code]` and `model[trackingNumbers][n][value]`
and moves `lastRenewDate`. Serve it with `ingest.standins.serve(stand_in.app)`.
"""

import re
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class XCart5StandIn:
    """One shop's orders; `calls` counts requests, `puts` records each write as (order id, form)."""

    def __init__(self, orders: list[dict], *, key: str, write_key: str) -> None:
        self.orders = {int(o["order_id"]): o for o in orders}
        self.key, self.write_key = key, write_key
        self.calls = 0
        self.puts: list[tuple[int, dict]] = []
        self.app = FastAPI()
        self.app.get("/admin.php")(self.get)
        self.app.put("/admin.php")(self.put)

    def _refused(self, request: Request, *, write: bool) -> JSONResponse | None:
        q = request.query_params
        allowed = {self.write_key} if write else {self.key, self.write_key}
        if q.get("target") != "RESTAPI" or q.get("_key") not in allowed:
            return JSONResponse(status_code=403, content="Access denied")
        return None

    async def get(self, request: Request) -> JSONResponse:
        self.calls += 1
        refused = self._refused(request, write=False)
        if refused is not None:
            return refused
        q = request.query_params
        path = q.get("_path", "")
        if match := re.fullmatch(r"order/(\d+)", path):
            return JSONResponse(self.orders.get(int(match.group(1))))  # null when there is none, as X-Cart does
        if path != "order":
            return JSONResponse(status_code=404, content=f"unknown path {path}")
        found = sorted(self.orders.values(), key=lambda o: int(o["order_id"]))
        if status := q.get("_cnd[shippingStatus]"):
            found = [o for o in found if o["shippingStatus"]["code"] == status]
        if q.get("_cnd[dateRange][0]") is not None:
            start, end = int(q["_cnd[dateRange][0]"]), int(q.get("_cnd[dateRange][1]", 2**31))
            found = [o for o in found if start <= int(o["date"]) <= end]
        offset, size = int(q.get("_cnd[limit][0]", 0)), int(q.get("_cnd[limit][1]", 100))
        return JSONResponse(found[offset: offset + size])

    async def put(self, request: Request) -> JSONResponse:
        self.calls += 1
        refused = self._refused(request, write=True)
        if refused is not None:
            return refused
        match = re.fullmatch(r"order/(\d+)", request.query_params.get("_path", ""))
        order = self.orders.get(int(match.group(1))) if match else None
        if order is None:
            return JSONResponse(status_code=404, content="order not found")
        form = dict(await request.form())
        self.puts.append((int(order["order_id"]), form))
        if code := form.get("model[shippingStatus][code]"):
            order["shippingStatus"] = {**order["shippingStatus"], "code": code}
        numbers = [form[k] for k in sorted(form, key=_index) if k.startswith("model[trackingNumbers]")]
        if numbers:
            order["trackingNumbers"] = [{"value": number} for number in numbers]
        order["lastRenewDate"] = max(int(order["lastRenewDate"]) + 1, int(time.time()))
        return JSONResponse(order)


def _index(field: str) -> int:
    found = re.search(r"\[(\d+)\]", field)
    return int(found.group(1)) if found else 0
