"""Normalisers of channel order payloads (Shopify and WooCommerce REST order JSON) into OrderDetails.

Both take the raw webhook body (money parsed from its text as Decimal, never float) and either return the
order, raise OrderSkipped (cancelled, or a status not configured as unprocessed) or PayloadRejected naming
what is wrong. The normalised total (lines + shipping - discount) must equal what the channel says the buyer
was charged; an order that does not add up is rejected rather than imported with wrong money.
"""

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from ingest.domain.codes import ISO_COUNTRIES, minor_digits
from ingest.domain.errors import OrderSkipped, PayloadRejected, Problem
from ingest.domain.webhooks import SHOPIFY, WOOCOMMERCE
from oms_contracts.common import OrderDetails

SHOPIFY_ORDER_TOPICS = frozenset({"orders/create", "orders/updated"})
WOOCOMMERCE_ORDER_TOPICS = frozenset({"order.created", "order.updated"})
# WooCommerce statuses imported by default: processing (paid) and on-hold (awaiting a bank transfer).
DEFAULT_WOOCOMMERCE_STATUSES = ("processing", "on-hold")
DEFAULT_SHIPPING_SERVICE = "Standard"
_SHOPIFY_PAID = frozenset({"paid", "partially_refunded"})


def _reject(loc: tuple, msg: str, type_: str) -> PayloadRejected:
    return PayloadRejected([Problem(loc=("body", *loc), msg=msg, type=type_)])


def load_json_object(body: str) -> dict[str, Any]:
    """The body as a JSON object, numbers with a fraction read as Decimal."""
    try:
        data = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise _reject((), f"not JSON: {exc}", "json_invalid") from exc
    if not isinstance(data, dict):
        raise _reject((), "expected a JSON object", "model_type")
    return data


def money(value: Any, *, currency: str, loc: tuple) -> Decimal:
    """A non-negative amount with the currency's minor digits ("3980.00" is fine for JPY, "3980.50" is not)."""
    try:
        amount = Decimal(str(value).strip()) if value is not None and not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise _reject(loc, f"{value!r} is not a non-negative amount", "money_invalid")
    step = Decimal(1).scaleb(-minor_digits(currency))
    if amount.quantize(step) != amount:
        raise _reject(loc, f"{value} has more decimal places than {currency} has", "money_invalid")
    return amount.quantize(step)


def _text(value: Any) -> str | None:
    """Stripped text, None when missing or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _name(*parts: Any) -> str | None:
    return _text(" ".join(p for p in (_text(part) for part in parts) if p))


def _country(value: Any, *, loc: tuple) -> str:
    code = (_text(value) or "").upper()
    if code not in ISO_COUNTRIES:
        raise _reject(loc, f"{value!r} is not an ISO 3166-1 alpha-2 country code", "country_invalid")
    return code


def _aware(value: Any, *, loc: tuple, assume_utc: bool = False) -> datetime:
    """An ISO 8601 time with an offset (or, with `assume_utc`, a GMT time without one)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise _reject(loc, f"{value!r} is not an ISO 8601 time", "datetime_invalid") from None
    if moment.tzinfo is None:
        if not assume_utc:
            raise _reject(loc, f"{value!r} has no UTC offset", "datetime_invalid")
        moment = moment.replace(tzinfo=UTC)
    return moment


def _order_details(fields: dict[str, Any], *, charged: Decimal, loc_total: tuple) -> OrderDetails:
    """Validate the normalised order and check it adds up to what the channel charged."""
    try:
        order = OrderDetails.model_validate(fields)
    except ValidationError as exc:
        raise PayloadRejected([
            Problem(loc=("body", "normalised", *error["loc"]), msg=error["msg"], type=error["type"])
            for error in exc.errors()
        ]) from exc
    if order.total() != charged:
        raise _reject(
            loc_total,
            f"the order does not add up: lines {order.subtotal()} + shipping {order.shipping.cost} - discount "
            f"{order.discount} = {order.total()}, but the channel charged {charged}",
            "total_mismatch",
        )
    return order


# --- Shopify -------------------------------------------------------------------------------------------------

def _presentment(item: dict, field: str) -> Any:
    """An amount as the buyer paid it: `<field>_set.presentment_money.amount`, else the plain field."""
    money_set = item.get(f"{field}_set")
    if isinstance(money_set, dict):
        amount = (money_set.get("presentment_money") or {}).get("amount")
        if amount is not None:
            return amount
    return item.get(field)


def _tax_total(tax_lines: Any, currency: str, loc: tuple) -> Decimal:
    return sum(
        (money(_presentment(tax, "price"), currency=currency, loc=(*loc, i, "price"))
         for i, tax in enumerate(tax_lines or [])),
        Decimal("0"),
    )


