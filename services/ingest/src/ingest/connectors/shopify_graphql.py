"""Shopify GraphQL Admin API: the same catch-up download as `ingest.connectors.shopify`, for apps that may not use
REST Admin (legacy since 2024-10 for new public apps). Channel option `"api": "graphql"` selects it.

`POST /admin/api/{version}/graphql.json` with `orders(first: N, after: <cursor>, query: "status:open
fulfillment_status:unshipped updated_at:>='<since>'")`, paged by `pageInfo { hasNextPage endCursor }`; an order
with more lines than one nested page is completed with `order(id:) { lineItems(after:) }`. Auth: the same
`X-Shopify-Access-Token`. Rate limit: Shopify's calculated query cost; every answer reports
`extensions.cost.throttleStatus` (points available, restore rate), a request that would overdraw it is delayed, and
a `THROTTLED` error is waited out (up to `max_wait`, else RateLimited for the poller). A page is small (default 10
orders) because the requested cost counts `first` of every nested connection and one query may cost at most 1000.

Each GraphQL order is read into the REST Order fields the webhooks carry (`rest_order`), then normalised by the
webhook's own normaliser: one order, whichever way it came. The raw order kept in the intake log is the GraphQL
node as Shopify sent it. The cursor works as the REST connector's (inclusive `updated_at:>=`, never later than
five minutes before a walk began).
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from ingest.connectors.base import ConnectorError, Page, RateLimited, RawOrder
from ingest.connectors.http import dumps, send_json
from ingest.connectors.shopify import CHANNEL, CHANGED_DURING_WALK, DEFAULT_API_VERSION, DEFAULT_MAX_WAIT, shopify_time
from ingest.domain.channel_orders import normalise_shopify_order
from oms_contracts.common import OrderDetails

DEFAULT_FIRST = 10
LINES_PER_PAGE = 50
MAX_RETRIES = 3

_MONEY = "presentmentMoney { amount currencyCode }"
_ADDRESS = ("name firstName lastName company address1 address2 city province provinceCode zip country countryCodeV2 "
            "phone")
_LINE = (f"id sku name title variantTitle quantity originalUnitPriceSet {{ {_MONEY} }} "
         f"taxLines {{ rate priceSet {{ {_MONEY} }} }}")
_LINES = (f"lineItems(first: {LINES_PER_PAGE}, after: $linesAfter) "
          f"{{ nodes {{ {_LINE} }} pageInfo {{ hasNextPage endCursor }} }}")
_SHIPPING = f"title code originalPriceSet {{ {_MONEY} }} taxLines {{ rate priceSet {{ {_MONEY} }} }}"
ORDERS_QUERY = f"""query Orders($first: Int!, $after: String, $query: String, $linesAfter: String) {{
  orders(first: $first, after: $after, query: $query) {{
    nodes {{
      id legacyResourceId name createdAt updatedAt cancelledAt closedAt displayFinancialStatus displayFulfillmentStatus
      currencyCode presentmentCurrencyCode taxesIncluded email phone note
      customer {{ firstName lastName email phone }}
      shippingAddress {{ {_ADDRESS} }}
      billingAddress {{ {_ADDRESS} }}
      totalPriceSet {{ {_MONEY} }}
      totalDiscountsSet {{ {_MONEY} }}
      shippingLines(first: 10) {{ nodes {{ {_SHIPPING} }} }}
      {_LINES}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
LINES_QUERY = f"""query OrderLines($id: ID!, $linesAfter: String) {{
  order(id: $id) {{ {_LINES} }}
}}"""


def _amount(money_set: Any) -> dict | None:
    """A GraphQL MoneyBag as the REST `*_set` (presentment money only: what the normaliser reads)."""
    money = (money_set or {}).get("presentmentMoney") if isinstance(money_set, dict) else None
    return {"presentment_money": {"amount": money.get("amount"), "currency_code": money.get("currencyCode")}} \
        if money else None


def _tax_lines(lines: Any) -> list[dict]:
    return [{"rate": tax.get("rate"), "price_set": _amount(tax.get("priceSet"))} for tax in lines or []]


def _address(address: Any) -> dict | None:
    if not isinstance(address, dict):
        return None
    return {"name": address.get("name"), "first_name": address.get("firstName"), "last_name": address.get("lastName"),
            "company": address.get("company"), "address1": address.get("address1"), "address2": address.get("address2"),
            "city": address.get("city"), "province": address.get("province"),
            "province_code": address.get("provinceCode"), "zip": address.get("zip"), "country": address.get("country"),
            "country_code": address.get("countryCodeV2"), "phone": address.get("phone")}


def _legacy_id(gid: Any) -> int | str | None:
    """`gid://shopify/LineItem/123` -> 123 (the REST id)."""
    tail = str(gid or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else (tail or None)


_FULFILMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}


def _rest_time(text: Any) -> str | None:
    """GraphQL's UTC `...Z` as REST writes a UTC time (`+00:00`). REST uses the shop's own offset, so for a shop
    outside UTC the text differs from its webhook's while the moment is the same."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text)).astimezone(UTC).isoformat()
    except ValueError:
        return str(text)  # the normaliser names what is wrong with it


def rest_order(node: dict) -> dict:
    """A GraphQL Admin Order (as ORDERS_QUERY asks for it) in the REST Order fields the webhooks carry."""
    customer = node.get("customer")
    return {
        "id": _legacy_id(node.get("legacyResourceId") or node.get("id")),
        "name": node.get("name"),
        "created_at": _rest_time(node.get("createdAt")),
        "updated_at": _rest_time(node.get("updatedAt")),
        "cancelled_at": _rest_time(node.get("cancelledAt")),
        "closed_at": _rest_time(node.get("closedAt")),
        "financial_status": (node.get("displayFinancialStatus") or "").lower() or None,
        "fulfillment_status": _FULFILMENT.get(node.get("displayFulfillmentStatus") or ""),
        "currency": node.get("currencyCode"),
        "presentment_currency": node.get("presentmentCurrencyCode"),
        "taxes_included": node.get("taxesIncluded"),
        "email": node.get("email"),
        "phone": node.get("phone"),
        "note": node.get("note"),
        "customer": {"first_name": customer.get("firstName"), "last_name": customer.get("lastName"),
                     "email": customer.get("email"), "phone": customer.get("phone")} if customer else None,
        "shipping_address": _address(node.get("shippingAddress")),
        "billing_address": _address(node.get("billingAddress")),
        "line_items": [
            {"id": _legacy_id(line.get("id")), "sku": line.get("sku"), "name": line.get("name"),
             "title": line.get("title"), "variant_title": line.get("variantTitle"), "quantity": line.get("quantity"),
             "price_set": _amount(line.get("originalUnitPriceSet")), "tax_lines": _tax_lines(line.get("taxLines"))}
            for line in (node.get("lineItems") or {}).get("nodes") or []],
        "shipping_lines": [
            {"title": line.get("title"), "code": line.get("code"), "price_set": _amount(line.get("originalPriceSet")),
             "tax_lines": _tax_lines(line.get("taxLines"))}
            for line in (node.get("shippingLines") or {}).get("nodes") or []],
        "total_discounts_set": _amount(node.get("totalDiscountsSet")),
        "total_price_set": _amount(node.get("totalPriceSet")),
    }


class ShopifyGraphQLConnector:
    """One Shopify shop's open, unshipped orders changed since the cursor, through GraphQL Admin."""

    channel = CHANNEL

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, access_token: str,
                 api_version: str = DEFAULT_API_VERSION, first: int = DEFAULT_FIRST, start: str | None = None,
                 max_wait: float = DEFAULT_MAX_WAIT, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.http = http
        self.url = f"{base_url.rstrip('/')}/admin/api/{api_version}/graphql.json"
        self.headers = {"X-Shopify-Access-Token": access_token}
        self.first = max(1, min(first, 250))
        self.start = start
        self.max_wait = max_wait
        self.sleep = sleep
        self.now = now
        self.points: tuple[float, float, float] | None = None  # (available, restore rate, last requested cost)

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed since `moment` (reconciliation lists a window with it)."""
        return json.dumps({"since": shopify_time(moment), "after": None, "max": None})

    async def _query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """One GraphQL call, paced to the cost bucket; THROTTLED is waited out (short) or RateLimited."""
        for _ in range(MAX_RETRIES + 1):
            if self.points is not None:
                available, rate, last_cost = self.points
                if available < last_cost and rate > 0:
                    await self.sleep(min((last_cost - available) / rate, self.max_wait))
            response = await send_json(self.http, "POST", self.url, channel=CHANNEL, headers=self.headers,
                                       json_body={"query": query, "variables": variables})
            try:
                body = response.json()
            except ValueError:
                raise ConnectorError(f"{CHANNEL}: the GraphQL answer is not JSON") from None
            cost = (body.get("extensions") or {}).get("cost") or {}
            status = cost.get("throttleStatus") or {}
            requested = float(cost.get("requestedQueryCost") or 0)
            if status:
                self.points = (float(status.get("currentlyAvailable") or 0), float(status.get("restoreRate") or 0),
                               requested)
            errors = body.get("errors") or []
            if any(((e.get("extensions") or {}).get("code") == "THROTTLED") for e in errors if isinstance(e, dict)):
                available, rate = self.points[0] if self.points else 0.0, self.points[1] if self.points else 0.0
                wait = (requested - available) / rate if rate > 0 else 60.0
                if wait > self.max_wait:
                    raise RateLimited(f"{CHANNEL}: GraphQL cost throttled", retry_after=wait)
                await self.sleep(max(wait, 0.0))
                self.points = None  # waited for them already: no second wait before the retry
                continue
            if errors:
                raise ConnectorError(f"{CHANNEL}: {str(errors)[:300]}")
            return body.get("data") or {}
        raise RateLimited(f"{CHANNEL}: still throttled after {MAX_RETRIES} retries", retry_after=60.0)

    async def _all_lines(self, node: dict) -> dict:
        """The order with every line: further pages of `lineItems` fetched when the first did not hold them."""
        lines = node.get("lineItems") or {}
        nodes = list(lines.get("nodes") or [])
        info = lines.get("pageInfo") or {}
        while info.get("hasNextPage"):
            data = await self._query(LINES_QUERY, {"id": node.get("id"), "linesAfter": info.get("endCursor")})
            more = ((data.get("order") or {}).get("lineItems")) or {}
            nodes += more.get("nodes") or []
            info = more.get("pageInfo") or {}
        return {**node, "lineItems": {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}}

    async def fetch(self, cursor: str | None) -> Page:
        """One page of open, unshipped orders changed since the cursor's `since`."""
        state = json.loads(cursor) if cursor else {"since": self.start, "after": None, "max": None}
        since, after, latest = state.get("since"), state.get("after"), state.get("max")
        started = (state.get("started") if after else None) or shopify_time(self.now())
        search = "status:open fulfillment_status:unshipped" + (f" updated_at:>='{since}'" if since else "")
        try:
            data = await self._query(ORDERS_QUERY, {"first": self.first, "after": after, "query": search})
        except ConnectorError as exc:
            if not after or isinstance(exc, RateLimited):
                raise
            # A stored endCursor Shopify no longer takes: walk again from `since` (re-reads change nothing); an
            # error that is not about the cursor comes back on that first page.
            return await self.fetch(json.dumps({"since": since, "after": None, "max": latest}))
        connection = data.get("orders")
        if not isinstance(connection, dict) or not isinstance(connection.get("nodes"), list):
            raise ConnectorError(f"{CHANNEL}: unexpected GraphQL answer (no orders connection)")
        orders, latest_at = [], datetime.fromisoformat(latest) if latest else None
        for node in connection["nodes"]:
            if not isinstance(node, dict) or not (node.get("legacyResourceId") or node.get("id")):
                raise ConnectorError(f"{CHANNEL}: unexpected GraphQL answer (an order without an id)")
            node = await self._all_lines(node)
            try:
                changed = datetime.fromisoformat(str(node.get("updatedAt")))
            except ValueError:
                raise ConnectorError(f"{CHANNEL}: order {node.get('id')} has no readable updatedAt") from None
            orders.append(RawOrder(channel_order_id=str(_legacy_id(node.get("legacyResourceId") or node["id"])),
                                   body=dumps(node), updated_at=changed))
            latest_at = changed if latest_at is None or changed > latest_at else latest_at
        latest = shopify_time(latest_at) if latest_at else None
        info = connection.get("pageInfo") or {}
        if info.get("hasNextPage") and orders:
            return Page(orders=orders, cursor=json.dumps(
                {"since": since, "after": info.get("endCursor"), "max": latest, "started": started}), more=True)
        if latest_at is not None:
            upto = min(latest_at, datetime.fromisoformat(started) - CHANGED_DURING_WALK)
            if not since or upto > datetime.fromisoformat(since):
                since = shopify_time(upto)
        return Page(orders=orders, cursor=json.dumps({"since": since, "after": None, "max": None}))

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """The GraphQL order read into the webhook's REST fields, then the webhook's normaliser."""
        order, _ = normalise_shopify_order(dumps(rest_order(json.loads(raw.body))))
        return order
