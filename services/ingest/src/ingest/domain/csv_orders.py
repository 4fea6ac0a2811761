"""The CSV order file: one row per order line, rows grouped into orders by `order_ref`; every bad row is named.

Pure: text in, normalised orders (or every row error) out. The column set and its rules are in the README.
"""

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from ingest.domain.codes import ISO_COUNTRIES, minor_digits
from ingest.domain.errors import PayloadRejected, Problem
from ingest.domain.normalise import NormalisedOrder
from oms_contracts.common import OrderDetails, OrderLine

CHANNEL = "csv"

LINE_COLUMNS = ("sku", "title", "quantity", "unit_price", "line_discount", "line_tax")
ORDER_COLUMNS = (
    "order_ref", "order_date", "status", "currency", "buyer_name", "buyer_email", "buyer_phone",
    "ship_name", "ship_company", "ship_address1", "ship_address2", "ship_address3", "ship_city", "ship_region",
    "ship_postcode", "ship_country", "shipping_service",
    "bill_name", "bill_company", "bill_address1", "bill_address2", "bill_address3", "bill_city", "bill_region",
    "bill_postcode", "bill_country",
    "shipping_cost", "order_discount", "grand_total", "payment_method", "payment_status", "payment_ref", "notes",
)
COLUMNS = ORDER_COLUMNS + LINE_COLUMNS
REQUIRED = (
    "order_ref", "order_date", "currency", "buyer_name", "ship_name", "ship_address1", "ship_city", "ship_postcode",
    "ship_country", "sku", "title", "quantity", "unit_price", "grand_total",
)

# Named layouts (their column -> our column); "standard" is our own column set.
MAPPINGS: dict[str, dict[str, str]] = {"standard": {}}

DEFAULT_SHIPPING_SERVICE = "Standard"
SKIPPED_STATUSES = {"cancelled": "cancelled", "shipped": "already_shipped"}
PAYMENT_STATUSES = {"paid": True, "unpaid": False, "pending": False, "": False}



@dataclass(frozen=True)
class SkippedOrder:
    """An order of the file that is deliberately not imported, and why (cancelled, already_shipped)."""

    channel_order_id: str
    row: int
    reason: str


@dataclass(frozen=True)
class CsvImport:
    """What a valid file holds: the orders to publish, in file order, and the orders skipped."""

    orders: list[NormalisedOrder]
    skipped: list[SkippedOrder]


class CsvRejected(PayloadRejected):
    """A file with at least one bad row; nothing of it is published. Its reason names every row (up to 100)."""

    @property
    def reason(self) -> str:
        """Every problem, `row 3, quantity: ...`, the first hundred."""
        described = [describe_row_problem(problem) for problem in self.problems[:100]]
        more = len(self.problems) - 100
        return "; ".join(described + ([f"... and {more} more"] if more > 0 else []))


def describe_row_problem(problem: Problem) -> str:
    """`row 3, quantity: must be a whole number` (or `header: ...` / `file: ...`)."""
    _, *where = problem.loc
    if where and isinstance(where[0], int):
        row, *column = where
        return f"row {row}" + (f", {column[0]}" if column else "") + f": {problem.msg}"
    return f"{'.'.join(map(str, where)) or 'file'}: {problem.msg}"


def row_problem(row: int, column: str | None, msg: str, type_: str) -> Problem:
    """A problem located at a row (1-based, header = row 1) and, if known, a column."""
    return Problem(loc=("body", row) + ((column,) if column else ()), msg=msg, type=type_)


def resolve_mapping(mapping: str | None) -> dict[str, str]:
    """Their column -> our column, from a mapping name or a JSON object; PayloadRejected if unusable."""
    if mapping is None or mapping in MAPPINGS:
        return dict(MAPPINGS[mapping or "standard"])
    try:
        parsed = json.loads(mapping)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()):
        raise PayloadRejected([Problem(
            loc=("query", "mapping"),
            msg=f"expected one of {sorted(MAPPINGS)} or a JSON object {{\"their column\": \"our column\"}}",
            type="mapping_invalid",
        )])
    unknown = sorted(set(parsed.values()) - set(COLUMNS))
    if unknown:
        raise PayloadRejected([Problem(
            loc=("query", "mapping"), msg=f"unknown target column(s) {unknown}; ours are {list(COLUMNS)}",
            type="mapping_invalid",
        )])
    return {their.strip(): ours for their, ours in parsed.items()}