def _shopify_address(address: dict, loc: tuple) -> dict[str, Any]:
    return {
        "name": _text(address.get("name")) or _name(address.get("first_name"), address.get("last_name")),
        "company": _text(address.get("company")),
        "line1": _text(address.get("address1")),
        "line2": _text(address.get("address2")),
        "city": _text(address.get("city")),
        "region": _text(address.get("province")),
        "postcode": _text(address.get("zip")),
        "country": _country(address.get("country_code"), loc=(*loc, "country_code")),
        "phone": _text(address.get("phone")),
    }


def normalise_shopify_order(body: str) -> tuple[OrderDetails, datetime]:
    """A Shopify REST Order (the orders/create and orders/updated webhook body) and its `updated_at`."""
    data = load_json_object(body)
    if data.get("cancelled_at"):
        raise OrderSkipped(f"cancelled (cancelled_at {data['cancelled_at']}, reason {data.get('cancel_reason')})")
    if data.get("id") is None:
        raise _reject(("id",), "missing", "missing")
    currency = _text(data.get("presentment_currency")) or _text(data.get("currency")) or ""
    taxes_included = bool(data.get("taxes_included"))
    customer = data.get("customer") or {}
    shipping_address = data.get("shipping_address")
    if not isinstance(shipping_address, dict):
        raise _reject(("shipping_address",), "the order has no shipping address", "missing")
    billing = data.get("billing_address")
    lines = []
    for i, item in enumerate(data.get("line_items") or []):
        loc = ("line_items", i)
        quantity = item.get("quantity")
        unit = money(_presentment(item, "price"), currency=currency, loc=(*loc, "price"))
        rate = sum((Decimal(str(tax.get("rate") or 0)) for tax in item.get("tax_lines") or []), Decimal("0"))
        if not taxes_included and isinstance(quantity, int) and quantity > 0:
            # Our lines carry tax-inclusive prices: add this line's tax, per unit.
            unit += _tax_total(item.get("tax_lines"), currency, (*loc, "tax_lines")) / quantity
        lines.append({
            "line_id": str(item.get("id")),
            "sku": _text(item.get("sku")),
            "title": _text(item.get("name")) or _text(item.get("title")),
            "quantity": quantity,
            "unit_price": unit,
            "tax_rate": rate,
        })
    shipping_lines = data.get("shipping_lines") or []
    shipping_cost = Decimal("0")
    for i, line in enumerate(shipping_lines):
        shipping_cost += money(_presentment(line, "price"), currency=currency, loc=("shipping_lines", i, "price"))
        if not taxes_included:
            shipping_cost += _tax_total(line.get("tax_lines"), currency, ("shipping_lines", i, "tax_lines"))
    service = next((_text(line.get("title")) or _text(line.get("code")) for line in shipping_lines), None)
    fields = {
        "channel": SHOPIFY,
        "channel_order_id": str(data["id"]),
        "order_number": _text(data.get("name")) or str(data.get("order_number") or data["id"]),
        "buyer": {
            "name": _name(customer.get("first_name"), customer.get("last_name"))
            or _text((billing or {}).get("name")) or _text(shipping_address.get("name")),
            "email": _text(customer.get("email")) or _text(data.get("email")) or _text(data.get("contact_email")),
            "phone": _text(data.get("phone")) or _text(customer.get("phone")) or _text(shipping_address.get("phone")),
        },
        "shipping_address": _shopify_address(shipping_address, ("shipping_address",)),
        "billing_address": _shopify_address(billing, ("billing_address",)) if isinstance(billing, dict) else None,
        "lines": lines,
        "shipping": {"service": service or DEFAULT_SHIPPING_SERVICE, "cost": shipping_cost},
        "currency": currency,
        "discount": money(_presentment(data, "total_discounts") or "0", currency=currency, loc=("total_discounts",)),
        "paid": data.get("financial_status") in _SHOPIFY_PAID,
        "notes": _text(data.get("note")),
        "placed_at": _text(data.get("created_at")),
    }
    charged = money(_presentment(data, "total_price"), currency=currency, loc=("total_price",))
    order = _order_details(fields, charged=charged, loc_total=("total_price",))
    return order, _aware(data.get("updated_at"), loc=("updated_at",))


# --- WooCommerce ---------------------------------------------------------------------------------------------

def _woo_address(address: dict, loc: tuple) -> dict[str, Any]:
    return {
        "name": _name(address.get("first_name"), address.get("last_name")),
        "company": _text(address.get("company")),
        "line1": _text(address.get("address_1")),
        "line2": _text(address.get("address_2")),
        "city": _text(address.get("city")),
        "region": _text(address.get("state")),
        "postcode": _text(address.get("postcode")),
        "country": _country(address.get("country"), loc=(*loc, "country")),
        "phone": _text(address.get("phone")),
    }


