"""X-Cart 5.0–5.4 through its REST API add-on: `GET {shop}/admin.php?target=RESTAPI&_key=<key>&_path=order`.

Auth is the add-on's key in `_key` (read-only key for reading; the read/write key, credential `write_key`, for
the write-back). Orders carry two statuses: `shippingStatus` (N new, P processing, S shipped, D delivered, WND,
R returned, WFA) and `paymentStatus` (Q awaiting, P paid, PP part-paid, A authorised, D declined, C cancelled,
R refunded). We list the shipping statuses configured as unprocessed (default N and P), one `_cnd[shippingStatus]`
at a time, paged with `_cnd[limit]=[offset, size]` in order id order and limited to orders created in the last
`max_age_days` (`_cnd[dateRange]`): the API has no modified-since filter, so each poll walks the (short)
unshipped list, and an order's version is its `lastRenewDate` (a re-read version is no new intake). The cursor is
the position in that walk, so a restart resumes where it stopped. Payment status C is skipped as cancelled, D and
R as not importable; only P is paid.

Field names follow the add-on's default schema (order_id, orderNumber, date, lastRenewDate, total, subtotal,
currency, items, surcharges, profile, trackingNumbers, shipping_method_name, payment_method_name, notes);
the inner shapes of `profile.addresses`, `items` and `surcharges` (type shipping|discount|tax|handling, value,
include: already in the prices) follow X-Cart's models and are **[unverified]** against a live shop.

Write-back: `PUT …&_path=order/<id>` with form fields `model[shippingStatus][code]=S` and the tracking numbers
as `model[trackingNumbers][n][value]` **[unverified field form]**; the order is read first, and one already
shipped with that number is left alone.
"""

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx

from ingest.connectors.base import ConnectorError, Page, RawOrder, RefundNotice, ShipmentNotice
from ingest.connectors.http import dumps, get_json
from ingest.domain.channel_orders import _country, _name, _order_details, _reject, _text, load_json_object
from ingest.domain.channels import ChannelConfig
from ingest.domain.codes import minor_digits
from ingest.domain.errors import OrderSkipped
from oms_contracts.common import OrderDetails

CHANNEL = "xcart5"
DEFAULT_STATUSES = ("N", "P")
DEFAULT_PAGE_SIZE = 50
DEFAULT_MAX_AGE_DAYS = 60
SHIPPED = frozenset({"S", "D"})


