"""The osCommerce / Zen Cart and X-Cart 4 normalisers on order bodies as their connectors read them (no database):
tax, currency conversion, fees, discounts, skips and rejections."""

import json
from decimal import Decimal

import pytest

from ingest.connectors.oscommerce import normalise_oscommerce_order
from ingest.connectors.xcart4 import normalise_xcart4_order
from ingest.domain.errors import OrderSkipped, PayloadRejected


def osc_body(*, products=None, totals=None, status="Processing", currency="GBP", rate="1.000000", **order) -> str:
    """An osCommerce order as the connector stores it: one 10.00 line, 3.00 shipping, 13.00 total by default."""
    row = {"orders_id": 77, "customers_name": "Ada Byron", "customers_email_address": "ada@example.org",
           "customers_telephone": "", "delivery_name": "Ada Byron", "delivery_street_address": "1 Ockham Lane",
           "delivery_suburb": None, "delivery_city": "Ockham", "delivery_postcode": "GU23 6NU",
           "delivery_state": "Surrey", "delivery_country": "United Kingdom", "billing_street_address": "",
           "currency": currency, "currency_value": rate, "date_purchased": "2026-11-27 10:00:00", **order}
    return json.dumps({
        "order": row, "status_name": status, "timezone": "Europe/London",
        "countries": {"United Kingdom": "GB"},
        "products": products if products is not None else [
            {"orders_products_id": 1, "products_id": 5, "products_model": "SKU-1", "products_name": "Thing",
             "final_price": "10.0000", "products_tax": "0.0000", "products_quantity": 1}],
        "totals": totals if totals is not None else [
            {"class": "ot_subtotal", "title": "Sub-Total:", "text": "£10.00", "value": "10.0000"},
            {"class": "ot_shipping", "title": "Royal Mail:", "text": "£3.00", "value": "3.0000"},
            {"class": "ot_total", "title": "Total:", "text": "<strong>£13.00</strong>", "value": "13.0000"}],
        "history": [],
    })


class TestOsCommerceNormaliser:
    def test_a_plain_order(self):
        order = normalise_oscommerce_order(osc_body())
        assert order.total() == Decimal("13.00") and order.shipping.service == "Royal Mail" and order.paid
        assert order.buyer.phone is None, "an empty telephone is no phone"
        assert order.placed_at == "2026-11-27T10:00:00+00:00"  # the shop's local time, with its offset

    def test_a_line_tax_rate_makes_tax_inclusive_unit_prices(self):
        products = [{"orders_products_id": 1, "products_model": "SKU-1", "products_name": "Thing",
                     "final_price": "10.0000", "products_tax": "20.0000", "products_quantity": 2}]
        totals = [{"class": "ot_subtotal", "text": "£24.00", "value": "24.0000"},
                  {"class": "ot_tax", "text": "£4.00", "value": "4.0000"},
                  {"class": "ot_shipping", "title": "Courier:", "text": "£3.00", "value": "3.0000"},
                  {"class": "ot_total", "text": "£27.00", "value": "27.0000"}]
        order = normalise_oscommerce_order(osc_body(products=products, totals=totals))
        assert order.lines[0].unit_price == Decimal("12.00") and order.lines[0].tax_rate == Decimal("0.2")
        assert order.total() == Decimal("27.00")

    def test_a_currency_without_minor_units_is_converted_and_rounded_to_whole_yen(self):
        totals = [{"class": "ot_subtotal", "value": "10.0000", "text": "¥1,905"},
                  {"class": "ot_shipping", "title": "EMS:", "value": "3.0000", "text": "¥572"},
                  {"class": "ot_total", "value": "13.0000", "text": "¥2,477"}]
        order = normalise_oscommerce_order(osc_body(currency="JPY", rate="190.500000", totals=totals))
        assert order.lines[0].unit_price == Decimal("1905") and order.shipping.cost == Decimal("572")
        assert order.total() == Decimal("2477") and order.currency == "JPY"

    def test_fees_ride_with_shipping_and_a_minus_text_is_a_discount(self):
        totals = [{"class": "ot_subtotal", "value": "10.0000", "text": "£10.00"},
                  {"class": "ot_loworderfee", "title": "Low order fee:", "value": "1.5000", "text": "£1.50"},
                  {"class": "ot_shop_voucher", "title": "Voucher:", "value": "2.0000", "text": "-£2.00"},
                  {"class": "ot_shipping", "title": "Royal Mail:", "value": "3.0000", "text": "£3.00"},
                  {"class": "ot_total", "value": "12.5000", "text": "£12.50"}]
        order = normalise_oscommerce_order(osc_body(totals=totals))
        assert order.shipping.cost == Decimal("4.50") and order.discount == Decimal("2.00")

    def test_an_order_that_does_not_add_up_is_rejected_with_the_sums(self):
        totals = [{"class": "ot_subtotal", "value": "10.0000", "text": ""},
                  {"class": "ot_total", "value": "19.0000", "text": ""}]
        with pytest.raises(PayloadRejected, match="does not add up"):
            normalise_oscommerce_order(osc_body(totals=totals))

    def test_no_total_row_and_a_fractional_quantity_are_rejected(self):
        with pytest.raises(PayloadRejected, match="ot_total"):
            normalise_oscommerce_order(osc_body(totals=[]))
        products = [{"orders_products_id": 1, "products_model": "SKU-1", "products_name": "Thing",
                     "final_price": "10.0000", "products_tax": "0", "products_quantity": 1.5}]
        with pytest.raises(PayloadRejected, match="quantity"):
            normalise_oscommerce_order(osc_body(products=products))

    @pytest.mark.parametrize(("status", "reason"), [("Delivered", "already_shipped"), ("Cancelled", "cancelled"),
                                                    ("PayPal [Transactions]", "not_unprocessed")])
    def test_other_statuses_are_skipped_with_why(self, status, reason):
        with pytest.raises(OrderSkipped, match=reason):
            normalise_oscommerce_order(osc_body(status=status))

    def test_a_model_less_product_uses_its_product_id_as_sku_and_pending_is_unpaid(self):
        products = [{"orders_products_id": 1, "products_id": 5, "products_model": "", "products_name": "Thing",
                     "final_price": "10.0000", "products_tax": "0", "products_quantity": 1}]
        order = normalise_oscommerce_order(osc_body(products=products, status="Pending"))
        assert order.lines[0].sku == "5" and not order.paid


