"""PayPal payments: read IPN bodies, REST webhook events and activity-download CSV files into PaymentDetails.

Amounts come out from the merchant's side (DESIGN of the channel samples): gross < 0 for a refund, fee < 0 when
PayPal charges one, net = gross + fee. Everything here is pure: no I/O.
"""

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from ingest.domain.codes import ISO_COUNTRIES
from ingest.domain.errors import OrderSkipped, PayloadRejected, Problem
from oms_contracts import derived_id
from oms_contracts.common import Address, PaymentDetails, PaymentItem

PROVIDER = "paypal"
# Purpose in the derived event id of `ingest.payment_received`.
PAYMENT_RECEIVED_PURPOSE = "payment-received"

# IPN `payment_date` zones (PayPal only sends its own Pacific time).
_PACIFIC = {"PST": timezone(timedelta(hours=-8)), "PDT": timezone(timedelta(hours=-7))}


def payment_event_id(payment: PaymentDetails) -> uuid.UUID:
    """The event id of a payment: one per (source, transaction, status), so a repeated notification or file row
    is the same event, while the same transaction from another source (or in a new status) is a new one."""
    return derived_id(f"{payment.provider}:{payment.transaction_id}", PAYMENT_RECEIVED_PURPOSE, payment.source,
                      payment.status.lower())


def payment_key(payment: PaymentDetails) -> str:
    """The Kafka key of a payment: `<provider>:<transaction id>`."""
    return f"{payment.provider}:{payment.transaction_id}"


def _reject(loc: tuple, msg: str, kind: str = "value_error") -> PayloadRejected:
    return PayloadRejected([Problem(loc=loc, msg=msg, type=kind)])


def _decimal(text: str | None, loc: tuple, *, required: bool = True) -> Decimal | None:
    """A decimal from PayPal text: thousands separators dropped; empty is None unless required."""
    cleaned = (text or "").strip().replace(",", "")
    if not cleaned:
        if required:
            raise _reject(loc, "missing amount", "missing")
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise _reject(loc, f"not an amount: {text!r}") from None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _country(code: str | None) -> str | None:
    """An ISO 3166 alpha-2 code, or None (PayPal sends the code beside the country's name)."""
    code = (code or "").strip().upper()
    return code if code in ISO_COUNTRIES else None


def _address(*, name, line1, line2, city, region, postcode, country) -> Address | None:
    """An address when the payment carries a usable one, else None (a payment without one is still a payment)."""
    try:
        return Address(name=name or "", line1=line1 or "", line2=line2, city=city or "", region=region,
                       postcode=postcode or "", country=country or "")
    except ValidationError:
        return None


def _email(value: str | None) -> str | None:
    text = _text(value)
    return text.lower() if text and re.fullmatch(r"[^@\s]+@[^@\s]+", text) else None


# --- IPN -----------------------------------------------------------------------------------------------------


def ipn_fields(raw: bytes) -> dict[str, str]:
    """The fields of a form-encoded IPN body, decoded with the body's own `charset` (windows-1252 or UTF-8)."""
    text = raw.decode("latin-1")  # form bodies are ASCII with %XX escapes; latin-1 never fails on stray bytes
    charset = "utf-8"
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
        if name == "charset" and value.strip():
            charset = value.strip()
            break
    try:
        "".encode(charset)
    except LookupError:
        raise _reject(("body", "charset"), f"unknown charset {charset!r}") from None
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, encoding=charset, errors="replace"):
        fields.setdefault(name, value)
    if not fields:
        raise _reject(("body",), "not a form-encoded IPN", "missing")
    return fields


def ipn_date(text: str | None) -> datetime | None:
    """`HH:MM:SS Mon DD, YYYY PST|PDT` as an aware UTC datetime (None when absent or unreadable)."""
    if not text:
        return None
    parts = text.strip().rsplit(" ", 1)
    zone = _PACIFIC.get(parts[-1].upper()) if len(parts) == 2 else None
    try:
        moment = datetime.strptime(parts[0] if zone else text.strip(), "%H:%M:%S %b %d, %Y")
    except ValueError:
        return None
    return moment.replace(tzinfo=zone or UTC).astimezone(UTC)