class XCart5Connector:
    """One X-Cart 5 shop's orders in the unprocessed shipping statuses, and the shipped write-back."""

    channel = CHANNEL

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, key: str, write_key: str | None = None,
                 statuses: tuple[str, ...] = DEFAULT_STATUSES, page_size: int = DEFAULT_PAGE_SIZE,
                 max_age_days: float = DEFAULT_MAX_AGE_DAYS, clock=time.time) -> None:
        self.http = http
        self.url = f"{base_url.rstrip('/')}/admin.php"
        self.key, self.write_key = key, write_key or key
        self.statuses = tuple(s.strip().upper() for s in statuses)
        self.page_size = max(1, page_size)
        self.max_age = max_age_days * 86_400
        self.clock = clock

    def _params(self, path: str, key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"target": "RESTAPI", "_key": key, "_path": path, **(extra or {})}

    def cursor_at(self, moment: datetime) -> str:
        """The start of a walk (reconciliation keeps the versions changed since `moment` from it)."""
        return json.dumps({"status": 0, "offset": 0})

    async def fetch(self, cursor: str | None) -> Page:
        """One page of the walk `{"status": index into the statuses, "offset": n}` over the unshipped orders."""
        state = json.loads(cursor) if cursor else {"status": 0, "offset": 0}
        index, offset = int(state.get("status") or 0), int(state.get("offset") or 0)
        if index >= len(self.statuses):
            index, offset = 0, 0
        now = int(self.clock())
        params = self._params("order", self.key, {
            "_cnd[shippingStatus]": self.statuses[index],
            "_cnd[dateRange][0]": str(int(now - self.max_age)), "_cnd[dateRange][1]": str(now),
            "_cnd[orderBy][0]": "o.order_id", "_cnd[orderBy][1]": "ASC",
            "_cnd[limit][0]": str(offset), "_cnd[limit][1]": str(self.page_size),
        })
        data, _ = await get_json(self.http, self.url, channel=CHANNEL, params=params)
        if not isinstance(data, list):
            raise ConnectorError(f"{CHANNEL}: unexpected answer (not a list of orders)")
        orders = [RawOrder(channel_order_id=str(o.get("orderNumber") or o.get("order_id")), body=dumps(o),
                           updated_at=_unix(o.get("lastRenewDate") or o.get("date"), o)) for o in data]
        if len(data) == self.page_size:
            next_state = {"status": index, "offset": offset + len(data)}
        elif index + 1 < len(self.statuses):
            next_state = {"status": index + 1, "offset": 0}
        else:
            return Page(orders=orders, cursor=json.dumps({"status": 0, "offset": 0}), more=False)
        return Page(orders=orders, cursor=json.dumps(next_state), more=True)

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """An X-Cart 5 order; skipped when cancelled, declined or refunded, or not in an unprocessed status."""
        return normalise_xcart5_order(raw.body, unprocessed=self.statuses)

    async def _order(self, channel_order_id: str) -> dict:
        data, _ = await get_json(self.http, self.url, channel=CHANNEL,
                                 params=self._params(f"order/{_order_id(channel_order_id)}", self.write_key))
        if not isinstance(data, dict) or not data:
            raise ConnectorError(f"{CHANNEL}: order {channel_order_id} is not in the shop")
        return data

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """Shipping status S with the tracking number, unless the shop already has both."""
        order = await self._order(notice.channel_order_id)
        numbers = [str(t.get("value")) for t in order.get("trackingNumbers") or [] if isinstance(t, dict)]
        if _code(order.get("shippingStatus")) in SHIPPED and notice.tracking_number in numbers:
            return
        form = {"model[shippingStatus][code]": "S"}
        for n, number in enumerate([*[x for x in numbers if x != notice.tracking_number], notice.tracking_number]):
            form[f"model[trackingNumbers][{n}][value]"] = number
        params = self._params(f"order/{_order_id(notice.channel_order_id)}", self.write_key)
        try:
            response = await self.http.put(self.url, params=params, data=form)
        except httpx.HTTPError as exc:
            raise ConnectorError(f"{CHANNEL}: cannot reach {self.url} ({type(exc).__name__})") from None
        if response.status_code in (401, 403):
            raise ConnectorError(f"{CHANNEL}: the read/write key was refused ({response.status_code})")
        if response.status_code >= 400:
            raise ConnectorError(f"{CHANNEL}: {response.status_code} {response.text[:300]}")

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        raise NotImplementedError("X-Cart 5 cancellations are not written back (cancel in the shop's admin)")

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError("X-Cart 5 refunds are not written back (refund in the shop's admin)")


def _order_id(channel_order_id: str) -> int:
    try:
        return int(channel_order_id)
    except ValueError:
        raise ConnectorError(f"{CHANNEL}: {channel_order_id!r} is not an order number") from None


def _unix(value: Any, order: dict) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        raise ConnectorError(f"{CHANNEL}: order {order.get('order_id')} has no readable lastRenewDate "
                             f"({value!r})") from None


def _code(status: Any) -> str:
    return str((status or {}).get("code") if isinstance(status, dict) else status or "").upper()


def _decimal(value: Any, loc: tuple) -> Decimal:
    try:
        number = Decimal(str(value if value not in (None, "") else "0").strip())
    except InvalidOperation:
        raise _reject(loc, f"{value!r} is not a number", "money_invalid") from None
    if not number.is_finite():
        raise _reject(loc, f"{value!r} is not a number", "money_invalid")
    return number


def _address(address: dict, loc: tuple) -> dict[str, Any]:
    return {
        "name": _name(address.get("firstname"), address.get("lastname")),
        "company": _text(address.get("company")),
        "line1": _text(address.get("street")),
        "line2": _text(address.get("street2")),
        "city": _text(address.get("city")),
        "region": _text(address.get("state")) or _text(address.get("custom_state")),
        "postcode": _text(address.get("zipcode")),
        "country": _country(address.get("country_code"), loc=(*loc, "country_code")),
        "phone": _text(address.get("phone")),
    }


