"""A Shopify Admin REST stand-in for tests and demos: `GET /admin/api/{version}/orders.json`.

What it implements, as documented for the REST Admin API: the `X-Shopify-Access-Token` header; filters `status`
(open = neither closed nor cancelled, closed, cancelled, any; default open), `fulfillment_status` (unshipped =
nothing fulfilled, partial, shipped, unfulfilled = unshipped or partial, any; default any), `updated_at_min`
(inclusive); `limit` (default 50, at most 250); cursor paging through `page_info` in the `Link` header (a request
with `page_info` may carry only `limit` and `fields`: the filters travel inside it); the leaky-bucket rate limit
(`X-Shopify-Shop-Api-Call-Limit: used/size` on every answer, 429 with `Retry-After` when the bucket is full).

GraphQL Admin (`POST /admin/api/{version}/graphql.json`): the `orders(first, after, query)` connection (the same
filters in Shopify's search syntax, `updated_at:>='...'`), each order's `lineItems(first, after)` (also through
`order(id:)`), and the calculated query cost: `extensions.cost` on every answer, `THROTTLED` when the bucket lacks
the points, `MAX_COST_EXCEEDED` over 1000. Orders are served as GraphQL nodes made from the same REST dicts.

Orders are REST Order JSON dicts (the webhook samples' shape); tests add and change them while a poller runs.
"""

import asyncio
import base64
import json
import math
import time
import re
from datetime import UTC, datetime
from decimal import Decimal

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

MAX_LIMIT = 250
_PAGE_INFO_ALLOWED = {"limit", "fields", "page_info"}
MAX_QUERY_COST = 1000
_FIRST = re.compile(r"(\w+)\(first:\s*(\$?\w+)")


def _gql_amount(value) -> str:
    """A GraphQL Decimal as Shopify writes it: no trailing zeros beyond one decimal ("24.0", "3.99")."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text if "." in text else f"{text}.0"


def _gql_money(item: dict, field: str, currency: str) -> dict:
    money_set = item.get(f"{field}_set") or {}
    amount = (money_set.get("presentment_money") or {}).get("amount", item.get(field))
    return {"presentmentMoney": {"amount": _gql_amount(amount or "0"), "currencyCode": currency}}


def _gql_time(text: str | None) -> str | None:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat().replace("+00:00", "Z") if text else None


def _gql_address(address: dict | None) -> dict | None:
    if not address:
        return None
    return {"name": address.get("name"), "firstName": address.get("first_name"), "lastName": address.get("last_name"),
            "company": address.get("company"), "address1": address.get("address1"),
            "address2": address.get("address2"), "city": address.get("city"), "province": address.get("province"),
            "provinceCode": address.get("province_code"), "zip": address.get("zip"),
            "country": address.get("country"), "countryCodeV2": address.get("country_code"),
            "phone": address.get("phone")}


def _gql_lines(order: dict, first: int, after: int) -> dict:
    currency = order.get("presentment_currency") or order["currency"]
    lines = order.get("line_items") or []
    page = lines[after:after + first]
    nodes = [{"id": f"gid://shopify/LineItem/{line['id']}", "sku": line.get("sku"), "name": line.get("name"),
              "title": line.get("title"), "variantTitle": line.get("variant_title"), "quantity": line.get("quantity"),
              "originalUnitPriceSet": _gql_money(line, "price", currency),
              "taxLines": [{"rate": tax.get("rate"), "priceSet": _gql_money(tax, "price", currency)}
                           for tax in line.get("tax_lines") or []]} for line in page]
    more = after + first < len(lines)
    return {"nodes": nodes, "pageInfo": {"hasNextPage": more, "endCursor": str(after + first) if more else None}}


def graphql_order(order: dict, *, lines_first: int = 50) -> dict:
    """A REST Order dict as GraphQL Admin's Order node (the fields the connector asks for)."""
    currency = order.get("presentment_currency") or order["currency"]
    customer = order.get("customer")
    fulfilment = {None: "UNFULFILLED", "partial": "PARTIALLY_FULFILLED", "fulfilled": "FULFILLED"}
    return {
        "id": f"gid://shopify/Order/{order['id']}", "legacyResourceId": str(order["id"]), "name": order.get("name"),
        "createdAt": _gql_time(order.get("created_at")), "updatedAt": _gql_time(order.get("updated_at")),
        "cancelledAt": _gql_time(order.get("cancelled_at")), "closedAt": _gql_time(order.get("closed_at")),
        "displayFinancialStatus": (order.get("financial_status") or "pending").upper(),
        "displayFulfillmentStatus": fulfilment.get(order.get("fulfillment_status"), "UNFULFILLED"),
        "currencyCode": order.get("currency"), "presentmentCurrencyCode": currency,
        "taxesIncluded": bool(order.get("taxes_included")), "email": order.get("email"), "phone": order.get("phone"),
        "note": order.get("note"),
        "customer": {"firstName": customer.get("first_name"), "lastName": customer.get("last_name"),
                     "email": customer.get("email"), "phone": customer.get("phone")} if customer else None,
        "shippingAddress": _gql_address(order.get("shipping_address")),
        "billingAddress": _gql_address(order.get("billing_address")),
        "totalPriceSet": _gql_money(order, "total_price", currency),
        "totalDiscountsSet": _gql_money(order, "total_discounts", currency),
        "shippingLines": {"nodes": [
            {"title": line.get("title"), "code": line.get("code"),
             "originalPriceSet": _gql_money(line, "price", currency),
             "taxLines": [{"rate": tax.get("rate"), "priceSet": _gql_money(tax, "price", currency)}
                          for tax in line.get("tax_lines") or []]}
            for line in order.get("shipping_lines") or []]},
        "lineItems": _gql_lines(order, lines_first, 0),
    }