def payment_from_ipn(fields: dict[str, str]) -> PaymentDetails:
    """The payment an IPN describes; OrderSkipped for notifications that are not payments (e.g. a profile
    signup), PayloadRejected naming what is wrong."""
    txn_id = _text(fields.get("txn_id"))
    if not txn_id:
        raise OrderSkipped(f"IPN without txn_id (txn_type {fields.get('txn_type')!r}) is not a payment")
    status = _text(fields.get("payment_status"))
    if not status:
        raise _reject(("body", "payment_status"), "missing payment_status", "missing")
    gross = _decimal(fields.get("mc_gross"), ("body", "mc_gross"))
    # IPN mc_fee is positive on a payment (what PayPal took) and negative on a refund (what it gave back).
    fee_paid = _decimal(fields.get("mc_fee"), ("body", "mc_fee"), required=False) or Decimal("0")
    fee = -fee_paid
    parent = _text(fields.get("parent_txn_id"))
    # By sign: a refund or reversal takes money back (negative); a cancelled reversal returns it (positive).
    kind = "refund" if gross < 0 else "payment"
    items = []
    count = int(fields.get("num_cart_items") or 0) if (fields.get("num_cart_items") or "").isdigit() else 0
    numbered = [str(n) for n in range(1, count + 1)] if count else [
        key[len("item_name"):] for key in fields if re.fullmatch(r"item_name\d+", key)]
    for n in numbered or [""]:
        name = _text(fields.get(f"item_name{n}"))
        if not name:
            continue
        quantity = fields.get(f"quantity{n}") or "1"
        gross_n = fields.get(f"mc_gross_{n}") if n else None
        items.append(PaymentItem(
            name=name, number=_text(fields.get(f"item_number{n}")),
            quantity=int(quantity) if quantity.isdigit() and int(quantity) > 0 else 1,
            gross=_decimal(gross_n, ("body", f"mc_gross_{n}"), required=False) if gross_n else None,
        ))
    payer_name = " ".join(p for p in (_text(fields.get("first_name")), _text(fields.get("last_name"))) if p)
    street = (fields.get("address_street") or "").replace("\r\n", "\n").split("\n")
    address = _address(
        name=_text(fields.get("address_name")) or payer_name, line1=_text(street[0]),
        line2=_text(", ".join(s.strip() for s in street[1:] if s.strip())), city=_text(fields.get("address_city")),
        region=_text(fields.get("address_state")), postcode=_text(fields.get("address_zip")),
        country=_country(fields.get("address_country_code")),
    )
    try:
        return PaymentDetails(
            provider=PROVIDER, transaction_id=txn_id, kind=kind, status=status,
            currency=(fields.get("mc_currency") or "").strip().upper(), gross=gross, fee=fee, net=gross + fee,
            parent_transaction_id=parent, invoice=_text(fields.get("invoice")), custom=_text(fields.get("custom")),
            payer_email=_email(fields.get("payer_email")), payer_name=payer_name or None,
            receiver=_email(fields.get("receiver_email")) or _text(fields.get("business")),
            shipping_address=address,
            shipping=_nonneg(_decimal(fields.get("mc_shipping") or fields.get("shipping"), ("body", "mc_shipping"),
                                      required=False)),
            note=_text(fields.get("memo")), items=items, paid_at=ipn_date(fields.get("payment_date")), source="ipn",
        )
    except ValidationError as exc:
        raise _from_validation(exc) from None


