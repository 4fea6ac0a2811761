"""osCommerce 2.x and Zen Cart 1.5 (one schema family): orders read from the shop's MySQL database.

Tables `orders`, `orders_products` (+ `orders_products_attributes`: the chosen options go into the line title, as
the model number names the product, not the variant), `orders_total`, `orders_status`, `orders_status_history`
and `countries` (Zen Cart may prefix them, option `table_prefix`, e.g. `zen_`). Only orders in the statuses configured as
unprocessed are fetched (by name, resolved to ids per run; default Pending and Processing). The cursor is the
order's change time `COALESCE(last_modified, date_purchased)` (osCommerce sets last_modified on every status
change, date_purchased on a new order) with the order id as tie-break; a poll that reaches the end re-reads the
last second, so orders changed in that same second are fetched again (absorbed as re-fetches), never missed.
Orders younger than `settle_seconds` wait for the next poll: the shop writes an order's rows one by one, without
a transaction.

Money columns hold the shop's default currency: order-currency money is each stored value × `currency_value`,
rounded row by row (as the shop's own `text` column shows it). Discount rows (`ot_discount`, `ot_coupon`,
`ot_gv`, `ot_group_pricing`, or any row whose text starts with '-') hold positive values. Country is a name,
mapped through `countries`. There is no payment status: orders in a status configured as paid (default
Processing) are paid.

Write-back: shipped = status `shipped_status` (default Delivered) with `last_modified` now, plus one
`orders_status_history` row carrying the carrier and tracking number (not added twice for the same number);
cancelled = status `cancelled_status` (default Cancelled) when the shop has one. No refunds.
"""

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from ingest.connectors.base import ConnectorError, Page, RawOrder, RefundNotice, ShipmentNotice
from ingest.connectors.sql import TIME, ShopDatabase, dumps, jsonable, placeholders, table_prefix
from ingest.domain.channel_orders import _name, _order_details, _reject, _text, load_json_object
from ingest.domain.channels import ChannelConfig
from ingest.domain.codes import ISO_COUNTRIES, minor_digits
from ingest.domain.errors import OrderSkipped
from oms_contracts.common import OrderDetails

OSCOMMERCE = "oscommerce"
ZENCART = "zencart"
DEFAULT_STATUSES = ("Pending", "Processing")
DEFAULT_PAID_STATUSES = ("Processing",)
DEFAULT_SHIPPED_STATUS = "Delivered"
DEFAULT_CANCELLED_STATUS = "Cancelled"
DEFAULT_PAGE_SIZE = 100
DEFAULT_SETTLE_SECONDS = 30
EPOCH = "1970-01-01 00:00:00"
DISCOUNT_CLASSES = frozenset({"ot_discount", "ot_coupon", "ot_gv", "ot_group_pricing"})
_TAGS = re.compile(r"<[^>]+>")


def _status_key(name: Any) -> str:
    return str(name or "").strip().casefold()


