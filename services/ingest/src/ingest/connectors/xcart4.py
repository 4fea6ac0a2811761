"""X-Cart 4: orders read from the shop's MySQL database (`xcart_orders`, `xcart_order_details`,
`xcart_order_status_history`; prefix option `table_prefix`, default `xcart_`).

Single-letter statuses: Q queued, P processed, B backordered are imported by default (A pre-authorised can be
added); C complete is shipped, D declined, F failed and I not finished are skipped. The order row has no
modification time: an order's change time is the later of its `date` (Unix) and its last status-history entry,
and the cursor is that time with the order id as tie-break; a poll that reaches the end re-reads the last second
(absorbed as re-fetches). Orders younger than `settle_seconds` wait: the shop writes the order and its lines
one by one. There is no currency column: the shop has one, given as option `currency`. P, B and C are paid;
Q (awaiting payment, e.g. a bank transfer) and A are not.

Money: lines `price` × `amount`; total = subtotal − discount − coupon_discount − giftcert_discount +
shipping_cost + payment_surcharge (+ tax where prices exclude it, spread over the lines at one rate).

Write-back: shipped = `status='C'` and the tracking number in `tracking` (the shop shows it to the buyer;
re-sending the same number changes nothing). The status history's `details` format is the shop's own
serialised PHP, so no history row is written. No cancel or refund through the database.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx

from ingest.connectors.base import ConnectorError, Page, RawOrder, RefundNotice, ShipmentNotice
from ingest.connectors.sql import ShopDatabase, dumps, jsonable, placeholders, table_prefix
from ingest.domain.channel_orders import _country, _name, _order_details, _reject, _text, load_json_object
from ingest.domain.channels import ChannelConfig
from ingest.domain.codes import minor_digits
from ingest.domain.errors import OrderSkipped
from oms_contracts.common import OrderDetails

CHANNEL = "xcart"  # the channel name of the research samples (X-Cart 5 is "xcart5")
DEFAULT_STATUSES = ("Q", "P", "B")
PAID_STATUSES = frozenset({"P", "B", "C"})
SHIPPED = "C"
DEFAULT_PAGE_SIZE = 100
DEFAULT_SETTLE_SECONDS = 30
_STATUS_WORDS = {"Q": "queued", "P": "processed", "B": "backordered", "A": "pre-authorised", "C": "complete",
                 "D": "declined", "F": "failed", "I": "not finished"}


class XCart4Connector:
    """One X-Cart 4 shop database: unprocessed orders changed since the cursor, and the shipped write-back."""

    channel = CHANNEL

    def __init__(self, *, db: ShopDatabase, currency: str, prefix: str = "xcart_",
                 statuses: tuple[str, ...] = DEFAULT_STATUSES, page_size: int = DEFAULT_PAGE_SIZE,
                 settle_seconds: int = DEFAULT_SETTLE_SECONDS, start: int = 0) -> None:
        self.db = db
        self.currency = currency
        self.orders, self.details, self.history = (f"{prefix}orders", f"{prefix}order_details",
                                                   f"{prefix}order_status_history")
        self.products = f"{prefix}products"
        self.statuses = tuple(s.strip().upper() for s in statuses)
        self.page_size = max(1, page_size)
        self.settle_seconds = max(0, settle_seconds)
        self.start = start

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed since `moment` (reconciliation lists a window with it)."""
        return json.dumps({"changed": int(moment.timestamp()), "id": 0})

    async def fetch(self, cursor: str | None) -> Page:
        """One page of orders in the unprocessed statuses changed after `{"changed": unix time, "id": orderid}`."""
        state = json.loads(cursor) if cursor else {"changed": self.start, "id": 0}
        since, after = int(state.get("changed") or 0), int(state.get("id") or 0)
        changed = (f"GREATEST(o.`date`, COALESCE((SELECT MAX(h.date_time) FROM {self.history} h "
                   f"WHERE h.orderid = o.orderid), 0))")
        orders = await self.db.rows(
            f"SELECT o.*, {changed} AS oms_changed FROM {self.orders} o "
            f"WHERE o.`status` IN ({placeholders(self.statuses)}) "
            f"HAVING oms_changed <= UNIX_TIMESTAMP() - %s AND (oms_changed > %s OR (oms_changed = %s AND orderid > %s)) "
            f"ORDER BY oms_changed, orderid LIMIT %s",
            (*self.statuses, self.settle_seconds, since, since, after, self.page_size))
        lines: dict[int, list[dict]] = {}
        if orders:
            ids = [int(o["orderid"]) for o in orders]
            for row in await self.db.rows(f"SELECT * FROM {self.details} WHERE orderid IN ({placeholders(ids)}) "
                                          f"ORDER BY orderid, itemid", ids):
                lines.setdefault(int(row["orderid"]), []).append(jsonable(row))
        raws = []
        for order in orders:
            body = {"order": jsonable({k: v for k, v in order.items() if k != "oms_changed"}),
                    "details": lines.get(int(order["orderid"]), []), "currency": self.currency}
            raws.append(RawOrder(channel_order_id=str(order["orderid"]), body=dumps(body),
                                 updated_at=datetime.fromtimestamp(int(order["oms_changed"]), UTC)))
        if len(orders) == self.page_size:
            last = orders[-1]
            return Page(orders=raws, cursor=json.dumps({"changed": int(last["oms_changed"]),
                                                        "id": int(last["orderid"])}), more=True)
        latest = int(orders[-1]["oms_changed"]) if orders else since
        return Page(orders=raws, cursor=json.dumps({"changed": latest, "id": 0}), more=False)

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """An X-Cart 4 order; skipped when not in an unprocessed status."""
        return normalise_xcart4_order(raw.body, unprocessed=self.statuses)

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """`status='C'` and the tracking number; the same number again changes nothing."""
        try:
            order_id = int(notice.channel_order_id)
        except ValueError:
            raise ConnectorError(f"{CHANNEL}: {notice.channel_order_id!r} is not an order id") from None
        tracking = notice.tracking_number[:64]  # the column's size
        async with self.db.cursor(transaction=True) as cursor:
            await cursor.execute(f"SELECT `status`, tracking FROM {self.orders} WHERE orderid = %s FOR UPDATE",
                                 (order_id,))
            row = await cursor.fetchone()
            if row is None:
                raise ConnectorError(f"{CHANNEL}: order {order_id} is not in the shop's database")
            if row["status"] == SHIPPED and row["tracking"] == tracking:
                return
            await cursor.execute(f"UPDATE {self.orders} SET `status` = %s, tracking = %s WHERE orderid = %s",
                                 (SHIPPED, tracking, order_id))

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        raise NotImplementedError("X-Cart 4 has no cancelled status to set through its database: decline the "
                                  "order in the shop's admin")

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError("X-Cart 4 takes no refunds through its database: refund in the shop's admin")

    async def set_available(self, sku: str, available: int) -> None:
        """`xcart_products.avail` of the product whose `productcode` is the SKU (none: the shop does not sell it).
        Product variants (`xcart_variants`) are not set."""
        async with self.db.cursor() as cursor:
            await cursor.execute(f"UPDATE {self.products} SET avail = %s WHERE productcode = %s",
                                 (max(available, 0), sku))