def _search(query: str) -> dict[str, str]:
    """Shopify search syntax as the REST filters: `status:open fulfillment_status:unshipped updated_at:>='...'`."""
    filters = {}
    for term in query.split():
        name, _, value = term.partition(":")
        if name == "updated_at" and value.startswith(">="):
            filters["updated_at_min"] = value[2:].strip("'\"")
        elif name in ("status", "fulfillment_status"):
            filters[name] = value
    return filters


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
        self.graphql_requests: list[dict] = []  # the variables of each GraphQL call
        self.points, self.restore_rate = float(MAX_QUERY_COST), 100.0  # GraphQL cost: 100 points a second (Standard)
        self._points_at = time.monotonic()
        self.app = FastAPI()
        self.app.get("/admin/api/{version}/orders.json")(self.list_orders)
        self.app.post("/admin/api/{version}/graphql.json")(self.graphql)

    def _take(self) -> bool:
        """One request into the leaky bucket; False when it is full."""
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._at) * self.leak_rate)
        self._at = now
        if self._level + 1 > self.bucket_size:
            return False
        self._level += 1
        return True

    def _select(self, filters: dict[str, str], after: int) -> list[dict]:
        """The listed orders matching REST-style filters, by id, after id `after`."""
        found = [o for o in self.listed
                 if _status_matches(o, filters.get("status", "open"))
                 and _fulfilment_matches(o, filters.get("fulfillment_status", "any"))]
        if filters.get("updated_at_min"):
            since = datetime.fromisoformat(filters["updated_at_min"])
            found = [o for o in found if datetime.fromisoformat(o["updated_at"]) >= since]
        return sorted((o for o in found if int(o["id"]) > after), key=lambda o: int(o["id"]))

    async def graphql(self, version: str, request: Request, x_shopify_access_token: str = Header("")) -> JSONResponse:
        """GraphQL Admin: `orders(...)` and `order(id:) { lineItems(...) }` with the calculated query cost."""
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if x_shopify_access_token != self.token:
            return JSONResponse(status_code=401, content={
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        body = json.loads(await request.body() or b"{}")
        return self.graphql_orders(body.get("query") or "", body.get("variables") or {})

    def graphql_orders(self, query: str, variables: dict) -> JSONResponse:
        """Answer an orders or order-lines query (ShopifyShop sends its other queries elsewhere)."""
        self.graphql_requests.append(dict(variables))
        firsts = {name: int(variables[value[1:]]) if value.startswith("$") else int(value)
                  for name, value in _FIRST.findall(query)}
        orders_first, lines_first = firsts.get("orders", 1), firsts.get("lineItems", 1)
        requested = 2 + orders_first * (3 + lines_first + firsts.get("shippingLines", 0)) if "orders(" in query \
            else 2 + lines_first
        now = time.monotonic()
        self.points = min(float(MAX_QUERY_COST), self.points + (now - self._points_at) * self.restore_rate)
        self._points_at = now

        def cost(actual: float) -> dict:
            return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": {
                "maximumAvailable": float(MAX_QUERY_COST), "currentlyAvailable": self.points,
                "restoreRate": self.restore_rate}}}

        if requested > MAX_QUERY_COST:
            return JSONResponse({"errors": [{"message": f"Query cost is {requested}, which exceeds the single query "
                                                        f"max cost limit ({MAX_QUERY_COST}).",
                                             "extensions": {"code": "MAX_COST_EXCEEDED"}}], "extensions": cost(0)})
        if self.points < requested:
            self.throttled += 1
            return JSONResponse({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                                 "extensions": cost(0)})
        self.points -= requested
        lines_after = int(variables.get("linesAfter") or 0)
        if "orders(" not in query:
            order_id = str(variables.get("id", "")).rsplit("/", 1)[-1]
            order = next((o for o in self.listed if str(o["id"]) == order_id), None)
            node = {"lineItems": _gql_lines(order, lines_first, lines_after)} if order else None
            return JSONResponse({"data": {"order": node}, "extensions": cost(requested)})
        try:
            after = int(base64.urlsafe_b64decode(variables["after"].encode())) if variables.get("after") else 0
        except ValueError:
            return JSONResponse({"errors": [{"message": "Invalid cursor for current pagination sort.",
                                             "path": ["orders"]}], "extensions": cost(requested)})
        found = self._select(_search(variables.get("query") or ""), after)
        page, rest = found[:orders_first], found[orders_first:]
        end = base64.urlsafe_b64encode(str(page[-1]["id"]).encode()).decode() if page else None
        return JSONResponse({"data": {"orders": {
            "nodes": [graphql_order(o, lines_first=lines_first) for o in page],
            "pageInfo": {"hasNextPage": bool(rest), "endCursor": end}}}, "extensions": cost(requested)})

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
        found = self._select(filters, after)
        page, rest = found[:limit], found[limit:]
        headers = self._call_limit()
        if rest:
            token = base64.urlsafe_b64encode(json.dumps(
                {"filters": filters, "after": int(page[-1]["id"])}).encode()).decode()
            url = request.url.replace(query=f"limit={limit}&page_info={token}")
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse({"orders": page}, headers=headers)
