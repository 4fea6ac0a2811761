"""Documents made from the Jinja2 templates shipped in `printing/templates/`, or from staff's overrides of them.

- `invoice.html` → A4 PDF through WeasyPrint (HTML autoescaped; Code128 barcode of the order number as inline SVG;
  the order's note, when it has one).
- `packing_slip.html` → A4 PDF the same way: ship-to, the lines (SKU, title, quantity; no prices), order barcode.
- `pick_list.html` → A4 PDF of a batch: its lines in the order fulfilment sorted them, totals per SKU.
- `shipping_label.html` → a 4×6 in PDF label (Code128 of the tracking number, QR code) for printers that take PDF.
- `shipping_label.zpl.j2` → ZPL II for a 4×6 in label at 203 dpi. ZPL has no quoting: a `^` or `~` inside field
  data starts a command (`^XZ` ends the label, `~JA` cancels every job). So every value the label template prints
  goes through `zpl_text` (the environment's `finalize`, which a template cannot forget): `^` and `~` are
  removed and control characters become spaces. Barcode data also loses `>` (Code128 subset switches in ZPL).

Rendering is CPU-bound (an invoice takes about 0.1 s of CPU with HarfBuzz-Subset, about 0.4 s with WeasyPrint's
fontTools fallback); callers run `render` in a thread.
"""

import io
import itertools
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

import barcode
import segno
from barcode.errors import BarcodeError
from jinja2 import ChoiceLoader, DictLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from oms_contracts.common import Address
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import PrintDocument, PrintPickList

LabelFormat = Literal["zpl", "pdf"]
PrintCommand = PrintDocument | PrintPickList

CONTENT_TYPES = {
    "invoice": "application/pdf",
    "packing_slip": "application/pdf",
    "pick_list": "application/pdf",
    "shipping_label": "application/vnd.zebra-zpl",
}
# The templates staff can override, and the packaged file each starts from.
TEMPLATES = {
    "invoice": "invoice.html",
    "packing_slip": "packing_slip.html",
    "pick_list": "pick_list.html",
    "shipping_label_zpl": "shipping_label.zpl.j2",
    "shipping_label_pdf": "shipping_label.html",
}
_CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MODULE_MM = 0.2  # Code128 bar module width
_QUIET_ZONE_MM = 2.0


class Renderer(Protocol):
    """Turns a print command into the bytes its printer understands."""

    def render(self, command: PrintCommand, *, label_format: LabelFormat = "zpl") -> bytes: ...


def template_key(template: str, channel: str | None = None, country: str | None = None) -> str:
    """The name an override of `template` is stored and looked up under (`*` for any channel or country)."""
    return f"{template}@{channel or '*'}@{country or '*'}"


def template_for(template: str, *, channel: str | None, country: str | None, overrides: Mapping[str, str]) -> str:
    """The template name to use: the most specific override (channel and country, channel, country), else ours."""
    for key in (
        template_key(template, channel, country),
        template_key(template, channel),
        template_key(template, None, country),
        template_key(template),
    ):
        if key in overrides:
            return key
    return TEMPLATES[template]