def xc_body(**order) -> str:
    row = {"orderid": 9, "status": "P", "firstname": "Ada", "lastname": "Byron", "email": "ada@example.org",
           "s_firstname": "Ada", "s_lastname": "Byron", "s_address": "1 Ockham Lane\nWest Wing", "s_city": "Ockham",
           "s_state": "SRY", "s_country": "GB", "s_zipcode": "GU23 6NU", "b_address": "", "subtotal": "20.00",
           "discount": "0.00", "coupon_discount": "0.00", "giftcert_discount": "0.00", "shipping_cost": "3.00",
           "payment_surcharge": "0.00", "tax": "0.00", "total": "23.00", "shipping": "Courier", "date": 1795519600,
           **order}
    details = [{"itemid": 1, "productid": 3, "productcode": "SKU-1", "product": "Thing", "price": "10.00", "amount": 2}]
    return json.dumps({"order": row, "details": details, "currency": "GBP"})


class TestXCart4Normaliser:
    def test_two_address_lines_in_one_column_are_split(self):
        order = normalise_xcart4_order(xc_body())
        assert (order.shipping_address.line1, order.shipping_address.line2) == ("1 Ockham Lane", "West Wing")
        assert order.billing_address is None and order.total() == Decimal("23.00")

    def test_tax_on_top_of_the_prices_is_spread_over_the_lines(self):
        order = normalise_xcart4_order(xc_body(tax="4.00", total="27.00"))
        assert order.lines[0].unit_price == Decimal("12.00") and order.lines[0].tax_rate == Decimal("0.2")

    def test_a_payment_surcharge_rides_with_shipping_and_discounts_add_up(self):
        order = normalise_xcart4_order(xc_body(payment_surcharge="1.00", discount="2.00", coupon_discount="1.00",
                                               total="21.00"))
        assert order.shipping.cost == Decimal("4.00") and order.discount == Decimal("3.00")

    @pytest.mark.parametrize(("status", "reason"), [("C", "already_shipped"), ("D", "not_unprocessed"),
                                                    ("I", "not_unprocessed")])
    def test_other_statuses_are_skipped(self, status, reason):
        with pytest.raises(OrderSkipped, match=reason):
            normalise_xcart4_order(xc_body(status=status))

    def test_a_total_that_does_not_add_up_is_rejected(self):
        with pytest.raises(PayloadRejected, match="does not add up"):
            normalise_xcart4_order(xc_body(total="30.00"))


class TestChosenOptions:
    def test_osc_attributes_name_the_variant_in_the_line_title(self):
        body = json.loads(osc_body())
        body["attributes"] = [{"orders_products_id": 1, "products_options": "Size", "products_options_values": "L"},
                              {"orders_products_id": 1, "products_options": "Colour", "products_options_values": "Red"}]
        order = normalise_oscommerce_order(json.dumps(body))
        assert order.lines[0].title == "Thing (Size: L, Colour: Red)"

    def test_xcart4_product_options_name_the_variant_in_the_line_title(self):
        body = json.loads(xc_body())
        body["details"][0]["product_options"] = "Size: L\nColour: Red"
        order = normalise_xcart4_order(json.dumps(body))
        assert order.lines[0].title == "Thing (Size: L, Colour: Red)"
