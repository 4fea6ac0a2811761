"""Shopify Admin REST API: the catch-up download behind the webhooks (`orders/create`, `orders/updated`).

`GET /admin/api/{version}/orders.json?status=open&fulfillment_status=unshipped&updated_at_min=<cursor>&limit=250`,
paged by the `page_info` cursor of the `Link: <...>; rel="next"` header (a page_info request may carry only
`limit`: Shopify keeps the first request's filters in it). Auth: the app's Admin API access token in
`X-Shopify-Access-Token`. Rate limit: a leaky bucket (40 requests, 2 leak per second on standard plans) that
every answer reports in `X-Shopify-Shop-Api-Call-Limit: used/size`; we slow down before it is full, and a 429 is
waited out for its `Retry-After` when that is short, else RateLimited (the poller backs off).

Shopify calls REST Admin legacy since 2024-10 (new public apps must use GraphQL), so a Shopify channel polls
through GraphQL Admin by default (`ingest.connectors.shopify_graphql`, which reads GraphQL orders into these REST
fields); option `"api": "rest"` uses this connector, for apps that still may: its Order JSON is exactly the webhook
body, so a polled order is normalised by the webhook's own code (`normalise_shopify_order`) unchanged.

The cursor is `{"since": updated_at_min, "page_info": next page or null, "max": latest updated_at seen,
"started": when the walk began}`; `updated_at_min` is inclusive, so after a walk `since` is the latest
`updated_at` seen (the orders of that very moment are fetched again, the same intake ids, so nothing new), but
never later than `CHANGED_DURING_WALK` before the walk began: Shopify pages by id, not by time, so an order on an
early page changed during the walk is behind a later page's newer `updated_at`, and must be read again next time.
A walk cut short (a restart) resumes from its stored `page_info`; if Shopify refuses that (400), the walk starts
again from `since`.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ingest.connectors.base import ConnectorError, Page, RateLimited, RawOrder
from ingest.connectors.http import dumps, get_json
from ingest.domain.channel_orders import normalise_shopify_order
from ingest.domain.channels import ChannelConfig
from ingest.domain.webhooks import SHOPIFY
from oms_contracts.common import OrderDetails

CHANNEL = SHOPIFY  # the same channel name as the webhooks: one order per Shopify order id
DEFAULT_API_VERSION = "2025-01"
MAX_LIMIT = 250
DEFAULT_LEAK_RATE = 2.0  # requests per second the bucket drains (standard plans; Plus: 20)
DEFAULT_MAX_WAIT = 10.0  # a Retry-After up to this is waited out inside the fetch; longer goes to the poller
MAX_RETRIES = 3
CALL_LIMIT_HEADER = "x-shopify-shop-api-call-limit"
# How far before a walk's start the next one begins at the latest (changes during the walk, and our clock vs Shopify's).
CHANGED_DURING_WALK = timedelta(minutes=5)


def shopify_time(moment: datetime) -> str:
    """A time as Shopify's date parameters take it: ISO 8601 with an offset (UTC)."""
    return moment.astimezone(UTC).isoformat()


def updated_at(order: dict) -> datetime:
    """When Shopify last changed an order (`updated_at`, ISO 8601 with an offset)."""
    try:
        moment = datetime.fromisoformat(str(order.get("updated_at")))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConnectorError(f"{CHANNEL}: order {order.get('id')} has no readable updated_at "
                             f"({order.get('updated_at')!r})")
    return moment


def next_page_info(response: httpx.Response) -> str | None:
    """The `page_info` of the `rel="next"` link of a Shopify answer, None on the last page."""
    link = response.links.get("next")  # httpx parses the RFC 8288 Link header
    if not link or not link.get("url"):
        return None
    return httpx.URL(link["url"]).params.get("page_info") or None