def _decimal(value: Any, loc: tuple) -> Decimal:
    try:
        number = Decimal(str(value if value not in (None, "") else "0").strip())
    except InvalidOperation:
        raise _reject(loc, f"{value!r} is not a number", "money_invalid") from None
    if not number.is_finite() or number < 0:
        raise _reject(loc, f"{value!r} is not a non-negative amount", "money_invalid")
    return number


def _address(order: dict, prefix: str) -> dict[str, Any]:
    # X-Cart 4 may keep two address lines in one column, joined by a newline.
    street = [part.strip() for part in str(order.get(f"{prefix}address") or "").splitlines() if part.strip()]
    return {
        "name": _name(order.get(f"{prefix}firstname"), order.get(f"{prefix}lastname")),
        "company": _text(order.get("company")) if prefix == "s_" else None,
        "line1": street[0] if street else None,
        "line2": ", ".join(street[1:]) or None,
        "city": _text(order.get(f"{prefix}city")),
        "region": _text(order.get(f"{prefix}state")) or _text(order.get(f"{prefix}county")),
        "postcode": _text(order.get(f"{prefix}zipcode")),
        "country": _country(order.get(f"{prefix}country"), loc=(f"{prefix}country",)),
        "phone": _text(order.get(f"{prefix}phone")),
    }