def parse_csv_orders(text: str, *, mapping: Mapping[str, str] | None = None) -> CsvImport:
    """Every order of a CSV file, or CsvRejected naming every bad row; all or nothing."""
    if text.startswith("\ufeff"):
        text = text[1:]
    records = _records(text) if text.strip() else []
    if not records or not any(cell.strip() for cell in records[0]):
        raise CsvRejected([Problem(loc=("body",), msg="the file is empty (no header row)", type="empty_file")])
    positions = _header_positions(records[0], mapping or {})

    problems: list[Problem] = []
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    width = len(records[0])
    for row, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # a blank line between orders is harmless
        if len(record) != width:
            problems.append(row_problem(row, None, f"expected {width} fields like the header, found {len(record)}",
                                        "row_width"))
            continue
        values = {ours: record[index].strip() for ours, index in positions.items()}
        values.update({column: "" for column in COLUMNS if column not in positions})
        if not values["order_ref"]:
            problems.append(row_problem(row, "order_ref", "required", "missing"))
            continue
        groups.setdefault(values["order_ref"], []).append((row, values))
    if not groups and not problems:
        raise CsvRejected([Problem(loc=("body",), msg="the file has a header but no order rows", type="empty_file")])

    orders: list[NormalisedOrder] = []
    skipped: list[SkippedOrder] = []
    for order_ref, rows in groups.items():
        try:
            result = _order(order_ref, rows)
        except CsvRejected as rejected:
            problems.extend(rejected.problems)
            continue
        if isinstance(result, SkippedOrder):
            skipped.append(result)
        else:
            orders.append(result)
    if problems:
        raise CsvRejected(sorted(problems, key=lambda p: p.loc[1] if len(p.loc) > 1 else 0))
    return CsvImport(orders=orders, skipped=skipped)


def _records(text: str) -> list[list[str]]:
    """The file's records (RFC 4180); CsvRejected naming the record where the quoting breaks."""
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            records.append(record)
    except csv.Error as exc:
        raise CsvRejected([row_problem(len(records) + 1, None, f"not readable as CSV: {exc}", "csv_invalid")]) from exc
    return records


def _header_positions(header: list[str], mapping: Mapping[str, str]) -> dict[str, int]:
    """Our column -> its index in the file; CsvRejected (before any row) for missing or repeated columns."""
    positions: dict[str, int] = {}
    problems: list[Problem] = []
    for index, name in enumerate(header):
        name = name.strip()
        ours = mapping.get(name, name if name in COLUMNS else None)
        if ours is None:
            continue  # columns we do not know are ignored
        if ours in positions:
            problems.append(Problem(loc=("body", "header", name), msg=f"column {ours!r} appears twice",
                                    type="duplicate_column"))
        positions[ours] = index
    missing = [column for column in REQUIRED if column not in positions]
    if missing:
        problems.append(Problem(loc=("body", "header"), msg=f"missing required column(s): {', '.join(missing)}",
                                type="missing_column"))
    if problems:
        raise CsvRejected(problems)
    return positions


def _order(order_ref: str, rows: list[tuple[int, dict[str, str]]]) -> NormalisedOrder | SkippedOrder:
    """One order from its rows (first row = order columns); CsvRejected with each bad row."""
    first_row, first = rows[0]
    problems: list[Problem] = []
    for row, values in rows[1:]:
        differing = [column for column in ORDER_COLUMNS if values[column] != first[column]]
        if differing:
            problems.append(row_problem(
                row, differing[0],
                f"order column(s) {', '.join(differing)} differ from row {first_row} of order {order_ref!r}",
                "order_inconsistent",
            ))

    def fail(row: int, column: str | None, msg: str, type_: str = "value_error") -> None:
        problems.append(row_problem(row, column, msg, type_))

    status = first["status"].lower()
    if status not in ("", "open", *SKIPPED_STATUSES):
        fail(first_row, "status", f"{first['status']!r} is not one of open, cancelled, shipped (empty = open)")
    currency = first["currency"].upper()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        fail(first_row, "currency", f"{first['currency']!r} is not an ISO 4217 code like GBP")
        currency = ""
    minor = minor_digits(currency)

    def money(row: int, values: dict[str, str], column: str) -> Decimal:
        value = _money(values[column], minor=minor, currency=currency)
        if isinstance(value, str):
            fail(row, column, value, "money_invalid")
            return Decimal("0")
        return value

    placed_at = _order_date(first["order_date"])
    if isinstance(placed_at, str):
        fail(first_row, "order_date", placed_at, "date_invalid")
    shipping_cost = money(first_row, first, "shipping_cost")
    order_discount = money(first_row, first, "order_discount")
    grand_total = money(first_row, first, "grand_total")
    paid = PAYMENT_STATUSES.get(first["payment_status"].lower())
    if paid is None:
        fail(first_row, "payment_status", f"{first['payment_status']!r} is not one of paid, unpaid, pending")
    ship_country = _country(first["ship_country"])
    if ship_country is None:
        fail(first_row, "ship_country", f"{first['ship_country']!r} is not an ISO 3166-1 alpha-2 code like GB")
    has_billing = any(first[column] for column in ORDER_COLUMNS if column.startswith("bill_"))
    bill_country = _country(first["bill_country"]) if has_billing else None
    if has_billing and bill_country is None:
        fail(first_row, "bill_country", f"{first['bill_country']!r} is not an ISO 3166-1 alpha-2 code like GB")

    lines: list[OrderLine] = []
    line_rows: list[int] = []
    computed = Decimal("0")
    for number, (row, values) in enumerate(rows, start=1):
        quantity = _quantity(values["quantity"])
        if isinstance(quantity, str):
            fail(row, "quantity", quantity, "quantity_invalid")
            quantity = 0
        unit_price = money(row, values, "unit_price")
        line_discount = money(row, values, "line_discount")
        line_tax = money(row, values, "line_tax")
        if line_tax:
            # OrderLine carries only a tax rate on tax-inclusive prices: tax on top cannot travel as it is.
            fail(row, "line_tax", "tax added on top of prices is not supported yet; give tax-inclusive "
                 "unit prices and line_tax 0", "unsupported")
        computed += quantity * unit_price - line_discount + line_tax
        try:
            lines.append(OrderLine(line_id=str(number), sku=values["sku"], title=values["title"],
                                   quantity=max(quantity, 1), unit_price=unit_price))
            line_rows.append(row)
        except ValidationError as exc:
            for error in exc.errors():
                fail(row, str(error["loc"][0]), error["msg"], error["type"])
    computed += shipping_cost - order_discount
    if not problems and computed != grand_total:
        fail(first_row, "grand_total", f"{grand_total} is not Σ(quantity × unit_price − line_discount + line_tax) "
             f"+ shipping_cost − order_discount = {computed}", "total_mismatch")
    if problems:
        raise CsvRejected(problems)
    if status in SKIPPED_STATUSES:
        return SkippedOrder(channel_order_id=order_ref, row=first_row, reason=SKIPPED_STATUSES[status])

    line_discounts = sum((_money(values["line_discount"], minor=minor, currency=currency) for _, values in rows),
                         Decimal("0"))
    try:
        order = OrderDetails(
            channel=CHANNEL,
            channel_order_id=order_ref,
            order_number=order_ref,
            buyer={"name": first["buyer_name"], "email": first["buyer_email"] or None,
                   "phone": first["buyer_phone"] or None},
            shipping_address=_address(first, "ship", ship_country, phone=first["buyer_phone"]),
            billing_address=_address(first, "bill", bill_country, phone=None) if has_billing else None,
            lines=lines,
            shipping={"service": first["shipping_service"] or DEFAULT_SHIPPING_SERVICE, "cost": shipping_cost},
            currency=currency,
            # Line discounts go into the order discount: OrderLine has no discount of its own, and the total stays.
            discount=order_discount + line_discounts,
            paid=bool(paid),
            notes=first["notes"] or None,
            placed_at=first["order_date"],
        )
    except ValidationError as exc:
        raise CsvRejected([
            row_problem(first_row, _column_of(error["loc"]), error["msg"], error["type"]) for error in exc.errors()
        ]) from exc
    return NormalisedOrder(order=order, channel_updated_at=placed_at)