def normalise_woocommerce_order(
    body: str, *, unprocessed: Iterable[str] = DEFAULT_WOOCOMMERCE_STATUSES
) -> tuple[OrderDetails, datetime]:
    """A WooCommerce REST v3 order (the order.created / order.updated webhook body) and when it was modified.

    Only orders in an `unprocessed` status are imported; a cancelled one, or one in any other status
    (completed, pending payment, refunded...), is skipped with the reason.
    """
    data = load_json_object(body)
    status = _text(data.get("status")) or ""
    unprocessed = tuple(unprocessed)
    if status == "cancelled":
        raise OrderSkipped("cancelled")
    if status not in unprocessed:
        reason = "already_shipped" if status == "completed" else "not_unprocessed"
        raise OrderSkipped(f"{reason}: status {status!r} is not one of {', '.join(unprocessed)}")
    if data.get("id") is None:
        raise _reject(("id",), "missing", "missing")
    currency = _text(data.get("currency")) or ""
    billing = data.get("billing") or {}
    shipping_address = data.get("shipping") or {}
    if not _text(shipping_address.get("address_1")):
        # A virtual order or one shipped to the billing address: WooCommerce leaves `shipping` empty.
        shipping_address = billing
    lines = []
    for i, item in enumerate(data.get("line_items") or []):
        loc = ("line_items", i)
        quantity = item.get("quantity")
        # `subtotal` is before the coupon and without tax; the coupon is carried as the order's discount.
        gross = money(item.get("subtotal"), currency=currency, loc=(*loc, "subtotal")) + money(
            item.get("subtotal_tax") or "0", currency=currency, loc=(*loc, "subtotal_tax"))
        subtotal = Decimal(str(item.get("subtotal") or "0"))
        unit = gross / quantity if isinstance(quantity, int) and quantity > 0 else gross
        step = Decimal(1).scaleb(-minor_digits(currency))
        if unit.quantize(step) != unit:
            raise _reject((*loc, "subtotal"), f"{gross} does not divide into {quantity} unit prices in {currency}",
                          "money_invalid")
        rate = (Decimal(str(item.get("subtotal_tax") or "0")) / subtotal).quantize(Decimal("0.0001")) \
            if subtotal else Decimal("0")
        lines.append({
            "line_id": str(item.get("id")),
            "sku": _text(item.get("sku")),
            "title": _text(item.get("name")),
            "quantity": quantity,
            "unit_price": unit.quantize(step),
            "tax_rate": rate,
        })
    shipping_lines = data.get("shipping_lines") or []
    shipping_cost = sum(
        (money(line.get("total"), currency=currency, loc=("shipping_lines", i, "total"))
         + money(line.get("total_tax") or "0", currency=currency, loc=("shipping_lines", i, "total_tax"))
         for i, line in enumerate(shipping_lines)),
        Decimal("0"),
    )
    service = next((_text(line.get("method_title")) for line in shipping_lines), None)
    discount = money(data.get("discount_total") or "0", currency=currency, loc=("discount_total",)) + money(
        data.get("discount_tax") or "0", currency=currency, loc=("discount_tax",))
    fields = {
        "channel": WOOCOMMERCE,
        "channel_order_id": str(data["id"]),
        "order_number": _text(data.get("number")) or str(data["id"]),
        "buyer": {
            "name": _name(billing.get("first_name"), billing.get("last_name"))
            or _name(shipping_address.get("first_name"), shipping_address.get("last_name")),
            "email": _text(billing.get("email")),
            "phone": _text(billing.get("phone")),
        },
        "shipping_address": _woo_address(shipping_address, ("shipping",)),
        "billing_address": _woo_address(billing, ("billing",)) if _text(billing.get("address_1")) else None,
        "lines": lines,
        "shipping": {"service": service or DEFAULT_SHIPPING_SERVICE, "cost": shipping_cost},
        "currency": currency,
        "discount": discount,
        # processing = paid (or cash on delivery); on-hold = awaiting payment.
        "paid": status == "processing" or bool(data.get("date_paid_gmt")),
        "notes": _text(data.get("customer_note")),
        "placed_at": _gmt_text(data.get("date_created_gmt")) or _text(data.get("date_created")),
    }
    charged = money(data.get("total"), currency=currency, loc=("total",))
    order = _order_details(fields, charged=charged, loc_total=("total",))
    modified = data.get("date_modified_gmt") or data.get("date_created_gmt")
    return order, _aware(modified, loc=("date_modified_gmt",), assume_utc=True)


def _gmt_text(value: Any) -> str | None:
    """WooCommerce's `*_gmt` times come without an offset: say it is UTC."""
    text = _text(value)
    if text is None:
        return None
    return text if ("+" in text[10:] or text.endswith("Z")) else f"{text}+00:00"
