"""A Shopify Admin REST stand-in for tests and demos: `GET /admin/api/{version}/orders.json`.

What it implements, as documented for the REST Admin API: the `X-Shopify-Access-Token` header; filters `status`
(open = neither closed nor cancelled, closed, cancelled, any; default open), `fulfillment_status` (unshipped =
nothing fulfilled, partial, shipped, unfulfilled = unshipped or partial, any; default any), `updated_at_min`
(inclusive); `limit` (default 50, at most 250); cursor paging through `page_info` in the `Link` header (a request
with `page_info` may carry only `limit` and `fields`: the filters travel inside it); the leaky-bucket rate limit
(`X-Shopify-Shop-Api-Call-Limit: used/size` on every answer, 429 with `Retry-After` when the bucket is full).

Orders are REST Order JSON dicts (the webhook samples' shape); tests add and change them while a poller runs.
"""

import asyncio
import base64
import json
import math
import time
from datetime import datetime

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

MAX_LIMIT = 250
_PAGE_INFO_ALLOWED = {"limit", "fields", "page_info"}


def _fulfilment_matches(order: dict, wanted: str) -> bool:
    status = order.get("fulfillment_status")  # null (nothing shipped), "partial" or "fulfilled"
    return {
        "any": True,
        "unshipped": status is None,
        "partial": status == "partial",
        "shipped": status == "fulfilled",
        "unfulfilled": status in (None, "partial"),
    }.get(wanted, False)


def _status_matches(order: dict, wanted: str) -> bool:
    cancelled, closed = bool(order.get("cancelled_at")), bool(order.get("closed_at"))
    return {
        "any": True,
        "open": not cancelled and not closed,
        "closed": closed,
        "cancelled": cancelled,
    }.get(wanted, False)


class ShopifyStandIn:
    """Shopify's orders listing over REST. `listed` are the shop's orders; `bucket_size`/`leak_rate` the rate
    limit; `delay` seconds per call makes it a slow shop."""

    def __init__(self, listed: list[dict] | None = None, *, token: str, bucket_size: int = 40,
                 leak_rate: float = 2.0, retry_after: float = 2.0, delay: float = 0.0) -> None:
        self.listed = listed if listed is not None else []
        self.token = token
        self.bucket_size, self.leak_rate, self.retry_after, self.delay = bucket_size, leak_rate, retry_after, delay
        self._level, self._at = 0.0, time.monotonic()
        self.calls = 0
        self.throttled = 0
        self.requests: list[dict[str, str]] = []  # the query parameters of each listing call
        self.app = FastAPI()
        self.app.get("/admin/api/{version}/orders.json")(self.list_orders)

    def _take(self) -> bool:
        """One request into the leaky bucket; False when it is full."""
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._at) * self.leak_rate)
        self._at = now
        if self._level + 1 > self.bucket_size:
            return False
        self._level += 1
        return True

    def _call_limit(self) -> dict[str, str]:
        return {"X-Shopify-Shop-Api-Call-Limit": f"{math.ceil(self._level)}/{self.bucket_size}"}

    async def list_orders(self, version: str, request: Request,
                          x_shopify_access_token: str = Header("")) -> JSONResponse:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if x_shopify_access_token != self.token:
            return JSONResponse(status_code=401, content={
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        if not self._take():
            self.throttled += 1
            return JSONResponse(status_code=429, headers={"Retry-After": f"{self.retry_after:.1f}",
                                                          **self._call_limit()},
                                content={"errors": "Exceeded 2 calls per second for api client. Reduce request "
                                                   "rates to resume uninterrupted service."})
        q = dict(request.query_params)
        self.requests.append(q)
        limit = int(q.get("limit", "50"))
        if not 1 <= limit <= MAX_LIMIT:
            return JSONResponse(status_code=400, content={"errors": {"limit": [f"must be between 1 and {MAX_LIMIT}"]}},
                                headers=self._call_limit())
        if "page_info" in q:
            if set(q) - _PAGE_INFO_ALLOWED:
                return JSONResponse(status_code=400, headers=self._call_limit(), content={
                    "errors": {"page_info": ["cannot be used with other parameters than limit and fields"]}})
            try:
                state = json.loads(base64.urlsafe_b64decode(q["page_info"].encode()))
                filters, after = state["filters"], int(state["after"])
            except (ValueError, KeyError, TypeError):
                return JSONResponse(status_code=400, headers=self._call_limit(),
                                    content={"errors": {"page_info": ["Invalid value."]}})
        else:
            filters = {name: q[name] for name in ("status", "fulfillment_status", "updated_at_min") if name in q}
            after = 0
        found = [o for o in self.listed
                 if _status_matches(o, filters.get("status", "open"))
                 and _fulfilment_matches(o, filters.get("fulfillment_status", "any"))]
        if filters.get("updated_at_min"):
            since = datetime.fromisoformat(filters["updated_at_min"])
            found = [o for o in found if datetime.fromisoformat(o["updated_at"]) >= since]
        found = sorted((o for o in found if int(o["id"]) > after), key=lambda o: int(o["id"]))
        page, rest = found[:limit], found[limit:]
        headers = self._call_limit()
        if rest:
            token = base64.urlsafe_b64encode(json.dumps(
                {"filters": filters, "after": int(page[-1]["id"])}).encode()).decode()
            url = request.url.replace(query=f"limit={limit}&page_info={token}")
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse({"orders": page}, headers=headers)