def normalise_xcart4_order(body: str, *, unprocessed: tuple[str, ...] = DEFAULT_STATUSES) -> OrderDetails:
    """An X-Cart 4 order as read by the connector (its rows as JSON) into OrderDetails."""
    data = load_json_object(body)
    order = data.get("order") or {}
    status = str(order.get("status") or "").upper()
    if status not in unprocessed:
        word = _STATUS_WORDS.get(status, "unknown")
        reason = "already_shipped" if status == SHIPPED else "not_unprocessed"
        raise OrderSkipped(f"{reason}: status {status!r} ({word}) is not one of {', '.join(unprocessed)}")
    currency = str(data.get("currency") or "")
    step = Decimal(1).scaleb(-minor_digits(currency))

    def amount(field: str) -> Decimal:
        return _decimal(order.get(field), (field,))

    details = data.get("details") or []
    subtotal, tax = amount("subtotal"), amount("tax")
    discount = amount("discount") + amount("coupon_discount") + amount("giftcert_discount")
    shipping = amount("shipping_cost") + amount("payment_surcharge")
    charged = amount("total").quantize(step)
    # Prices exclude tax when the total needs it on top: spread it over the lines at one rate.
    rate = (tax / subtotal) if tax and subtotal and subtotal - discount + shipping + tax == charged else Decimal(0)
    lines = []
    for i, item in enumerate(details):
        unit = _decimal(item.get("price"), ("details", i, "price")) * (1 + rate)
        title = _text(item.get("product"))
        # Chosen options ("Size: L" lines): the variant to pick, when the product code names only the product.
        chosen = [part.strip() for part in str(item.get("product_options") or "").splitlines() if part.strip()]
        if title and chosen:
            title = f"{title} ({', '.join(chosen)})"[:300]
        lines.append({
            "line_id": str(item.get("itemid")),
            "sku": _text(item.get("productcode")) or str(item.get("productid")),
            "title": title,
            "quantity": item.get("amount"),
            "unit_price": unit.quantize(step, rounding=ROUND_HALF_UP),
            "tax_rate": rate.quantize(Decimal("0.0001")),
        })
    placed = order.get("date")
    billing = _address(order, "b_") if _text(order.get("b_address")) else None
    fields = {
        "channel": CHANNEL,
        "channel_order_id": str(order.get("orderid")),
        "order_number": str(order.get("orderid")),
        "buyer": {
            "name": _name(order.get("firstname"), order.get("lastname"))
            or _name(order.get("b_firstname"), order.get("b_lastname")),
            "email": _text(order.get("email")),
            "phone": _text(order.get("b_phone")) or _text(order.get("s_phone")),
        },
        "shipping_address": _address(order, "s_"),
        "billing_address": billing,
        "lines": lines,
        "shipping": {"service": _text(order.get("shipping")) or "Standard", "cost": shipping.quantize(step)},
        "currency": currency,
        "discount": discount.quantize(step),
        "paid": status in PAID_STATUSES,
        "notes": (_text(order.get("customer_notes")) or "")[:2000] or None,
        "placed_at": datetime.fromtimestamp(int(placed), UTC).isoformat() if placed else None,
    }
    return _order_details(fields, charged=charged, loc_total=("total",))


def build(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> XCart4Connector:
    """An X-Cart 4 channel: url `mysql://user@host:port/db`, credential `password`, option `currency` (the shop's,
    required); options `table_prefix` (default `xcart_`), `page_size`, `settle_seconds`, `start` (Unix time)."""
    if not config.url:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} has no url (mysql://user@host:port/database)")
    currency = str(config.options.get("currency") or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} needs option 'currency' (the shop's ISO code)")
    db = ShopDatabase(dsn=config.url, password=credentials.get("password"), channel=CHANNEL)
    return XCart4Connector(
        db=db, currency=currency,
        prefix=table_prefix(config.options.get("table_prefix", "xcart_"), channel=CHANNEL),
        statuses=tuple(config.unprocessed_statuses or DEFAULT_STATUSES),
        page_size=int(config.options.get("page_size", DEFAULT_PAGE_SIZE)),
        settle_seconds=int(config.options.get("settle_seconds", DEFAULT_SETTLE_SECONDS)),
        start=int(config.options.get("start", 0)),
    )