def _nonneg(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value >= 0 else None


def _from_validation(exc: ValidationError) -> PayloadRejected:
    return PayloadRejected([Problem(loc=("body", *map(str, e["loc"])), msg=e["msg"], type=e["type"])
                            for e in exc.errors()])


# --- REST webhooks -------------------------------------------------------------------------------------------

# Capture events (resource: a capture) and refund events (resource: a refund).
CAPTURE_EVENTS = {"PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.PENDING", "PAYMENT.CAPTURE.DENIED",
                  "PAYMENT.CAPTURE.REVERSED"}
REFUND_EVENTS = {"PAYMENT.CAPTURE.REFUNDED", "PAYMENT.REFUND.COMPLETED"}


def webhook_event(raw: bytes) -> dict[str, Any]:
    """The JSON event of a PayPal webhook delivery, or PayloadRejected."""
    try:
        event = json.loads(raw)
    except ValueError as exc:
        raise _reject(("body",), f"not JSON: {exc}", "json_invalid") from None
    if not isinstance(event, dict) or not isinstance(event.get("resource"), dict) or not event.get("event_type"):
        raise _reject(("body",), "not a PayPal webhook event (needs event_type and resource)", "missing")
    return event


def _link_id(resource: dict, rel: str) -> str | None:
    for link in resource.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str):
            return link["href"].rstrip("/").rsplit("/", 1)[-1]
    return None


def payment_from_webhook(event: dict[str, Any]) -> PaymentDetails:
    """The payment (capture) or refund a REST webhook event describes; OrderSkipped for other event types."""
    event_type = event["event_type"]
    resource = event["resource"]
    if event_type not in CAPTURE_EVENTS | REFUND_EVENTS:
        raise OrderSkipped(f"event type {event_type} is not a capture or refund")
    refund = event_type in REFUND_EVENTS
    amount = resource.get("amount") or {}
    gross = _decimal(str(amount.get("value", "")), ("body", "resource", "amount", "value"))
    breakdown = resource.get("seller_receivable_breakdown") or resource.get("seller_payable_breakdown") or {}
    fee_value = (breakdown.get("paypal_fee") or {}).get("value")
    fee = _decimal(str(fee_value), ("body", "resource", "paypal_fee"), required=False) if fee_value else Decimal("0")
    status = resource.get("status") or event_type.rsplit(".", 1)[-1]
    if refund:
        gross, fee = -abs(gross), abs(fee)  # a refund takes money out; PayPal gives part of its fee back
    else:
        fee = -abs(fee)
    when = resource.get("update_time") or resource.get("create_time") or event.get("create_time")
    try:
        paid_at = datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else None
    except ValueError:
        paid_at = None
    try:
        return PaymentDetails(
            provider=PROVIDER, transaction_id=str(resource.get("id") or ""), kind="refund" if refund else "payment",
            status=str(status).capitalize(), currency=str(amount.get("currency_code", "")).upper(), gross=gross,
            fee=fee, net=gross + fee,
            parent_transaction_id=_link_id(resource, "up") if refund else None,
            invoice=_text(resource.get("invoice_id")), custom=_text(resource.get("custom_id")),
            payer_email=_email((resource.get("payer") or {}).get("email_address")),
            note=_text(resource.get("note_to_payer")), paid_at=paid_at, source="webhook",
        )
    except ValidationError as exc:
        raise _from_validation(exc) from None


# --- Activity download CSV -----------------------------------------------------------------------------------

# The columns we read (PayPal lets users pick columns, so they are found by header name).
_REQUIRED_COLUMNS = ("Date", "Type", "Status", "Currency", "Gross", "Transaction ID")
# Types that are money for or from a buyer; anything else (withdrawals, transfers, holds) is `other`.
_REFUND_TYPES = ("refund", "reversal", "chargeback")


@dataclass(frozen=True)
class ActivityRow:
    """One row of an activity file read into a payment, with its row number (the header is row 1)."""

    row: int
    payment: PaymentDetails