def _money(text: str, *, minor: int, currency: str) -> Decimal | str:
    """A non-negative amount with the currency's minor digits ("" = 0), or why not."""
    if text == "":
        return Decimal("0").quantize(Decimal(1).scaleb(-minor))
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"{text!r} is not an amount like 12.50 (digits and a '.' only)"
    if not value.is_finite() or not all(c.isdigit() or c == "." for c in text):
        return f"{text!r} is not an amount like 12.50 (digits and a '.' only)"
    step = Decimal(1).scaleb(-minor)
    if value.quantize(step) != value:
        return f"{text} has more than the {minor} decimal place(s) of {currency or 'the currency'}"
    return value.quantize(step)


def _quantity(text: str) -> int | str:
    """A whole number of at least 1, or why not."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        return f"{text!r} is not a whole number of at least 1"
    return int(text)


def _country(text: str) -> str | None:
    """The ISO 3166-1 alpha-2 code (any case), or None."""
    code = text.strip().upper()
    return code if code in ISO_COUNTRIES else None


def _order_date(text: str) -> datetime | str:
    """An ISO 8601 date-time with an offset, or a plain date (midnight UTC); or why not."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return f"{text!r} is not an ISO 8601 date or date-time"
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    if when.tzinfo is None:
        return f"{text!r} has no UTC offset (write e.g. {text}+00:00)"
    return when


def _address(values: dict[str, str], prefix: str, country: str | None, *, phone: str | None) -> dict:
    """The ship_* or bill_* address fields; address lines 2 and 3 share the contract's line2."""
    extra = ", ".join(v for v in (values[f"{prefix}_address2"], values[f"{prefix}_address3"]) if v)
    return {
        "name": values[f"{prefix}_name"], "company": values[f"{prefix}_company"] or None,
        "line1": values[f"{prefix}_address1"], "line2": extra or None, "city": values[f"{prefix}_city"],
        "region": values[f"{prefix}_region"] or None, "postcode": values[f"{prefix}_postcode"], "country": country,
        "phone": phone or None,
    }


def _column_of(loc: tuple) -> str | None:
    """Our CSV column for a pydantic error inside Address/Buyer, as far as it can be told."""
    names = {"name": "name", "line1": "address1", "city": "city", "postcode": "postcode", "email": "email"}
    if isinstance(loc, tuple) and len(loc) >= 2 and loc[-1] in names:
        prefix = {"buyer": "buyer", "shipping_address": "ship", "billing_address": "bill"}.get(loc[0])
        if prefix:
            return f"{prefix}_{names[loc[-1]]}"
    return ".".join(map(str, loc)) if loc else None