class DocumentRenderer:
    """Renders invoices, packing slips, pick lists (PDF) and shipping labels (ZPL or PDF).

    Warm: the Jinja2 environments compile each template once and keep it (an override is compiled again only
    when its source changes); WeasyPrint's fonts are loaded once per process.
    """

    def __init__(self, *, seller_name: str, overrides: Mapping[str, str] | None = None) -> None:
        self.seller_name = seller_name
        # Staff's templates (`template_key` -> source); replaced as a whole by `use_overrides`.
        self._overrides: dict[str, str] = dict(overrides or {})
        loader = ChoiceLoader([DictLoader(self._overrides), PackageLoader("printing", "templates")])
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
        self._pdf = PdfWriter()

    def use_overrides(self, overrides: Mapping[str, str]) -> None:
        """Render from these staff templates from now on (Jinja2 recompiles only the ones that changed)."""
        if dict(overrides) != self._overrides:
            self._overrides.clear()
            self._overrides.update(overrides)

    def render(self, command: PrintCommand, *, label_format: LabelFormat = "zpl") -> bytes:
        """The document a print command asks for; labels as ZPL or PDF, as the printer takes them."""
        if isinstance(command, PrintPickList):
            return self.pick_list_pdf(command)
        if command.document_type == "invoice":
            return self.invoice_pdf(command.order)
        if command.document_type == "packing_slip":
            return self.packing_slip_pdf(command.order)
        if command.document_type == "shipping_label":
            if label_format == "pdf":
                return self.shipping_label_pdf(
                    command.order, carrier=command.carrier, tracking_number=command.tracking_number
                )
            return self.shipping_label_zpl(
                command.order, carrier=command.carrier, tracking_number=command.tracking_number
            )
        raise ValueError(f"no template for document type {command.document_type!r}")

    def _template(self, env: Environment, template: str, order: OrderSnapshot | None):
        channel = order.details.channel if order else None
        country = order.details.shipping_address.country if order else None
        return env.get_template(template_for(template, channel=channel, country=country, overrides=self._overrides))

    def invoice_html(self, order: OrderSnapshot) -> str:
        """The invoice as HTML (what WeasyPrint lays out)."""
        details = order.details
        return self._template(self._html, "invoice", order).render(
            seller_name=self.seller_name,
            order=details,
            order_date=_order_date(order),
            billing_address=details.billing_address or details.shipping_address,
            lines=[(line, line.unit_price * line.quantity) for line in details.lines],
            barcode_svg=code128_svg(details.order_number),
            note=invoice_note(order),
        )

    def invoice_pdf(self, order: OrderSnapshot) -> bytes:
        """The invoice as an A4 PDF."""
        return self._pdf.write(self.invoice_html(order))

    def packing_slip_html(self, order: OrderSnapshot) -> str:
        """The packing slip as HTML: ship-to and what goes in the parcel, without prices."""
        details = order.details
        return self._template(self._html, "packing_slip", order).render(
            seller_name=self.seller_name,
            order=details,
            order_date=_order_date(order),
            item_count=sum(line.quantity for line in details.lines),
            barcode_svg=code128_svg(details.order_number),
        )

    def packing_slip_pdf(self, order: OrderSnapshot) -> bytes:
        """The packing slip as an A4 PDF."""
        return self._pdf.write(self.packing_slip_html(order))

    def pick_list_html(self, command: PrintPickList) -> str:
        """A batch's pick list as HTML: lines in the order given (fulfilment sorted them), totals per SKU."""
        totals: dict[str, int] = {}
        titles: dict[str, str] = {}
        for line in command.lines:
            totals[line.sku] = totals.get(line.sku, 0) + line.quantity
            titles.setdefault(line.sku, line.title)
        orders = sorted({number for line in command.lines for number in line.order_numbers})
        return self._template(self._html, "pick_list", None).render(
            seller_name=self.seller_name,
            batch_id=str(command.batch_id),
            revision=command.revision,
            lines=command.lines,
            sku_totals=[(sku, titles[sku], totals[sku]) for sku in sorted(totals)],
            item_count=sum(totals.values()),
            order_numbers=orders,
            barcode_svg=code128_svg(str(command.batch_id)),
        )

    def pick_list_pdf(self, command: PrintPickList) -> bytes:
        """The pick list as an A4 PDF."""
        return self._pdf.write(self.pick_list_html(command))

    def shipping_label_zpl(self, order: OrderSnapshot, *, carrier: str, tracking_number: str) -> bytes:
        """The shipping label as ZPL II, UTF-8 encoded (the template selects UTF-8 with ^CI28)."""
        text = self._template(self._zpl, "shipping_label_zpl", order).render(
            seller_name=self.seller_name,
            order=order.details,
            address=order.details.shipping_address,
            carrier=carrier,
            tracking_number=tracking_number,
        )
        return text.encode("utf-8")

    def shipping_label_html(self, order: OrderSnapshot, *, carrier: str, tracking_number: str) -> str:
        """The 4×6 in label as HTML: Code128 of the tracking number and a QR code of it."""
        return self._template(self._html, "shipping_label_pdf", order).render(
            seller_name=self.seller_name,
            order=order.details,
            address=order.details.shipping_address,
            carrier=carrier,
            tracking_number=tracking_number,
            barcode_svg=code128_svg(tracking_number),
            qr_svg=qr_svg(tracking_number),
        )

    def shipping_label_pdf(self, order: OrderSnapshot, *, carrier: str, tracking_number: str) -> bytes:
        """The shipping label as a 4×6 in PDF."""
        return self._pdf.write(self.shipping_label_html(order, carrier=carrier, tracking_number=tracking_number))


