"""Channel stand-ins for tests and demos: small HTTP apps implementing the documented endpoints of Magento 2,
eBay getOrders, Amazon SP-API Orders and WooCommerce REST orders (auth, paging, filters; Amazon's rate limit with 429 + Retry-After).

They stand in for external SaaS only. Orders are plain dicts in the channel's own shape (the sample files);
tests add, change and remove them while a poller runs. `serve(app)` runs one on a real local port.
"""

import asyncio
import base64
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from ingest.connectors.amazon import amazon_time


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse(status_code=401, content={"message": detail})


class MagentoStandIn:
    """`GET /rest/{store}/V1/orders` with searchCriteria (status in, updated_at gteq, pageSize/currentPage)."""

    def __init__(self, orders: list[dict], *, token: str) -> None:
        self.orders, self.token, self.calls = orders, token, 0
        self.app = FastAPI()
        self.app.get("/rest/{store}/V1/orders")(self.search)

    async def search(self, store: str, request: Request, authorization: str = Header("")) -> JSONResponse:
        self.calls += 1
        if authorization != f"Bearer {self.token}":
            return _unauthorized("The consumer isn't authorized to access %resources.")
        q = request.query_params
        found = list(self.orders)
        for group in range(5):
            field = q.get(f"searchCriteria[filter_groups][{group}][filters][0][field]")
            if field is None:
                continue
            value = q.get(f"searchCriteria[filter_groups][{group}][filters][0][value]", "")
            condition = q.get(f"searchCriteria[filter_groups][{group}][filters][0][condition_type]", "eq")
            if condition == "in":
                found = [o for o in found if str(o.get(field)) in value.split(",")]
            elif condition == "gteq":
                found = [o for o in found if str(o.get(field)) >= value]
        found.sort(key=lambda o: (o["updated_at"], o["entity_id"]))
        size = int(q.get("searchCriteria[pageSize]", "20"))
        page = int(q.get("searchCriteria[currentPage]", "1"))
        return JSONResponse({"items": found[(page - 1) * size: page * size], "total_count": len(found),
                             "search_criteria": {"page_size": size, "current_page": page}})


class EbayStandIn:
    """`GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[..],orderfulfillmentstatus:{..}&limit&offset`."""

    def __init__(self, orders: list[dict], *, token: str) -> None:
        self.orders, self.token, self.calls = orders, token, 0
        self.app = FastAPI()
        self.app.get("/sell/fulfillment/v1/order")(self.get_orders)

    async def get_orders(self, request: Request, authorization: str = Header(""), limit: int = 50,
                         offset: int = 0, filter: str = "") -> JSONResponse:
        self.calls += 1
        if authorization != f"Bearer {self.token}":
            return JSONResponse(status_code=401, content={"errors": [{"errorId": 1001, "message": "Invalid access token"}]})
        if limit > 200:
            return JSONResponse(status_code=400, content={"errors": [{"message": "limit must be at most 200"}]})
        found = list(self.orders)
        for part in filter.split(",") if filter else []:
            name, _, value = part.partition(":")
            if name == "lastmodifieddate":
                since = value.strip("[]").split("..")[0]
                found = [o for o in found if o["lastModifiedDate"] >= since]
            elif name == "orderfulfillmentstatus":
                allowed = value.strip("{}").split("|")
                found = [o for o in found if o["orderFulfillmentStatus"] in allowed]
        found.sort(key=lambda o: o["lastModifiedDate"])
        page = found[offset: offset + limit]
        body = {"href": str(request.url), "total": len(found), "limit": limit, "offset": offset, "orders": page}
        if offset + limit < len(found):
            body["next"] = str(request.url.include_query_params(offset=offset + limit))
        return JSONResponse(body)


