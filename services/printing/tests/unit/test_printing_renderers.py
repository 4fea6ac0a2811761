"""Invoices (PDF read back with poppler's pdftotext) and shipping labels (ZPL) from the shipped templates."""

import re
import shutil
import subprocess
from pathlib import Path

import barcode
import pytest

from oms_contracts.common import Address, Buyer
from printing.adapters.renderers import DocumentRenderer, code128_svg, money, zpl_text

SELLER = "Acme Mugs Ltd"


@pytest.fixture(scope="module")
def renderer() -> DocumentRenderer:
    return DocumentRenderer(seller_name=SELLER)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The text of a PDF, as poppler extracts it."""
    assert shutil.which("pdftotext"), "pdftotext is missing: install Debian's poppler-utils"
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


class TestInvoice:
    def test_the_invoice_is_a_pdf_showing_seller_order_buyer_lines_and_total(self, renderer, make_order, tmp_path):
        pdf = renderer.invoice_pdf(make_order(order_number="PH-2026-0042"))
        assert pdf.startswith(b"%PDF")
        text = pdf_text(pdf, tmp_path)
        for expected in (SELLER, "Invoice", "PH-2026-0042", "2026-11-28", "Ada Lovelace", "ada@example.org"):
            assert expected in text
        for expected in ("MUG-BLUE", "Enamel mug, navy", "TEE-L", "Organic T-shirt, L"):
            assert expected in text
        # 2 x 7.50 + 1 x 15.00 + 3.95 shipping - 1.00 discount
        for expected in ("£7.50", "£15.00", "£3.95", "−£1.00", "£32.95", "Total (GBP)"):
            assert expected in text

    def test_the_invoice_shows_the_billing_and_the_shipping_address(self, renderer, make_order, tmp_path):
        text = pdf_text(renderer.invoice_pdf(make_order()), tmp_path)
        assert "Lord Byron" in text and "Newstead Abbey" in text
        assert "12 St James's Square" in text and "SW1Y 4JH" in text

    def test_the_order_number_is_a_code128_barcode_in_inline_svg(self, renderer, make_order):
        html = renderer.invoice_html(make_order())
        assert "<svg" in html and "<?xml" not in html

    def test_the_barcode_bars_are_the_code128_modules_with_quiet_zones(self):
        svg = str(code128_svg("PH-2026-0042"))
        modules = barcode.get_barcode_class("code128")("PH-2026-0042").build()[0]
        width = 2.0 + 0.2 * len(modules) + 2.0
        assert f'viewBox="0 0 {width:.1f} 12"' in svg
        drawn = [" "] * len(modules)  # each 0.2 mm module right of the 2 mm quiet zone, dark where a bar covers it
        for x, w in re.findall(r"M([\d.]+) 1h([\d.]+)v10h-[\d.]+z", svg):
            first = round((float(x) - 2.0) / 0.2)
            drawn[first:first + round(float(w) / 0.2)] = "1" * round(float(w) / 0.2)
        assert "".join(drawn).replace(" ", "0") == modules

    def test_buyer_text_is_escaped_not_interpreted_as_html(self, renderer, make_order):
        order = make_order(buyer=Buyer(name="<script>alert(1)</script>"))
        html = renderer.invoice_html(order)
        assert "<script>" not in html and "&lt;script&gt;" in html

    def test_an_order_number_a_barcode_cannot_encode_still_gives_an_invoice(self, renderer, make_order, tmp_path):
        pdf = renderer.invoice_pdf(make_order(order_number="Bestellung-Müller-7"))
        assert "Bestellung-Müller-7" in pdf_text(pdf, tmp_path)

    def test_other_currencies_show_their_code(self):
        assert money(1234.5, "CHF") == "1,234.50 CHF"
        assert money(9.999, "USD") == "$10.00"


class TestPackingSlip:
    def test_the_packing_slip_is_a_pdf_listing_lines_ship_to_and_order_number(self, renderer, make_order, tmp_path):
        pdf = renderer.packing_slip_pdf(make_order(order_number="PH-2026-0042"))
        assert pdf.startswith(b"%PDF")
        text = pdf_text(pdf, tmp_path)
        for expected in (SELLER, "Packing slip", "PH-2026-0042", "2026-11-28", "Standard"):
            assert expected in text
        for expected in ("Ada Lovelace", "12 St James's Square", "London SW1Y 4JH", "GB"):
            assert expected in text
        lines = [" ".join(line.split()) for line in text.splitlines()]
        assert any("MUG-BLUE Enamel mug, navy 2" in line for line in lines)
        assert any("TEE-L Organic T-shirt, L 1" in line for line in lines)
        assert any("Items 3" in line for line in lines)

    def test_the_packing_slip_shows_no_prices_and_no_billing_address(self, renderer, make_order, tmp_path):
        text = pdf_text(renderer.packing_slip_pdf(make_order()), tmp_path)
        assert "£" not in text and "7.50" not in text and "Total" not in text
        assert "Lord Byron" not in text

    def test_the_order_number_is_a_code128_barcode_in_inline_svg(self, renderer, make_order):
        html = renderer.packing_slip_html(make_order())
        assert "<svg" in html and "<?xml" not in html

    def test_buyer_text_is_escaped_not_interpreted_as_html(self, renderer, make_order):
        evil = Address(name="<b>Eve</b>", line1="1 Main St", city="Leeds", postcode="LS1 1AA", country="GB")
        html = renderer.packing_slip_html(make_order(shipping_address=evil))
        assert "<b>Eve" not in html and "&lt;b&gt;Eve" in html


class TestShippingLabel:
    def label(self, renderer, order, tracking_number="OM123456785GB") -> str:
        return renderer.shipping_label_zpl(order, carrier="OMS Post", tracking_number=tracking_number).decode()

    def test_the_label_is_one_zpl_format_for_a_4x6_label_at_203_dpi(self, renderer, make_order):
        zpl = self.label(renderer, make_order())
        assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
        assert "^PW812" in zpl and "^LL1218" in zpl and "^CI28" in zpl

    def test_it_shows_ship_to_service_carrier_and_order_number(self, renderer, make_order):
        zpl = self.label(renderer, make_order(order_number="PH-1001"))
        for expected in ("Ada Lovelace", "12 St James's Square", "London SW1Y 4JH", "GB", "OMS Post",
                         "Service: Standard", "Order: PH-1001"):
            assert f"^FD{expected}^FS" in zpl

    def test_the_tracking_number_is_printed_as_text_and_as_a_code128_barcode(self, renderer, make_order):
        zpl = self.label(renderer, make_order())
        assert "^BCN,220,N,N,N^FDOM123456785GB^FS" in zpl
        assert "^FB732,1,0,C^FDOM123456785GB^FS" in zpl

    def test_a_malicious_name_cannot_end_the_label_or_send_commands(self, renderer, make_order):
        evil = Address(name="Eve^XZ^XA^FO0,0^FDpwned~JA", line1="1 Main St\n^XZ", city="Leeds",
                       postcode="LS1 1AA", country="GB")
        zpl = self.label(renderer, make_order(shipping_address=evil), tracking_number="OM1^XZ~JA>5GB")
        assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1 and "~" not in zpl
        assert "^FDEveXZXAFO0,0FDpwnedJA^FS" in zpl
        assert "^FD1 Main St XZ^FS" in zpl
        assert "^FDOM1XZJA5GB^FS" in zpl  # the barcode's data also loses ">"

    def test_zpl_text_drops_carets_and_tildes_and_turns_control_characters_into_spaces(self):
        assert zpl_text("a^b~c\r\nd") == "abc  d"
        assert zpl_text(None) == ""


class TestRenderingACommand:
    def test_an_invoice_command_gives_a_pdf_and_a_label_command_gives_zpl(self, renderer, print_command):
        assert renderer.render(print_command("invoice").payload).startswith(b"%PDF")
        assert renderer.render(print_command("packing_slip").payload).startswith(b"%PDF")
        assert renderer.render(print_command("shipping_label").payload).startswith(b"^XA")


class TestInvoiceNote:
    def test_the_orders_note_is_shown_on_the_invoice(self, renderer, make_order, tmp_path):
        text = pdf_text(renderer.invoice_pdf(make_order(notes="Gift: please leave with the neighbour")), tmp_path)
        assert "NOTE" in text and "Gift: please leave with the neighbour" in text

    def test_without_a_note_there_is_no_note_box(self, renderer, make_order):
        assert 'class="note"' not in renderer.invoice_html(make_order())

    def test_an_invoice_note_on_the_snapshot_wins_over_the_orders_notes(self, make_order):
        from printing.adapters.renderers import invoice_note

        order = make_order(notes="internal")
        assert invoice_note(order) == "internal"
        if "invoice_note" in type(order).model_fields:  # the orders context sends one
            assert invoice_note(order.model_copy(update={"invoice_note": "Thank you!"})) == "Thank you!"


class TestPickList:
    def test_the_pick_list_shows_the_batch_its_lines_in_the_given_order_totals_per_sku_and_the_orders(
        self, renderer, pick_list_command, tmp_path
    ):
        from oms_contracts.printing.v1 import PickListLine

        command = pick_list_command().payload.model_copy(update={"lines": [
            PickListLine(sku="ZED-9", title="Zed", location="A", bin="A-01", quantity=2, order_numbers=["PH-3"]),
            PickListLine(sku="MUG-BLUE", title="Mug", location="B", bin="B-02", quantity=3,
                         order_numbers=["PH-1", "PH-2"]),
            PickListLine(sku="ZED-9", title="Zed", location="C", bin="C-03", quantity=4, order_numbers=["PH-1"]),
        ]})
        pdf = renderer.render(command)
        assert pdf.startswith(b"%PDF")
        text = pdf_text(pdf, tmp_path)
        assert "Pick list" in text and str(command.batch_id) in text
        lines = [line.split() for line in text.splitlines() if line.strip()]
        picks = [row for row in lines if len(row) >= 5 and row[0] in "ABC" and row[1].count("-") == 1]
        assert [(row[0], row[2]) for row in picks] == [("A", "ZED-9"), ("B", "MUG-BLUE"), ("C", "ZED-9")]
        totals = {row[0]: row[-1] for row in lines if len(row) == 3 and row[0] in ("ZED-9", "MUG-BLUE")}
        assert totals == {"MUG-BLUE": "3", "ZED-9": "6"}
        assert "Orders in this batch (3)" in text and "PH-1, PH-2, PH-3" in text


class TestShippingLabelPdf:
    def test_a_4x6_pdf_label_shows_address_tracking_number_and_both_barcodes(
        self, renderer, make_order, print_command, tmp_path
    ):
        html = renderer.shipping_label_html(make_order(), carrier="OMS Post", tracking_number="OM123456785GB")
        assert html.count("<svg") == 2  # Code128 and QR
        pdf = renderer.render(print_command("shipping_label").payload, label_format="pdf")
        assert pdf.startswith(b"%PDF")
        text = pdf_text(pdf, tmp_path)
        assert "OM123456785GB" in text and "12 St James's Square" in text and "OMS Post" in text
        path = tmp_path / "label.pdf"
        path.write_bytes(pdf)
        info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
        assert "288 x 432 pts" in info  # 4 x 6 in

    def test_labels_are_zpl_unless_the_printer_takes_pdf(self, renderer, print_command):
        assert renderer.render(print_command("shipping_label").payload).startswith(b"^XA")


class TestTemplateOverrides:
    def test_the_most_specific_override_wins(self):
        from printing.adapters.renderers import template_for, template_key

        overrides = {template_key("invoice", "amazon", "DE"): "a", template_key("invoice", "amazon"): "b",
                     template_key("invoice", None, "FR"): "c"}
        assert template_for("invoice", channel="amazon", country="DE", overrides=overrides) == "invoice@amazon@DE"
        assert template_for("invoice", channel="amazon", country="FR", overrides=overrides) == "invoice@amazon@*"
        assert template_for("invoice", channel="ebay", country="FR", overrides=overrides) == "invoice@*@FR"
        assert template_for("invoice", channel="ebay", country="GB", overrides=overrides) == "invoice.html"

    def test_an_override_is_used_for_its_channel_and_reloaded_when_it_changes(self, make_order):
        from printing.adapters.renderers import template_key

        renderer = DocumentRenderer(seller_name=SELLER)
        renderer.use_overrides({template_key("invoice", "phone"): "<p>phone {{ order.order_number }}</p>"})
        assert renderer.invoice_html(make_order()) == "<p>phone PH-1001</p>"
        assert "Invoice" in renderer.invoice_html(make_order(channel="ebay"))
        renderer.use_overrides({template_key("invoice", "phone"): "<p>v2 {{ order.order_number }}</p>"})
        assert renderer.invoice_html(make_order()) == "<p>v2 PH-1001</p>"


class TestCheckingATemplate:
    @pytest.mark.parametrize(
        "source, line, reason",
        [
            ("<p>{{ order.order_number }}</p>\n<p>{{ nope.x }}</p>", 2, "'nope' is undefined"),
            ("a\n\n{% if %}", 3, "syntax error"),
            ("{% for x in order.lines %}\n{{ x.sku }}\n", 2, "syntax error"),
        ],
    )
    def test_a_template_that_fails_is_refused_with_the_line_and_reason(self, source, line, reason):
        from printing.service_layer.templates import TemplateRefused, render_candidate

        with pytest.raises(TemplateRefused) as refused:
            render_candidate("invoice", source, seller_name=SELLER)
        assert refused.value.line == line and reason in refused.value.reason

    def test_a_good_template_previews_as_pdf_and_png(self):
        from printing.service_layer.templates import pdf_to_png, render_candidate

        pdf = render_candidate("pick_list", "<h1>Batch {{ batch_id }}</h1>", seller_name=SELLER)
        assert pdf.startswith(b"%PDF")
        assert pdf_to_png(pdf).startswith(b"\x89PNG")