class OsCommerceConnector:
    """One osCommerce or Zen Cart shop database: unprocessed orders since the cursor, and their write-back."""

    def __init__(self, *, channel: str, db: ShopDatabase, prefix: str = "", language_id: int = 1,
                 statuses: tuple[str, ...] = DEFAULT_STATUSES, paid_statuses: tuple[str, ...] = DEFAULT_PAID_STATUSES,
                 shipped_status: str = DEFAULT_SHIPPED_STATUS, cancelled_status: str = DEFAULT_CANCELLED_STATUS,
                 page_size: int = DEFAULT_PAGE_SIZE, settle_seconds: int = DEFAULT_SETTLE_SECONDS,
                 timezone: str = "UTC", start: str | None = None) -> None:
        self.channel = channel
        self.db = db
        self.t = {name: f"{prefix}{name}" for name in (
            "orders", "orders_products", "orders_products_attributes", "orders_total", "orders_status",
            "orders_status_history", "countries", "products")}
        self.language_id = language_id
        self.statuses = tuple(statuses)
        self.paid_statuses = tuple(paid_statuses)
        self.shipped_status = shipped_status
        self.cancelled_status = cancelled_status
        self.page_size = max(1, page_size)
        self.settle_seconds = max(0, settle_seconds)
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConnectorError(f"{channel}: unknown time zone {timezone!r}") from None
        self.start = start or EPOCH

    # --- fetch ---------------------------------------------------------------------------------------------

    async def _status_names(self) -> dict[int, str]:
        """Status id -> name, in the configured language."""
        rows = await self.db.rows(
            f"SELECT orders_status_id, orders_status_name FROM {self.t['orders_status']} WHERE language_id = %s",
            (self.language_id,))
        return {int(row["orders_status_id"]): row["orders_status_name"] for row in rows}

    async def _status_ids(self) -> dict[str, int]:
        """Status name (case-folded) -> id, in the configured language."""
        return {_status_key(name): status_id for status_id, name in (await self._status_names()).items()}

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed since `moment` (reconciliation lists a window with it)."""
        return json.dumps({"changed": moment.astimezone(self.zone).strftime(TIME), "id": 0})

    async def fetch(self, cursor: str | None) -> Page:
        """One page of unprocessed orders changed after the cursor `{"changed": shop time, "id": orders_id}`."""
        state = json.loads(cursor) if cursor else {"changed": self.start, "id": 0}
        since, after = str(state.get("changed") or self.start), int(state.get("id") or 0)
        status_names = await self._status_names()
        names = {_status_key(name): status_id for status_id, name in status_names.items()}
        wanted = [names[key] for key in map(_status_key, self.statuses) if key in names]
        if not wanted:
            raise ConnectorError(f"{self.channel}: the shop has no order status named "
                                 f"{', '.join(self.statuses)} (language {self.language_id})")
        changed = "COALESCE(o.last_modified, o.date_purchased)"
        orders = await self.db.rows(
            f"SELECT o.*, {changed} AS oms_changed FROM {self.t['orders']} o "
            f"WHERE o.orders_status IN ({placeholders(wanted)}) "
            f"AND {changed} <= NOW() - INTERVAL %s SECOND "
            f"AND ({changed} > %s OR ({changed} = %s AND o.orders_id > %s)) "
            f"ORDER BY oms_changed, o.orders_id LIMIT %s",
            (*wanted, self.settle_seconds, since, since, after, self.page_size))
        raws = await self._raw_orders(orders, status_names) if orders else []
        if len(orders) == self.page_size:
            last = orders[-1]
            next_cursor = {"changed": last["oms_changed"].strftime(TIME), "id": int(last["orders_id"])}
            return Page(orders=raws, cursor=json.dumps(next_cursor), more=True)
        # The end: the next poll re-reads the last second (a row may still land in it), absorbed as re-fetches.
        latest = orders[-1]["oms_changed"].strftime(TIME) if orders else since
        return Page(orders=raws, cursor=json.dumps({"changed": latest, "id": 0}), more=False)

    async def _raw_orders(self, orders: list[dict], status_names: dict[int, str]) -> list[RawOrder]:
        ids = [int(o["orders_id"]) for o in orders]
        products = await self._by_order(self.t["orders_products"], ids, "orders_products_id")
        attributes = await self._by_order(self.t["orders_products_attributes"], ids, "orders_products_attributes_id")
        totals = await self._by_order(self.t["orders_total"], ids, "sort_order, orders_total_id")
        history = await self._by_order(self.t["orders_status_history"], ids, "date_added, orders_status_history_id")
        country_names = sorted({str(o.get(f"{kind}_country") or "") for o in orders for kind in ("delivery", "billing")})
        countries = {row["countries_name"]: row["countries_iso_code_2"] for row in await self.db.rows(
            f"SELECT countries_name, countries_iso_code_2 FROM {self.t['countries']} "
            f"WHERE countries_name IN ({placeholders(country_names)})", country_names or [""])}
        raws = []
        for order in orders:
            order_id = int(order["orders_id"])
            changed: datetime = order["oms_changed"]
            body = {
                "order": jsonable({k: v for k, v in order.items() if k != "oms_changed"}),
                "status_name": status_names.get(int(order["orders_status"])),
                "products": [jsonable(row) for row in products.get(order_id, [])],
                "attributes": [jsonable(row) for row in attributes.get(order_id, [])],
                "totals": [jsonable(row) for row in totals.get(order_id, [])],
                "history": [jsonable(row) for row in history.get(order_id, [])],
                "countries": {name: code for name, code in countries.items()
                              if name in (order.get("delivery_country"), order.get("billing_country"))},
                "timezone": self.zone.key,
            }
            raws.append(RawOrder(channel_order_id=str(order_id), body=dumps(body),
                                 updated_at=changed.replace(tzinfo=self.zone).astimezone(UTC)))
        return raws

    async def _by_order(self, table: str, ids: list[int], order_by: str) -> dict[int, list[dict]]:
        grouped: dict[int, list[dict]] = {}
        for row in await self.db.rows(
                f"SELECT * FROM {table} WHERE orders_id IN ({placeholders(ids)}) ORDER BY orders_id, {order_by}", ids):
            grouped.setdefault(int(row["orders_id"]), []).append(row)
        return grouped

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """An osCommerce / Zen Cart order; skipped when cancelled or not in an unprocessed status."""
        return normalise_oscommerce_order(raw.body, channel=self.channel, unprocessed=self.statuses,
                                          paid=self.paid_statuses)

    # --- write-back ----------------------------------------------------------------------------------------

    async def _set_status(self, channel_order_id: str, status_name: str, comment: str, marker: str) -> None:
        """Move an order to `status_name` and add one history row holding `marker` (not again if one has it)."""
        try:
            order_id = int(channel_order_id)
        except ValueError:
            raise ConnectorError(f"{self.channel}: {channel_order_id!r} is not an order id") from None
        status_id = (await self._status_ids()).get(_status_key(status_name))
        if status_id is None:
            raise ConnectorError(f"{self.channel}: the shop has no order status named {status_name!r}")
        async with self.db.cursor(transaction=True) as cursor:
            await cursor.execute(f"SELECT orders_status FROM {self.t['orders']} WHERE orders_id = %s FOR UPDATE",
                                 (order_id,))
            row = await cursor.fetchone()
            if row is None:
                raise ConnectorError(f"{self.channel}: order {order_id} is not in the shop's database")
            await cursor.execute(
                f"SELECT 1 FROM {self.t['orders_status_history']} WHERE orders_id = %s AND orders_status_id = %s "
                f"AND LOCATE(%s, comments) > 0 LIMIT 1", (order_id, status_id, marker))
            if await cursor.fetchone() is None:
                await cursor.execute(
                    f"INSERT INTO {self.t['orders_status_history']} "
                    f"(orders_id, orders_status_id, date_added, customer_notified, comments) "
                    f"VALUES (%s, %s, NOW(), 0, %s)", (order_id, status_id, comment))
            if int(row["orders_status"]) != status_id:
                await cursor.execute(
                    f"UPDATE {self.t['orders']} SET orders_status = %s, last_modified = NOW() WHERE orders_id = %s",
                    (status_id, order_id))

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """Status `shipped_status` and a history row with carrier and tracking number (once per number)."""
        comment = f"Shipped with {notice.carrier}, tracking number {notice.tracking_number}"
        await self._set_status(notice.channel_order_id, self.shipped_status, comment, notice.tracking_number)

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        """Status `cancelled_status` with the reason in a history row (once)."""
        await self._set_status(channel_order_id, self.cancelled_status, f"Cancelled: {reason}", "Cancelled:")

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError(f"{self.channel} takes no refunds through its database: refund in the shop's admin")

    async def set_available(self, sku: str, available: int) -> None:
        """`products.products_quantity` of the products whose `products_model` is the SKU (none: not sold there)."""
        async with self.db.cursor() as cursor:
            await cursor.execute(
                f"UPDATE {self.t['products']} SET products_quantity = %s, products_last_modified = NOW() "
                f"WHERE products_model = %s", (max(available, 0), sku))


# --- normalising ---------------------------------------------------------------------------------------------

def _decimal(value: Any, loc: tuple) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, AttributeError):
        raise _reject(loc, f"{value!r} is not a number", "money_invalid") from None
    if not number.is_finite():
        raise _reject(loc, f"{value!r} is not a number", "money_invalid")
    return number


def _quantity(value: Any, loc: tuple) -> Any:
    number = _decimal(value, loc)
    return int(number) if number == number.to_integral_value() else value  # the contract names a fraction


def _country(name: Any, countries: Mapping[str, str], loc: tuple) -> str:
    text = _text(name) or ""
    code = (countries.get(text) or "").upper()
    if not code and text.upper() in ISO_COUNTRIES:
        code = text.upper()  # some shops store the code itself
    if code not in ISO_COUNTRIES:
        raise _reject(loc, f"country {text!r} is not in the shop's countries table", "country_invalid")
    return code


def _address(order: dict, kind: str, countries: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": _text(order.get(f"{kind}_name")),
        "company": _text(order.get(f"{kind}_company")),
        "line1": _text(order.get(f"{kind}_street_address")),
        "line2": _text(order.get(f"{kind}_suburb")),
        "city": _text(order.get(f"{kind}_city")),
        "region": _text(order.get(f"{kind}_state")),
        "postcode": _text(order.get(f"{kind}_postcode")),
        "country": _country(order.get(f"{kind}_country"), countries, (f"{kind}_country",)),
        "phone": _text(order.get("customers_telephone")) if kind == "delivery" else None,
    }


def _local_iso(value: Any, zone: str) -> str | None:
    text = _text(value)
    if not text:
        return None
    try:
        return datetime.strptime(text, TIME).replace(tzinfo=ZoneInfo(zone)).isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        raise _reject(("date_purchased",), f"{text!r} is not a MySQL time", "datetime_invalid") from None


def normalise_oscommerce_order(body: str, *, channel: str = OSCOMMERCE,
                               unprocessed: tuple[str, ...] = DEFAULT_STATUSES,
                               paid: tuple[str, ...] = DEFAULT_PAID_STATUSES) -> OrderDetails:
    """An osCommerce / Zen Cart order as read by the connector (its rows as JSON) into OrderDetails."""
    data = load_json_object(body)
    order = data.get("order") or {}
    status = _text(data.get("status_name")) or ""
    if "cancel" in status.casefold():
        raise OrderSkipped("cancelled")
    if _status_key(status) not in {_status_key(s) for s in unprocessed}:
        reason = "already_shipped" if _status_key(status) in ("delivered", "shipped") else "not_unprocessed"
        raise OrderSkipped(f"{reason}: status {status!r} is not one of {', '.join(unprocessed)}")
    currency = (_text(order.get("currency")) or "").upper()
    rate = _decimal(order.get("currency_value") or "1", ("currency_value",))
    step = Decimal(1).scaleb(-minor_digits(currency)) if len(currency) == 3 else Decimal("0.01")

    def converted(value: Any, loc: tuple) -> Decimal:
        # Stored in the shop's default currency: each value is converted and rounded on its own, as the shop does.
        return (_decimal(value, loc) * rate).quantize(step, rounding=ROUND_HALF_UP)

    options: dict[str, list[str]] = {}
    for attribute in data.get("attributes") or []:
        choice = _name(attribute.get("products_options"))
        value = _text(attribute.get("products_options_values"))
        if value:
            options.setdefault(str(attribute.get("orders_products_id")), []).append(
                f"{choice}: {value}" if choice else value)
    lines = []
    for i, product in enumerate(data.get("products") or []):
        loc = ("products", i)
        title = _text(product.get("products_name"))
        chosen = options.get(str(product.get("orders_products_id")))
        if title and chosen:
            title = f"{title} ({', '.join(chosen)})"  # the variant to pick: the model number is the product's
        tax = _decimal(product.get("products_tax") or "0", (*loc, "products_tax")) / 100
        gross = _decimal(product.get("final_price"), (*loc, "final_price")) * (1 + tax)
        lines.append({
            "line_id": str(product.get("orders_products_id")),
            "sku": _text(product.get("products_model")) or str(product.get("products_id")),
            "title": title[:300] if title else None,
            "quantity": _quantity(product.get("products_quantity"), (*loc, "products_quantity")),
            "unit_price": (gross * rate).quantize(step, rounding=ROUND_HALF_UP),
            "tax_rate": tax,
        })
    shipping_cost, fees, discount, charged = Decimal("0"), Decimal("0"), Decimal("0"), None
    service = _text(order.get("shipping_method"))  # Zen Cart keeps it on the order
    for i, total in enumerate(data.get("totals") or []):
        loc = ("totals", i)
        kind = _text(total.get("class")) or ""
        text = _TAGS.sub("", str(total.get("text") or "")).strip()
        value = converted(total.get("value") or "0", (*loc, "value")).copy_abs()
        if kind == "ot_total":
            charged = value
        elif kind == "ot_shipping":
            shipping_cost += value
            service = service or (_text(total.get("title")) or "").rstrip(":").strip() or None
        elif kind in DISCOUNT_CLASSES or text.startswith("-"):
            discount += value
        elif kind not in ("ot_subtotal", "ot_tax"):
            fees += value  # a surcharge module (low-order fee, COD fee): charged with the delivery
    if charged is None:
        raise _reject(("totals",), "the order has no ot_total row", "missing")
    notes = next((_text(row.get("comments")) for row in data.get("history") or []
                  if str(row.get("customer_notified")) == "1" and _text(row.get("comments"))), None)
    countries = data.get("countries") or {}
    zone = str(data.get("timezone") or "UTC")
    billing = _address(order, "billing", countries) if _text(order.get("billing_street_address")) else None
    fields = {
        "channel": channel,
        "channel_order_id": str(order.get("orders_id")),
        "order_number": str(order.get("orders_id")),
        "buyer": {
            "name": _text(order.get("customers_name")) or _name(order.get("delivery_name")),
            "email": _text(order.get("customers_email_address")),
            "phone": _text(order.get("customers_telephone")),
        },
        "shipping_address": _address(order, "delivery", countries),
        "billing_address": billing,
        "lines": lines,
        "shipping": {"service": service or "Standard", "cost": shipping_cost + fees},
        "currency": currency,
        "discount": discount,
        "paid": _status_key(status) in {_status_key(s) for s in paid},
        "notes": notes[:2000] if notes else None,
        "placed_at": _local_iso(order.get("date_purchased"), zone),
    }
    return _order_details(fields, charged=charged, loc_total=("totals", "ot_total"))


def _options(config: ChannelConfig) -> dict[str, Any]:
    options = config.options
    return {
        "language_id": int(options.get("language_id", 1)),
        "paid_statuses": tuple(options.get("paid_statuses") or DEFAULT_PAID_STATUSES),
        "shipped_status": str(options.get("shipped_status") or DEFAULT_SHIPPED_STATUS),
        "cancelled_status": str(options.get("cancelled_status") or DEFAULT_CANCELLED_STATUS),
        "page_size": int(options.get("page_size", DEFAULT_PAGE_SIZE)),
        "settle_seconds": int(options.get("settle_seconds", DEFAULT_SETTLE_SECONDS)),
        "timezone": str(options.get("timezone") or "UTC"),
        "start": options.get("start"),
    }


def _build(channel: str, config: ChannelConfig, credentials: Mapping[str, str]) -> OsCommerceConnector:
    if not config.url:
        raise ConnectorError(f"{channel}: channel {config.channel_id} has no url (mysql://user@host:port/database)")
    db = ShopDatabase(dsn=config.url, password=credentials.get("password"), channel=channel)
    return OsCommerceConnector(
        channel=channel, db=db, prefix=table_prefix(config.options.get("table_prefix"), channel=channel),
        statuses=tuple(config.unprocessed_statuses or DEFAULT_STATUSES), **_options(config))


def build_oscommerce(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient
                     ) -> OsCommerceConnector:
    """An osCommerce channel: url `mysql://user@host:port/db`, credential `password`; options `language_id`,
    `paid_statuses`, `shipped_status`, `cancelled_status`, `page_size`, `settle_seconds`, `timezone` (the shop
    server's, default UTC), `start` (first change time, shop time `YYYY-MM-DD HH:MM:SS`), `table_prefix`."""
    return _build(OSCOMMERCE, config, credentials)


def build_zencart(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient
                  ) -> OsCommerceConnector:
    """A Zen Cart channel: as osCommerce, usually with `table_prefix` (e.g. `zen_`)."""
    return _build(ZENCART, config, credentials)