class AmazonStandIn:
    """`GET /orders/v0/orders` (LastUpdatedAfter, OrderStatuses, NextToken) and `/orders/{id}/orderItems`,
    with a token bucket per operation: over it, 429 with `Retry-After`."""

    def __init__(self, orders: list[dict], items: dict[str, list[dict]], *, token: str, page_size: int = 100,
                 burst: int = 20, rate: float = 1.0, retry_after: float = 1.0) -> None:
        self.orders, self.items, self.token, self.page_size = orders, items, token, page_size
        self.burst, self.rate, self.retry_after = burst, rate, retry_after
        self.buckets: dict[str, list[float]] = {}
        self.calls = 0
        self.throttled = 0
        self.app = FastAPI()
        self.app.get("/orders/v0/orders")(self.get_orders)
        self.app.get("/orders/v0/orders/{order_id}/orderItems")(self.get_order_items)

    def _allowed(self, operation: str) -> bool:
        tokens, at = self.buckets.get(operation, [float(self.burst), time.monotonic()])
        now = time.monotonic()
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= 1
        self.buckets[operation] = [tokens - 1 if allowed else tokens, now]
        return allowed

    def _refused(self, operation: str, token: str) -> JSONResponse | None:
        self.calls += 1
        if token != self.token:
            return JSONResponse(status_code=403, content={"errors": [
                {"code": "Unauthorized", "message": "Access to requested resource is denied."}]})
        if not self._allowed(operation):
            self.throttled += 1
            return JSONResponse(status_code=429, headers={"Retry-After": f"{self.retry_after:g}"},
                                content={"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota"}]})
        return None

    async def get_orders(self, request: Request, x_amz_access_token: str = Header("")) -> JSONResponse:
        if (refused := self._refused("getOrders", x_amz_access_token)) is not None:
            return refused
        q = request.query_params
        if not q.get("MarketplaceIds"):
            return JSONResponse(status_code=400, content={"errors": [{"message": "MarketplaceIds is required"}]})
        if q.get("NextToken"):
            since, statuses, start = q["NextToken"].split("|")
            start = int(start)
        else:
            since, statuses, start = q.get("LastUpdatedAfter"), q.get("OrderStatuses", ""), 0
            if not since:
                return JSONResponse(status_code=400, content={"errors": [{"message": "LastUpdatedAfter required"}]})
        before = amazon_time(datetime.now(UTC) - timedelta(minutes=2))
        wanted = statuses.split(",") if statuses else None
        found = sorted((o for o in self.orders if since <= o["LastUpdateDate"] < before
                        and (wanted is None or o["OrderStatus"] in wanted)), key=lambda o: o["LastUpdateDate"])
        page = found[start: start + self.page_size]
        payload = {"Orders": page, "LastUpdatedBefore": before}
        if start + self.page_size < len(found):
            payload["NextToken"] = f"{since}|{statuses}|{start + self.page_size}"
        return JSONResponse({"payload": payload})

    async def get_order_items(self, order_id: str, x_amz_access_token: str = Header("")) -> JSONResponse:
        if (refused := self._refused("getOrderItems", x_amz_access_token)) is not None:
            return refused
        return JSONResponse({"payload": {"AmazonOrderId": order_id, "OrderItems": self.items.get(order_id, [])}})


class WooCommerceStandIn:
    """`GET /wp-json/wc/v3/orders` (HTTP Basic consumer key/secret; status, modified_after with dates_are_gmt,
    per_page ≤ 100, page; X-WP-Total / X-WP-TotalPages). `delay` seconds per call makes it a slow shop."""

    def __init__(self, orders: list[dict], *, key: str, secret: str, delay: float = 0.0) -> None:
        self.orders, self.key, self.secret, self.delay = orders, key, secret, delay
        self.calls = 0
        self.app = FastAPI()
        self.app.get("/wp-json/wc/v3/orders")(self.list_orders)

    async def list_orders(self, request: Request, authorization: str = Header("")) -> JSONResponse:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        expected = base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return JSONResponse(status_code=401, content={
                "code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
                "data": {"status": 401}})
        q = request.query_params
        per_page, page = int(q.get("per_page", "10")), int(q.get("page", "1"))
        if not 1 <= per_page <= 100:
            return JSONResponse(status_code=400, content={
                "code": "rest_invalid_param", "message": "Invalid parameter(s): per_page",
                "data": {"status": 400, "params": {"per_page": "per_page must be between 1 (inclusive) and 100"}}})
        found = list(self.orders)
        if q.get("status") and q["status"] != "any":
            wanted = q["status"].split(",")
            found = [o for o in found if o["status"] in wanted]
        if q.get("modified_after"):
            # Without dates_are_gmt the shop's local time is meant; the stand-in shop runs on UTC.
            found = [o for o in found if o["date_modified_gmt"] > q["modified_after"]]
        found.sort(key=lambda o: (o["date_created_gmt"], o["id"]), reverse=q.get("order", "desc") == "desc")
        pages = -(-len(found) // per_page)
        return JSONResponse(found[(page - 1) * per_page: page * per_page],
                            headers={"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(pages)})


class Served:
    """A stand-in app running on a local port in a thread; `url`, and `stop()` when done."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stand-in did not start within 10 s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(app: FastAPI) -> Served:
    """Run a stand-in app on a free local port (real HTTP) until `.stop()`."""
    return Served(app)