class PdfWriter:
    """WeasyPrint with one font configuration and one resource cache for every document.

    Left to itself, WeasyPrint builds a new FontConfiguration (fontconfig + Pango font map) per document: slower,
    and memory that is never given back (about 200 KB per invoice here). One per renderer keeps fonts loaded
    once and memory flat.
    """

    def __init__(self) -> None:
        self._font_config = None
        self._cache: dict = {}
        # Documents are rendered in worker threads, from several consumers at once; the shared font configuration
        # (fontconfig + Pango) and cache are not thread-safe: two layouts at once hung the worker. One at a time.
        self._lock = threading.Lock()

    def write(self, html: str) -> bytes:
        """Lay out HTML and return the PDF."""
        from weasyprint import HTML  # imported on first use: loading Pango takes a moment
        from weasyprint.text.fonts import FontConfiguration

        with self._lock:
            if self._font_config is None:
                self._font_config = FontConfiguration()
            return HTML(string=html).write_pdf(font_config=self._font_config, cache=self._cache)


def html_to_pdf(html: str) -> bytes:
    """Lay out HTML with WeasyPrint and return the PDF (a one-off: renderers keep a PdfWriter)."""
    return PdfWriter().write(html)


def invoice_note(order: OrderSnapshot) -> str | None:
    """The note an invoice shows: the snapshot's invoice note when orders sends one, else the order's notes."""
    for source in (order, order.details):
        value = getattr(source, "invoice_note", None)
        if value:
            return str(value)
    return order.details.notes or None


def zpl_text(value: object) -> str:
    """A value made safe inside a ZPL field: no `^` or `~` (they start commands), no control characters."""
    if value is None:
        return ""
    return _CONTROL.sub(" ", str(value)).replace("^", "").replace("~", "")


def zpl_barcode(value: object) -> str:
    """Data for a ZPL ^BC field: printable ASCII only, without `>` (ZPL's Code128 subset switch)."""
    return "".join(ch for ch in zpl_text(value) if " " <= ch <= "~" and ch != ">")


def code128_svg(data: str) -> Markup | None:
    """A Code128 barcode of `data` as an inline <svg> element, or None when `data` cannot be encoded.

    One <path> with a subpath per bar, in mm: 0.2 mm modules, 2 mm quiet zones, 10 mm bars with 1 mm above and
    below, stretched to the box the template gives it (as python-barcode's SVG, which WeasyPrint also stretched).
    python-barcode's own SVG has an element per bar, and WeasyPrint took a fifth of an invoice's time to draw it.
    """
    try:
        modules = barcode.get_barcode_class("code128")(data).build()[0]
    except (BarcodeError, ValueError, UnicodeError):
        return None  # e.g. non-ASCII order numbers: the invoice is still worth printing, without the barcode
    bars = []
    x = _QUIET_ZONE_MM
    for bit, run in itertools.groupby(modules):
        width = len(list(run)) * _MODULE_MM
        if bit == "1":
            bars.append(f"M{x:.1f} 1h{width:.1f}v10h-{width:.1f}z")
        x += width
    width = x + _QUIET_ZONE_MM
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.1f}mm" height="12mm" viewBox="0 0 {width:.1f} 12"'
        f' preserveAspectRatio="none"><rect width="100%" height="100%" fill="white"/>'
        f'<path fill="black" d="{"".join(bars)}"/></svg>'
    )


def qr_svg(data: str) -> Markup:
    """A QR code of `data` as an inline <svg> element that scales to its box (viewBox, no fixed size)."""
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="svg", xmldecl=False, svgns=True, omitsize=True, border=2)
    return Markup(buffer.getvalue().decode("utf-8"))


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
