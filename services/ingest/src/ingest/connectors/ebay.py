"""eBay Sell Fulfillment API v1 `getOrders`: `GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[<cursor>..]`.

Auth: OAuth 2 user token as `Authorization: Bearer` (scope sell.fulfillment or .readonly). Paging: `limit`
(max 200) and zero-based `offset`, following `next` until it is absent. A marketplace download takes every
order changed since the cursor, even one eBay already marks FULFILLED (flagged shipped on the channel; the
option `skip_shipped` filters `orderfulfillmentstatus:{NOT_STARTED|IN_PROGRESS}` instead). getOrders never
returns checkouts awaiting payment; `orderPaymentStatus` says whether it is paid. Cancelled orders are skipped.
Amounts are strings, possibly unpadded ("39.6"); pricingSummary discounts are negative.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from ingest.connectors.amounts import amount, unit_price
from ingest.connectors.base import ConnectorError, Page, Placement, RawOrder
from ingest.connectors.http import dumps, get_json
from ingest.domain.channel_orders import _aware, _country, _order_details, _reject, _text, load_json_object
from ingest.domain.channels import ChannelConfig
from ingest.domain.errors import OrderSkipped
from oms_contracts.common import OrderDetails

CHANNEL = "ebay"
DEFAULT_URL = "https://api.ebay.com"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_PAID = frozenset({"PAID", "PARTIALLY_REFUNDED"})


def ebay_time(moment: datetime) -> str:
    """eBay's filter time format: UTC, milliseconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class EbayConnector:
    """One eBay seller account's orders changed since the cursor."""

    channel = CHANNEL

    def __init__(self, *, http: httpx.AsyncClient, token: str, base_url: str = DEFAULT_URL,
                 limit: int = DEFAULT_LIMIT, start: str | None = None, skip_shipped: bool = False) -> None:
        self.http = http
        self.url = f"{base_url.rstrip('/')}/sell/fulfillment/v1/order"
        self.token = token
        self.limit = max(1, min(limit, MAX_LIMIT))
        self.start = start
        self.skip_shipped = skip_shipped

    def _filter(self, since: str | None) -> str | None:
        parts = []
        if since:
            parts.append(f"lastmodifieddate:[{since}..]")
        if self.skip_shipped:
            parts.append("orderfulfillmentstatus:{NOT_STARTED|IN_PROGRESS}")
        return ",".join(parts) or None

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed since `moment` (reconciliation lists a window with it)."""
        return json.dumps({"since": ebay_time(moment.astimezone(UTC)), "offset": 0, "max": None})

    async def fetch(self, cursor: str | None) -> Page:
        """One page; the cursor is `{"since": lastModifiedDate, "offset": n, "max": latest seen}`."""
        state = json.loads(cursor) if cursor else {"since": self.start, "offset": 0, "max": None}
        since, offset, latest = state.get("since"), int(state.get("offset") or 0), state.get("max")
        params = {"limit": str(self.limit), "offset": str(offset)}
        if (filter_ := self._filter(since)) is not None:
            params = {"filter": filter_, **params}
        data, _ = await get_json(self.http, self.url, channel=CHANNEL, params=params,
                                 headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})
        if not isinstance(data, dict) or not isinstance(data.get("orders", []), list):
            raise ConnectorError(f"{CHANNEL}: unexpected answer (no orders list)")
        orders = []
        for order in data.get("orders") or []:
            modified = str(order.get("lastModifiedDate") or order.get("creationDate"))
            try:
                updated_at = datetime.fromisoformat(modified)
            except ValueError:
                raise ConnectorError(f"{CHANNEL}: order {order.get('orderId')} has no readable "
                                     f"lastModifiedDate ({modified!r})") from None
            orders.append(RawOrder(channel_order_id=str(order.get("orderId")), body=dumps(order),
                                   updated_at=updated_at))
            latest = modified if latest is None or updated_at > datetime.fromisoformat(latest) else latest
        more = bool(data.get("next")) and bool(orders)
        if more:
            next_cursor = {"since": since, "offset": offset + len(orders), "max": latest}
        else:
            # The filter is inclusive: the latest order is fetched again next time and absorbed as a re-fetch.
            next_cursor = {"since": latest or since, "offset": 0, "max": None}
        return Page(orders=orders, cursor=json.dumps(next_cursor), more=more)

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """An eBay order; skipped when cancelled (or, with skip_shipped, already fulfilled)."""
        data = load_json_object(raw.body)
        if self.skip_shipped and data.get("orderFulfillmentStatus") == "FULFILLED":
            raise OrderSkipped("already_shipped: eBay marks it FULFILLED")
        return normalise_ebay_order(data)

    def placement(self, raw: RawOrder) -> Placement:
        """Flag an order eBay already marks fulfilled."""
        data = load_json_object(raw.body)
        return Placement(shipped_on_channel=data.get("orderFulfillmentStatus") == "FULFILLED")


def _value(money_obj: Any) -> Any:
    return (money_obj or {}).get("value") if isinstance(money_obj, dict) or money_obj is None else money_obj


def normalise_ebay_order(data: dict[str, Any]) -> OrderDetails:
    """An eBay `Order` (one of getOrders' `orders`) as OrderDetails."""
    if ((data.get("cancelStatus") or {}).get("cancelState")) == "CANCELED":
        raise OrderSkipped("cancelled")
    pricing = data.get("pricingSummary") or {}
    currency = _text((pricing.get("total") or {}).get("currency")) or ""
    instructions = data.get("fulfillmentStartInstructions") or [{}]
    step = (instructions[0] or {}).get("shippingStep") or {}
    ship_to = step.get("shipTo") or {}
    contact = ship_to.get("contactAddress") or {}
    if not contact:
        raise _reject(("fulfillmentStartInstructions", 0, "shippingStep", "shipTo"), "no ship-to address", "missing")
    taxed = amount(_value(pricing.get("tax")), currency=currency, loc=("pricingSummary", "tax")) > 0
    lines = []
    for i, item in enumerate(data.get("lineItems") or []):
        loc = ("lineItems", i)
        quantity = item.get("quantity")
        row = amount(_value(item.get("lineItemCost")), currency=currency, loc=(*loc, "lineItemCost"))
        if taxed:
            row += sum((amount(_value(tax.get("amount")), currency=currency, loc=(*loc, "taxes", j, "amount"))
                        for j, tax in enumerate(item.get("taxes") or [])), Decimal("0"))
        lines.append({
            "line_id": str(item.get("lineItemId")),
            "sku": _text(item.get("sku")) or _text(item.get("legacyItemId")),
            "title": _text(item.get("title")),
            "quantity": quantity,
            "unit_price": unit_price(row, quantity, currency=currency, loc=(*loc, "lineItemCost")),
        })
    buyer = data.get("buyer") or {}
    registration = buyer.get("buyerRegistrationAddress") or {}
    discount = amount(_value(pricing.get("priceDiscount")), currency=currency, loc=("pricingSummary", "priceDiscount"),
                      signed=True) + amount(_value(pricing.get("deliveryDiscount")), currency=currency,
                                            loc=("pricingSummary", "deliveryDiscount"), signed=True)
    fields = {
        "channel": CHANNEL,
        "channel_order_id": str(data.get("orderId")),
        "order_number": _text(data.get("salesRecordReference")) or str(data.get("orderId")),
        "buyer": {
            "name": _text(registration.get("fullName")) or _text(ship_to.get("fullName"))
            or _text(buyer.get("username")),
            "email": _text(registration.get("email")) or _text(ship_to.get("email")),
            "phone": _text((registration.get("primaryPhone") or {}).get("phoneNumber"))
            or _text((ship_to.get("primaryPhone") or {}).get("phoneNumber")),
        },
        "shipping_address": {
            "name": _text(ship_to.get("fullName")),
            "company": _text(ship_to.get("companyName")),
            "line1": _text(contact.get("addressLine1")),
            "line2": _text(contact.get("addressLine2")),
            "city": _text(contact.get("city")),
            "region": _text(contact.get("stateOrProvince")),
            "postcode": _text(contact.get("postalCode")),
            "country": _country(contact.get("countryCode"), loc=("shipTo", "contactAddress", "countryCode")),
            "phone": _text((ship_to.get("primaryPhone") or {}).get("phoneNumber")),
        },
        "lines": lines,
        "shipping": {"service": _text(step.get("shippingServiceCode")) or "Standard",
                     "cost": amount(_value(pricing.get("deliveryCost")), currency=currency,
                                    loc=("pricingSummary", "deliveryCost"))},
        "currency": currency,
        "discount": discount,
        "paid": data.get("orderPaymentStatus") in _PAID,
        "placed_at": _text(data.get("creationDate")),
    }
    if fields["placed_at"]:
        _aware(fields["placed_at"], loc=("creationDate",))
    charged = amount(_value(pricing.get("total")), currency=currency, loc=("pricingSummary", "total"))
    return _order_details(fields, charged=charged, loc_total=("pricingSummary", "total"))


def build(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> EbayConnector:
    """The connector of a configured eBay channel (credential `token`; options `limit`, `start` = first
    lastmodifieddate, `2026-11-24T00:00:00.000Z`, `skip_shipped`)."""
    if "token" not in credentials:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} needs credential 'token'")
    return EbayConnector(
        http=http, token=credentials["token"], base_url=config.url or DEFAULT_URL,
        limit=int(config.options.get("limit", DEFAULT_LIMIT)), start=config.options.get("start"),
        skip_shipped=bool(config.options.get("skip_shipped", False)),
    )