def parse_activity_csv(text: str, *, day_first: bool = True) -> list[ActivityRow]:
    """Every row of a PayPal activity download; PayloadRejected naming each bad row (nothing is half-read).

    `day_first`: the account locale's date order (DD/MM/YYYY in the UK, MM/DD/YYYY in the US).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        raise _reject(("body", "header"), f"not a PayPal activity file: no column {', '.join(missing)}", "missing")
    rows: list[ActivityRow] = []
    problems: list[Problem] = []
    for number, raw_row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw_row.items() if k is not None}
        if not any(row.values()):
            continue
        try:
            rows.append(ActivityRow(number, _activity_payment(row, number, day_first=day_first)))
        except PayloadRejected as rejected:
            problems.extend(rejected.problems)
    if problems:
        raise PayloadRejected(problems)
    return rows


def _activity_payment(row: dict[str, str], number: int, *, day_first: bool) -> PaymentDetails:
    loc = ("body", number)
    gross = _decimal(row.get("Gross"), (*loc, "Gross"))
    fee = _decimal(row.get("Fee"), (*loc, "Fee"), required=False) or Decimal("0")
    net = _decimal(row.get("Net"), (*loc, "Net"), required=False)
    net = gross + fee if net is None else net
    if net != gross + fee:
        raise _reject((*loc, "Net"), f"Net {net} is not Gross + Fee ({gross + fee})")
    kind_text = row.get("Type", "").lower()
    impact = row.get("Balance Impact", "").lower()
    if any(word in kind_text for word in _REFUND_TYPES):
        kind = "refund"
    elif "payment" in kind_text and gross > 0 and impact != "memo":
        kind = "payment"
    else:
        kind = "other"
    date_format = "%d/%m/%Y" if day_first else "%m/%d/%Y"
    paid_at = None
    try:
        moment = datetime.strptime(f"{row.get('Date', '')} {row.get('Time') or '00:00:00'}", f"{date_format} %H:%M:%S")
        paid_at = moment.replace(tzinfo=_PACIFIC.get(row.get("TimeZone", "").upper(), UTC)).astimezone(UTC)
    except ValueError:
        raise _reject((*loc, "Date"), f"not a date in {date_format}: {row.get('Date')!r}") from None
    # Buyer's side: on a payment the buyer is From, on a refund the buyer is To.
    buyer_email = row.get("To Email Address") if kind == "refund" else row.get("From Email Address")
    address = _address(
        name=_text(row.get("Name")), line1=_text(row.get("Address Line 1")),
        line2=_text(row.get("Address Line 2/District/Neighborhood")), city=_text(row.get("Town/City")),
        region=_text(row.get("State/Province/Region/County/Territory/Prefecture/Republic")),
        postcode=_text(row.get("Zip/Postal Code")), country=_country(row.get("Country Code")),
    )
    item_title = _text(row.get("Item Title"))
    quantity = row.get("Quantity") or "1"
    items = [PaymentItem(name=item_title, number=_text(row.get("Item ID")),
                         quantity=int(quantity) if quantity.isdigit() and int(quantity) > 0 else 1)] if item_title else []
    try:
        return PaymentDetails(
            provider=PROVIDER, transaction_id=row.get("Transaction ID", ""), kind=kind, status=row.get("Status") or "",
            currency=row.get("Currency", "").upper(), gross=gross, fee=fee, net=net,
            parent_transaction_id=_text(row.get("Reference Txn ID")), invoice=_text(row.get("Invoice Number")),
            custom=_text(row.get("Custom Number")), payer_email=_email(buyer_email), payer_name=_text(row.get("Name")),
            receiver=_email(row.get("From Email Address") if kind == "refund" else row.get("To Email Address")),
            shipping_address=address,
            shipping=_nonneg(_decimal(row.get("Shipping and Handling Amount"), (*loc, "Shipping"), required=False)),
            note=_text(row.get("Note")), items=items, paid_at=paid_at, source="activity_csv",
        )
    except ValidationError as exc:
        raise PayloadRejected([Problem(loc=(*loc, *map(str, e["loc"])), msg=e["msg"], type=e["type"])
                               for e in exc.errors()]) from None