def normalise_xcart5_order(body: str, *, unprocessed: tuple[str, ...] = DEFAULT_STATUSES) -> OrderDetails:
    """An X-Cart 5 REST order into OrderDetails."""
    data = load_json_object(body)
    payment, shipping_status = _code(data.get("paymentStatus")), _code(data.get("shippingStatus"))
    if payment == "C":
        raise OrderSkipped("cancelled")
    if payment in ("D", "R"):
        raise OrderSkipped(f"not_unprocessed: payment status {payment!r} (declined or refunded)")
    if shipping_status not in unprocessed:
        reason = "already_shipped" if shipping_status in SHIPPED else "not_unprocessed"
        raise OrderSkipped(f"{reason}: shipping status {shipping_status!r} is not one of {', '.join(unprocessed)}")
    currency_field = data.get("currency")
    currency = str((currency_field or {}).get("code") if isinstance(currency_field, dict) else currency_field or "")
    step = Decimal(1).scaleb(-minor_digits(currency))
    shipping, discount, tax_excluded = Decimal(0), Decimal(0), Decimal(0)
    for i, surcharge in enumerate(data.get("surcharges") or []):
        value = _decimal(surcharge.get("value"), ("surcharges", i, "value"))
        if surcharge.get("include") in (True, 1, "1", "true"):
            continue  # already inside the prices
        kind = str(surcharge.get("type") or "").lower()
        if kind == "discount" or value < 0:
            discount += abs(value)
        elif kind == "tax":
            tax_excluded += value
        else:
            shipping += value  # shipping, handling and payment fees: charged with the delivery
    subtotal = _decimal(data.get("subtotal"), ("subtotal",))
    rate = tax_excluded / subtotal if tax_excluded and subtotal else Decimal(0)
    lines = []
    for i, item in enumerate(data.get("items") or []):
        unit = _decimal(item.get("price"), ("items", i, "price")) * (1 + rate)
        lines.append({
            "line_id": str(item.get("item_id")),
            "sku": _text(item.get("sku")),
            "title": _text(item.get("name")),
            "quantity": item.get("amount"),
            "unit_price": unit.quantize(step, rounding=ROUND_HALF_UP),
            "tax_rate": rate.quantize(Decimal("0.0001")),
        })
    profile = data.get("profile") or {}
    addresses = [a for a in profile.get("addresses") or [] if isinstance(a, dict)]
    ship_to = next((a for a in addresses if a.get("is_shipping")), addresses[0] if addresses else None)
    if ship_to is None:
        raise _reject(("profile", "addresses"), "the order has no shipping address", "missing")
    billing = next((a for a in addresses if a.get("is_billing")), None)
    number = str(data.get("orderNumber") or data.get("order_id"))
    fields = {
        "channel": CHANNEL,
        "channel_order_id": number,
        "order_number": number,
        "buyer": {
            "name": _name((billing or ship_to).get("firstname"), (billing or ship_to).get("lastname")),
            "email": _text(profile.get("login")),
            "phone": _text((billing or ship_to).get("phone")),
        },
        "shipping_address": _address(ship_to, ("profile", "addresses")),
        "billing_address": _address(billing, ("profile", "addresses")) if billing else None,
        "lines": lines,
        "shipping": {"service": _text(data.get("shipping_method_name")) or "Standard", "cost": shipping.quantize(step)},
        "currency": currency,
        "discount": discount.quantize(step),
        "paid": payment == "P",
        "notes": (_text(data.get("notes")) or "")[:2000] or None,
        "placed_at": datetime.fromtimestamp(int(data["date"]), UTC).isoformat() if data.get("date") else None,
    }
    charged = _decimal(data.get("total"), ("total",)).quantize(step)
    return _order_details(fields, charged=charged, loc_total=("total",))


def build(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> XCart5Connector:
    """An X-Cart 5 channel: url = the shop's base URL, credential `key` (read-only) and `write_key` (read/write,
    for the write-back); options `page_size`, `max_age_days`."""
    if not config.url:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} has no url")
    if "key" not in credentials:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} needs credential 'key'")
    return XCart5Connector(
        http=http, base_url=config.url, key=credentials["key"], write_key=credentials.get("write_key"),
        statuses=tuple(config.unprocessed_statuses or DEFAULT_STATUSES),
        page_size=int(config.options.get("page_size", DEFAULT_PAGE_SIZE)),
        max_age_days=float(config.options.get("max_age_days", DEFAULT_MAX_AGE_DAYS)),
    )