class ShopifyConnector:
    """One Shopify shop's open, unshipped orders changed since the cursor."""

    channel = CHANNEL

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, access_token: str,
                 api_version: str = DEFAULT_API_VERSION, limit: int = MAX_LIMIT, start: str | None = None,
                 leak_rate: float = DEFAULT_LEAK_RATE, max_wait: float = DEFAULT_MAX_WAIT,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.http = http
        self.url = f"{base_url.rstrip('/')}/admin/api/{api_version}/orders.json"
        self.headers = {"X-Shopify-Access-Token": access_token, "Accept": "application/json"}
        self.limit = max(1, min(limit, MAX_LIMIT))
        self.start = start
        self.leak_rate = leak_rate
        self.max_wait = max_wait
        self.sleep = sleep
        self.now = now
        self.bucket: tuple[int, int] | None = None  # (used, size) as the last answer reported it

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed since `moment` (reconciliation lists a window with it)."""
        return json.dumps({"since": shopify_time(moment), "page_info": None, "max": None})

    async def _pace(self) -> None:
        """Wait before a call that would find the bucket full (leaving one slot for others using the app)."""
        if self.bucket is None:
            return
        used, size = self.bucket
        over = used - (size - 2)
        if over > 0:
            await self.sleep(over / self.leak_rate)

    async def _get(self, params: dict[str, str]) -> tuple[Any, httpx.Response]:
        """One paced call; a short 429 is waited out and retried, a long one raises RateLimited."""
        for _ in range(MAX_RETRIES + 1):
            await self._pace()
            try:
                data, response = await get_json(self.http, self.url, channel=CHANNEL, params=params,
                                                headers=self.headers)
            except RateLimited as limited:
                self.bucket = None
                if limited.retry_after > self.max_wait:
                    raise
                await self.sleep(limited.retry_after)
                continue
            used, _, size = (response.headers.get(CALL_LIMIT_HEADER) or "").partition("/")
            self.bucket = (int(used), int(size)) if used.isdigit() and size.isdigit() else None
            return data, response
        raise RateLimited(f"{CHANNEL}: still throttled after {MAX_RETRIES} retries", retry_after=60.0)

    async def fetch(self, cursor: str | None) -> Page:
        """One page of open, unshipped orders changed since the cursor's `since`."""
        state = json.loads(cursor) if cursor else {"since": self.start, "page_info": None, "max": None}
        since, page_info, latest = state.get("since"), state.get("page_info"), state.get("max")
        started = state.get("started") if page_info else None
        started = started or shopify_time(self.now())
        if page_info:
            params = {"limit": str(self.limit), "page_info": page_info}
        else:
            params = {"status": "open", "fulfillment_status": "unshipped", "limit": str(self.limit)}
            if since:
                params["updated_at_min"] = since
        try:
            data, response = await self._get(params)
        except ConnectorError as exc:
            if not page_info or isinstance(exc, RateLimited) or not str(exc).startswith(f"{CHANNEL}: 400 "):
                raise
            # Shopify refused the stored page_info (say, after a long stop): walk again from `since`; the orders
            # read before are read again as re-fetches, which change nothing.
            return await self.fetch(json.dumps({"since": since, "page_info": None, "max": latest}))
        found = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(found, list):
            raise ConnectorError(f"{CHANNEL}: unexpected answer (no list of orders)")
        orders = []
        latest_at = datetime.fromisoformat(latest) if latest else None
        for order in found:
            if not isinstance(order, dict) or order.get("id") is None:
                raise ConnectorError(f"{CHANNEL}: unexpected answer (an order without an id)")
            changed = updated_at(order)
            orders.append(RawOrder(channel_order_id=str(order["id"]), body=dumps(order), updated_at=changed))
            latest_at = changed if latest_at is None or changed > latest_at else latest_at
        latest = shopify_time(latest_at) if latest_at else None
        following = next_page_info(response) if orders else None
        if following:
            return Page(orders=orders, cursor=json.dumps(
                {"since": since, "page_info": following, "max": latest, "started": started}), more=True)
        if latest_at is not None:
            upto = min(latest_at, datetime.fromisoformat(started) - CHANGED_DURING_WALK)
            if not since or upto > datetime.fromisoformat(since):
                since = shopify_time(upto)
        return Page(orders=orders, cursor=json.dumps({"since": since, "page_info": None, "max": None}))

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """The webhook's normaliser on the same REST Order JSON; a cancelled order (cancelled since it was
        listed) is skipped."""
        order, _ = normalise_shopify_order(raw.body)
        return order


def build(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient):
    """The connector of a configured Shopify channel: url `https://<shop>.myshopify.com`, credential
    `access_token` (an app with read_orders); options `api` (graphql, the default, or rest), `api_version`,
    `limit` (REST, ≤ 250), `first` (GraphQL orders per page, 10), `start` (first updated_at_min, ISO 8601 with an
    offset), `leak_rate` (REST: 2; Plus 20), `max_wait`."""
    if not config.url:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} has no url (https://<shop>.myshopify.com)")
    if "access_token" not in credentials:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} needs credential access_token")
    options = config.options
    start = options.get("start")
    if start is not None:
        try:
            moment = datetime.fromisoformat(str(start))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ConnectorError(f"{CHANNEL}: option start {start!r} is not an ISO 8601 time with an offset")
        start = shopify_time(moment)
    api = options.get("api", "graphql")
    if api == "graphql":
        # Imported here: the GraphQL connector builds on this module's constants.
        from ingest.connectors.shopify_graphql import DEFAULT_FIRST, ShopifyGraphQLConnector

        return ShopifyGraphQLConnector(
            http=http, base_url=config.url, access_token=credentials["access_token"],
            api_version=str(options.get("api_version", DEFAULT_API_VERSION)),
            first=int(options.get("first", DEFAULT_FIRST)), start=start,
            max_wait=float(options.get("max_wait", DEFAULT_MAX_WAIT)))
    if api != "rest":
        raise ConnectorError(f"{CHANNEL}: option api must be graphql or rest, not {api!r}")
    return ShopifyConnector(
        http=http, base_url=config.url, access_token=credentials["access_token"],
        api_version=str(options.get("api_version", DEFAULT_API_VERSION)),
        limit=int(options.get("limit", MAX_LIMIT)), start=start,
        leak_rate=float(options.get("leak_rate", DEFAULT_LEAK_RATE)),
        max_wait=float(options.get("max_wait", DEFAULT_MAX_WAIT)),
    )
