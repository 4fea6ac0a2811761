"""Amazon Selling Partner API, Orders v0: `getOrders` on `LastUpdatedAfter` with `NextToken`, then
`getOrderItems` for each order.

Auth: a Login-with-Amazon access token in `x-amz-access-token`. Rate limits (requests per second / burst):
getOrders 0.0167 / 20, getOrderItems 0.5 / 30; the connector paces itself with a token bucket per operation,
and on 429 waits the `Retry-After` the API gave when it is short, else raises RateLimited so the poller backs
off. A marketplace download takes every order changed since the cursor (Unshipped, PartiallyShipped and
Shipped; the option `skip_shipped` leaves Shipped out): merchant-fulfilled (MFN) orders are imported as new
open orders (flagged when already shipped), Amazon-fulfilled (AFN, FBA) ones are imported locked, for the
record. `ItemPrice` is unit price × quantity; the grand total is `OrderTotal`, not a re-sum.
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from ingest.connectors.amounts import amount, unit_price
from ingest.connectors.base import ConnectorError, Page, Placement, RateLimited, RawOrder
from ingest.connectors.http import dumps, get_json
from ingest.domain.channel_orders import _country, _order_details, _reject, _text, load_json_object
from ingest.domain.channels import ChannelConfig
from ingest.domain.errors import OrderSkipped
from oms_contracts.common import OrderDetails

CHANNEL = "amazon"
DEFAULT_URL = "https://sellingpartnerapi-eu.amazon.com"
DEFAULT_MARKETPLACE = "A1F83G8C2ARO7P"  # Amazon.co.uk
ORDERS_RATE, ORDERS_BURST = 0.0167, 20
ITEMS_RATE, ITEMS_BURST = 0.5, 30
# A wait up to this long (pacing, or a 429's Retry-After) is slept through; a longer one ends the poll.
DEFAULT_MAX_WAIT = 10.0
MAX_RETRIES = 3
FBA_LOCK_REASON = "fulfilled by Amazon (FBA): imported for the record"
# Where an FBA order without a shipping address ships from, by marketplace (its country).
_MARKETPLACE_COUNTRIES = {
    "A1F83G8C2ARO7P": "GB", "A1PA6795UKMFR9": "DE", "A13V1IB3VIYZZH": "FR", "APJ6JRA9NG5V4": "IT",
    "A1RKKUPIHCS9HS": "ES", "A1805IZSGTT6HS": "NL", "A2NODRKZP88ZB9": "SE", "A1C3SOZRARQ6R3": "PL",
    "ATVPDKIKX0DER": "US", "A2EUQ1WTGCTBG2": "CA", "A1VC38T7YXB528": "JP",
}


class TokenBucket:
    """At most `burst` calls at once, refilled at `rate` per second (Amazon's usage plan model)."""

    def __init__(self, rate: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.monotonic = rate, burst, monotonic
        self.tokens = float(burst)
        self.at = monotonic()

    def wait_needed(self) -> float:
        """Seconds until a call may go (0 = now)."""
        now = self.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        """Spend one call."""
        self.tokens -= 1

    def empty(self) -> None:
        """The API said 429: assume no call is left."""
        self.tokens = min(self.tokens, 0.0)


def amazon_time(moment: datetime) -> str:
    """ISO 8601 UTC with `Z`, as the SP-API writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AmazonConnector:
    """One seller's orders in a set of marketplaces, changed since the cursor, each with its items."""

    channel = CHANNEL

    def __init__(
        self, *, http: httpx.AsyncClient, access_token: str, base_url: str = DEFAULT_URL,
        marketplace_ids: tuple[str, ...] = (DEFAULT_MARKETPLACE,), start: str | None = None,
        initial_days: int = 30, skip_shipped: bool = False, page_size: int = 100,
        orders_limit: tuple[float, int] = (ORDERS_RATE, ORDERS_BURST),
        items_limit: tuple[float, int] = (ITEMS_RATE, ITEMS_BURST), max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.headers = {"x-amz-access-token": access_token, "Accept": "application/json"}
        self.marketplace_ids = marketplace_ids
        self.start = start
        self.initial_days = initial_days
        self.skip_shipped = skip_shipped
        self.page_size = max(1, min(page_size, 100))
        self.orders_bucket = TokenBucket(*orders_limit)
        self.items_bucket = TokenBucket(*items_limit)
        self.max_wait = max_wait
        self.sleep = sleep
        self.now = now

    async def _call(self, bucket: TokenBucket, url: str, params: dict[str, str]) -> Any:
        """One paced call: wait for the bucket (if short), retry a short 429, else raise RateLimited."""
        for _ in range(MAX_RETRIES + 1):
            wait = bucket.wait_needed()
            if wait > self.max_wait:
                raise RateLimited(f"{CHANNEL}: pacing {url.rsplit('/', 1)[-1]} to Amazon's rate limit",
                                  retry_after=wait)
            if wait > 0:
                await self.sleep(wait)
                bucket.wait_needed()
            bucket.take()
            try:
                data, _ = await get_json(self.http, url, channel=CHANNEL, params=params, headers=self.headers)
                return data
            except RateLimited as limited:
                bucket.empty()
                if limited.retry_after > self.max_wait:
                    raise
                await self.sleep(limited.retry_after)
        raise RateLimited(f"{CHANNEL}: still throttled after {MAX_RETRIES} retries", retry_after=60.0)

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed since `moment` (reconciliation lists a window with it)."""
        return json.dumps({"since": amazon_time(moment.astimezone(UTC))})

    async def fetch(self, cursor: str | None) -> Page:
        """One page of orders with their items; cursor `{"since": LastUpdatedAfter, "next": NextToken}`."""
        state = json.loads(cursor) if cursor else {}
        since = state.get("since") or self.start or amazon_time(self.now() - timedelta(days=self.initial_days))
        params = {"MarketplaceIds": ",".join(self.marketplace_ids)}
        if state.get("next"):
            params["NextToken"] = state["next"]
        else:
            statuses = "Unshipped,PartiallyShipped" + ("" if self.skip_shipped else ",Shipped")
            params |= {"LastUpdatedAfter": since, "OrderStatuses": statuses,
                       "MaxResultsPerPage": str(self.page_size)}
        data = await self._call(self.orders_bucket, f"{self.base}/orders/v0/orders", params)
        payload = data.get("payload") if isinstance(data, dict) else None
        if not isinstance(payload, dict) or not isinstance(payload.get("Orders", []), list):
            raise ConnectorError(f"{CHANNEL}: unexpected getOrders answer (no payload.Orders)")
        orders = []
        latest = state.get("max")
        for order in payload.get("Orders") or []:
            order_id = str(order.get("AmazonOrderId"))
            items = await self._items(order_id)
            modified = str(order.get("LastUpdateDate") or order.get("PurchaseDate"))
            try:
                updated_at = datetime.fromisoformat(modified)
            except ValueError:
                raise ConnectorError(f"{CHANNEL}: order {order_id} has no readable LastUpdateDate") from None
            orders.append(RawOrder(channel_order_id=order_id, body=dumps({"order": order, "items": items}),
                                   updated_at=updated_at))
            latest = modified if latest is None or updated_at > datetime.fromisoformat(latest) else latest
        next_token = payload.get("NextToken")
        if next_token:
            next_cursor = {"since": since, "next": next_token, "max": latest}
        else:
            # Amazon says up to when it looked (LastUpdatedBefore): everything changed before that was returned.
            next_cursor = {"since": payload.get("LastUpdatedBefore") or latest or since}
        return Page(orders=orders, cursor=json.dumps(next_cursor), more=bool(next_token))

    async def _items(self, order_id: str) -> list[dict]:
        """Every item of an order (getOrderItems, following its NextToken)."""
        items: list[dict] = []
        params: dict[str, str] = {}
        url = f"{self.base}/orders/v0/orders/{order_id}/orderItems"
        while True:
            data = await self._call(self.items_bucket, url, params)
            payload = data.get("payload") if isinstance(data, dict) else None
            if not isinstance(payload, dict):
                raise ConnectorError(f"{CHANNEL}: unexpected getOrderItems answer for {order_id}")
            items.extend(payload.get("OrderItems") or [])
            if not payload.get("NextToken"):
                return items
            params = {"NextToken": payload["NextToken"]}

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """An Amazon order with its items; skipped when cancelled (or, with skip_shipped, already shipped)."""
        data = load_json_object(raw.body)
        order = data.get("order") or {}
        if self.skip_shipped and order.get("OrderStatus") == "Shipped":
            raise OrderSkipped("already_shipped: Amazon marks it Shipped")
        return normalise_amazon_order(order, data.get("items") or [])

    def placement(self, raw: RawOrder) -> Placement:
        """FBA orders are imported locked; MFN orders Amazon marks shipped are flagged."""
        order = load_json_object(raw.body).get("order") or {}
        if order.get("FulfillmentChannel") == "AFN":
            return Placement(lock_reason=FBA_LOCK_REASON, shipped_on_channel=order.get("OrderStatus") == "Shipped")
        return Placement(shipped_on_channel=order.get("OrderStatus") == "Shipped")


def _amount(money_obj: Any, currency: str, loc: tuple) -> Decimal:
    return amount((money_obj or {}).get("Amount") if isinstance(money_obj, dict) else None,
                  currency=currency, loc=loc)


def normalise_amazon_order(order: dict[str, Any], items: list[dict[str, Any]]) -> OrderDetails:
    """An SP-API Order and its OrderItems as OrderDetails."""
    status = order.get("OrderStatus")
    if status == "Canceled":
        raise OrderSkipped("cancelled")
    if status in ("Pending", "PendingAvailability"):
        raise OrderSkipped(f"not_unprocessed: Amazon status {status} (not yet paid)")
    total = order.get("OrderTotal") or {}
    currency = _text(total.get("CurrencyCode")) or ""
    charged = _amount(total, currency, ("order", "OrderTotal"))
    afn = order.get("FulfillmentChannel") == "AFN"
    address = order.get("ShippingAddress") or {}
    buyer_info = order.get("BuyerInfo") or {}
    name = _text(buyer_info.get("BuyerName")) or _text(address.get("Name"))

    def line_total(item: dict, field: str, i: int) -> Decimal:
        return _amount(item.get(field), currency, ("items", i, field))

    rows = [line_total(item, "ItemPrice", i) for i, item in enumerate(items)]
    shipping = sum((line_total(item, "ShippingPrice", i) for i, item in enumerate(items)), Decimal("0"))
    discount = sum((line_total(item, "PromotionDiscount", i) + line_total(item, "ShippingDiscount", i)
                    for i, item in enumerate(items)), Decimal("0"))
    if sum(rows, Decimal("0")) + shipping - discount != charged:
        # Marketplaces whose prices exclude tax (US): the tax is part of what the buyer paid.
        rows = [row + line_total(item, "ItemTax", i) for i, (row, item) in enumerate(zip(rows, items))]
        shipping += sum((line_total(item, "ShippingTax", i) for i, item in enumerate(items)), Decimal("0"))
    lines = [{
        "line_id": str(item.get("OrderItemId")),
        "sku": _text(item.get("SellerSKU")) or _text(item.get("ASIN")),
        "title": _text(item.get("Title")),
        "quantity": item.get("QuantityOrdered"),
        "unit_price": unit_price(row, item.get("QuantityOrdered"), currency=currency, loc=("items", i, "ItemPrice")),
    } for i, (row, item) in enumerate(zip(rows, items))]
    if not address and afn:
        # Amazon ships FBA orders itself and may not share the address: the order is kept for the record only.
        country = _MARKETPLACE_COUNTRIES.get(str(order.get("MarketplaceId")), "GB")
        address = {"Name": name or "Amazon customer", "AddressLine1": "Fulfilled by Amazon", "City": "-",
                    "PostalCode": "-", "CountryCode": country}
    if not address:
        raise _reject(("order", "ShippingAddress"), "no shipping address (a Restricted Data Token may be needed)",
                      "missing")
    extra = [line for line in (_text(address.get("AddressLine2")), _text(address.get("AddressLine3"))) if line]
    fields = {
        "channel": CHANNEL,
        "channel_order_id": str(order.get("AmazonOrderId")),
        "order_number": _text(order.get("SellerOrderId")) or str(order.get("AmazonOrderId")),
        "buyer": {"name": name or "Amazon customer", "email": _text(buyer_info.get("BuyerEmail")),
                  "phone": _text(address.get("Phone"))},
        "shipping_address": {
            "name": _text(address.get("Name")) or name,
            "line1": _text(address.get("AddressLine1")),
            "line2": ", ".join(extra) or None,
            "city": _text(address.get("City")),
            "region": _text(address.get("StateOrRegion")) or _text(address.get("County")),
            "postcode": _text(address.get("PostalCode")),
            "country": _country(address.get("CountryCode"), loc=("order", "ShippingAddress", "CountryCode")),
            "phone": _text(address.get("Phone")),
        },
        "lines": lines,
        "shipping": {"service": _text(order.get("ShipServiceLevel")) or "Standard", "cost": shipping},
        "currency": currency,
        "discount": discount,
        # getOrders returns Unshipped orders only once payment is authorised.
        "paid": True,
        "placed_at": _text(order.get("PurchaseDate")),
    }
    return _order_details(fields, charged=charged, loc_total=("order", "OrderTotal"))


def build(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> AmazonConnector:
    """The connector of a configured Amazon channel (credential `access_token`; options `marketplace_ids`,
    `start` = first LastUpdatedAfter, `skip_shipped`, `max_wait`, and for stand-ins `orders_rate`/`orders_burst`,
    `items_rate`/`items_burst`)."""
    if "access_token" not in credentials:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} needs credential 'access_token'")
    options = config.options
    marketplaces = options.get("marketplace_ids") or [DEFAULT_MARKETPLACE]
    if isinstance(marketplaces, str):
        marketplaces = [m.strip() for m in marketplaces.split(",") if m.strip()]
    return AmazonConnector(
        http=http, access_token=credentials["access_token"], base_url=config.url or DEFAULT_URL,
        marketplace_ids=tuple(marketplaces), start=options.get("start"),
        skip_shipped=bool(options.get("skip_shipped", False)),
        orders_limit=(float(options.get("orders_rate", ORDERS_RATE)), int(options.get("orders_burst", ORDERS_BURST))),
        items_limit=(float(options.get("items_rate", ITEMS_RATE)), int(options.get("items_burst", ITEMS_BURST))),
        max_wait=float(options.get("max_wait", DEFAULT_MAX_WAIT)),
    )
