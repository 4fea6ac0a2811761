"""Documents made from the Jinja2 templates shipped in `printing/templates/`.

- `invoice.html` → A4 PDF through WeasyPrint (HTML autoescaped; Code128 barcode of the order number as inline SVG).
- `packing_slip.html` → A4 PDF the same way: ship-to, the lines (SKU, title, quantity; no prices), order barcode.
- `shipping_label.zpl.j2` → ZPL II for a 4×6 in label at 203 dpi. ZPL has no quoting: a `^` or `~` inside field
  data starts a command (`^XZ` ends the label, `~JA` cancels every job). So every value the label template prints
  goes through `zpl_text` (the environment's `finalize`, which a template cannot forget): `^` and `~` are
  removed and control characters become spaces. Barcode data also loses `>` (Code128 subset switches in ZPL).

Rendering is CPU-bound (an invoice takes about 0.25 s); callers run `render` in a thread.
"""

import io
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

import barcode
from barcode.errors import BarcodeError
from barcode.writer import SVGWriter
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from oms_contracts.common import Address
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import PrintDocument

CONTENT_TYPES = {
    "invoice": "application/pdf",
    "packing_slip": "application/pdf",
    "shipping_label": "application/vnd.zebra-zpl",
}
_CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Renderer(Protocol):
    """Turns a print command into the bytes its printer understands."""

    def render(self, command: PrintDocument) -> bytes: ...


class DocumentRenderer:
    """Renders invoices and packing slips (PDF) and shipping labels (ZPL) from the packaged templates."""

    def __init__(self, *, seller_name: str) -> None:
        self.seller_name = seller_name
        loader = PackageLoader("printing", "templates")
        self._html = Environment(loader=loader, autoescape=select_autoescape(["html"]), undefined=StrictUndefined)
        self._zpl = Environment(
            loader=loader,
            autoescape=False,
            undefined=StrictUndefined,
            finalize=zpl_text,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        for env in (self._html, self._zpl):
            env.filters["money"] = money
            env.filters["address_lines"] = address_lines
        self._zpl.filters["zpl_barcode"] = zpl_barcode

    def render(self, command: PrintDocument) -> bytes:
        """The document a print command asks for."""
        if command.document_type == "invoice":
            return self.invoice_pdf(command.order)
        if command.document_type == "packing_slip":
            return self.packing_slip_pdf(command.order)
        if command.document_type == "shipping_label":
            return self.shipping_label_zpl(
                command.order, carrier=command.carrier, tracking_number=command.tracking_number
            )
        raise ValueError(f"no template for document type {command.document_type!r}")

    def invoice_html(self, order: OrderSnapshot) -> str:
        """The invoice as HTML (what WeasyPrint lays out)."""
        details = order.details
        return self._html.get_template("invoice.html").render(
            seller_name=self.seller_name,
            order=details,
            order_date=_order_date(order),
            billing_address=details.billing_address or details.shipping_address,
            lines=[(line, line.unit_price * line.quantity) for line in details.lines],
            barcode_svg=code128_svg(details.order_number),
        )

    def invoice_pdf(self, order: OrderSnapshot) -> bytes:
        """The invoice as an A4 PDF."""
        from weasyprint import HTML  # imported on first use: loading Pango takes a moment

        return HTML(string=self.invoice_html(order)).write_pdf()

    def packing_slip_html(self, order: OrderSnapshot) -> str:
        """The packing slip as HTML: ship-to and what goes in the parcel, without prices."""
        details = order.details
        return self._html.get_template("packing_slip.html").render(
            seller_name=self.seller_name,
            order=details,
            order_date=_order_date(order),
            item_count=sum(line.quantity for line in details.lines),
            barcode_svg=code128_svg(details.order_number),
        )

    def packing_slip_pdf(self, order: OrderSnapshot) -> bytes:
        """The packing slip as an A4 PDF."""
        from weasyprint import HTML  # imported on first use: loading Pango takes a moment

        return HTML(string=self.packing_slip_html(order)).write_pdf()

    def shipping_label_zpl(self, order: OrderSnapshot, *, carrier: str, tracking_number: str) -> bytes:
        """The shipping label as ZPL II, UTF-8 encoded (the template selects UTF-8 with ^CI28)."""
        text = self._zpl.get_template("shipping_label.zpl.j2").render(
            seller_name=self.seller_name,
            order=order.details,
            address=order.details.shipping_address,
            carrier=carrier,
            tracking_number=tracking_number,
        )
        return text.encode("utf-8")


def zpl_text(value: object) -> str:
    """A value made safe inside a ZPL field: no `^` or `~` (they start commands), no control characters."""
    if value is None:
        return ""
    return _CONTROL.sub(" ", str(value)).replace("^", "").replace("~", "")


def zpl_barcode(value: object) -> str:
    """Data for a ZPL ^BC field: printable ASCII only, without `>` (ZPL's Code128 subset switch)."""
    return "".join(ch for ch in zpl_text(value) if " " <= ch <= "~" and ch != ">")


def code128_svg(data: str) -> Markup | None:
    """A Code128 barcode of `data` as an inline <svg> element, or None when `data` cannot be encoded."""
    try:
        code = barcode.get_barcode_class("code128")(data, writer=SVGWriter())
        buffer = io.BytesIO()
        code.write(buffer, options={"write_text": False, "module_height": 10.0, "quiet_zone": 2.0})
    except (BarcodeError, ValueError, UnicodeError):
        return None  # e.g. non-ASCII order numbers: the invoice is still worth printing, without the barcode
    svg = buffer.getvalue().decode("utf-8")
    # Drop the XML declaration and doctype: inside HTML only the <svg> element belongs.
    return Markup(svg[svg.index("<svg"):])


def money(amount: Decimal, currency: str) -> str:
    """An amount with two decimals and the currency's symbol (or its code), e.g. £33.95 or 12.00 CHF."""
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{value:,}" if symbol else f"{value:,} {currency}"


def address_lines(address: Address) -> list[str]:
    """The non-empty lines of a postal address, in print order."""
    town = " ".join(part for part in (address.city, address.region, address.postcode) if part)
    lines = (address.name, address.company, address.line1, address.line2, town, address.country)
    return [line for line in lines if line]


def _order_date(order: OrderSnapshot) -> str:
    """When the buyer placed the order (as the channel said), else when it was opened, as YYYY-MM-DD."""
    placed = order.details.placed_at
    if placed:
        try:
            return datetime.fromisoformat(placed).date().isoformat()
        except ValueError:
            return placed[:32]
    return order.opened_at.date().isoformat()
