"""The Shopify and WooCommerce normalisers, against the channel research's samples and their expected values."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ingest.domain.channel_orders import normalise_shopify_order, normalise_woocommerce_order
from ingest.domain.errors import OrderSkipped, PayloadRejected


def summary(order) -> dict:
    """The values expected.json lists for an order."""
    return {
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "buyer_name": order.buyer.name,
        "country_code": order.shipping_address.country,
        "currency": order.currency,
        "line_count": len(order.lines),
        "total_quantity": sum(line.quantity for line in order.lines),
        "grand_total": str(order.total()),
    }


def expected_summary(expected: dict) -> dict:
    return {name: value for name, value in expected.items() if name != "action"}


def edited(raw: bytes, **changes) -> str:
    data = json.loads(raw)
    data.update(changes)
    return json.dumps(data)


class TestShopifyOrders:
    @pytest.mark.parametrize("sample", ["shopify_1021", "shopify_1022"])
    def test_each_sample_gives_the_expected_values(self, sample, request, expected_orders):
        order, _ = normalise_shopify_order(request.getfixturevalue(sample).raw.decode("utf-8"))
        assert summary(order) == expected_summary(expected_orders[f"shopify:{order.channel_order_id}"])

    def test_every_field_of_order_1022(self, shopify_1022):
        order, updated_at = normalise_shopify_order(shopify_1022.raw.decode("utf-8"))
        assert order.channel == "shopify" and order.channel_order_id == "6021449932347"
        assert order.order_number == "#1022"
        assert (order.buyer.name, order.buyer.email, order.buyer.phone) == (
            "Björn Þorvaldsson", "bjorn.th@example.is", "+447700900864")
        address = order.shipping_address
        assert (address.name, address.line1, address.line2, address.city, address.region, address.postcode,
                address.country) == ("Björn Þorvaldsson", "Flat 2", "17 Leith Walk", "Edinburgh", "Scotland",
                                     "EH6 8LN", "GB")
        assert order.billing_address == address
        assert [(line.line_id, line.sku, line.title, line.quantity, line.unit_price, line.tax_rate)
                for line in order.lines] == [
            ("15804412998012", "BRD-OAK-L", "Oak Serving Board - Large", 2, Decimal("32.00"), Decimal("0.2")),
            ("15804412998013", "OIL-BRD-250", "Board Oil 250ml", 1, Decimal("9.00"), Decimal("0.2")),
        ]
        assert (order.shipping.service, order.shipping.cost) == ("Free Shipping", Decimal("0.00"))
        assert order.currency == "GBP" and order.discount == Decimal("7.30") and order.paid is True
        assert order.placed_at == "2026-11-25T09:14:37+00:00"
        assert updated_at == datetime(2026, 11, 25, 9, 14, 41, tzinfo=UTC)

    def test_shipping_comes_from_the_shipping_lines(self, shopify_1021):
        order, _ = normalise_shopify_order(shopify_1021.raw.decode("utf-8"))
        assert (order.shipping.service, order.shipping.cost) == ("Standard", Decimal("3.99"))

    def test_a_cancelled_order_is_skipped_with_the_reason(self, shopify_1021):
        body = edited(shopify_1021.raw, cancelled_at="2026-11-24T15:00:00+00:00", cancel_reason="customer")
        with pytest.raises(OrderSkipped, match="cancelled"):
            normalise_shopify_order(body)

    def test_an_unpaid_order_is_not_paid(self, shopify_1021):
        order, _ = normalise_shopify_order(edited(shopify_1021.raw, financial_status="pending"))
        assert order.paid is False

    def test_prices_without_tax_get_the_tax_added(self, shopify_1021):
        data = json.loads(shopify_1021.raw)
        data["taxes_included"] = False
        data["total_price_set"]["presentment_money"]["amount"] = "32.66"  # 24 + 4.00 tax + 3.99 + 0.67 tax
        order, _ = normalise_shopify_order(json.dumps(data))
        assert order.lines[0].unit_price == Decimal("28.00") and order.shipping.cost == Decimal("4.66")
        assert order.total() == Decimal("32.66")

    def test_an_order_that_does_not_add_up_is_rejected(self, shopify_1021):
        data = json.loads(shopify_1021.raw)
        data["total_price_set"]["presentment_money"]["amount"] = "30.00"
        with pytest.raises(PayloadRejected) as rejected:
            normalise_shopify_order(json.dumps(data))
        assert rejected.value.problems[0].type == "total_mismatch"

    def test_a_country_name_instead_of_a_code_is_rejected_naming_the_field(self, shopify_1021):
        data = json.loads(shopify_1021.raw)
        data["shipping_address"]["country_code"] = "United Kingdom"
        with pytest.raises(PayloadRejected) as rejected:
            normalise_shopify_order(json.dumps(data))
        assert rejected.value.problems[0].loc == ("body", "shipping_address", "country_code")

    def test_jpy_has_no_minor_units(self, shopify_1021):
        data = json.loads(shopify_1021.raw)
        data["presentment_currency"] = "JPY"
        for item in [data["line_items"][0], data["shipping_lines"][0]]:
            item.pop("price_set")
        data["line_items"][0]["price"] = "3980.00"
        data["shipping_lines"][0]["price"] = "500"
        data.pop("total_price_set")
        data.pop("total_discounts_set")
        data["total_price"] = "4480"
        order, _ = normalise_shopify_order(json.dumps(data))
        assert order.lines[0].unit_price == Decimal("3980") and str(order.total()) == "4480"
        data["line_items"][0]["price"] = "3980.50"
        with pytest.raises(PayloadRejected) as rejected:
            normalise_shopify_order(json.dumps(data))
        assert rejected.value.problems[0].loc == ("body", "line_items", 0, "price")

    def test_a_body_that_is_not_json_is_rejected(self):
        with pytest.raises(PayloadRejected) as rejected:
            normalise_shopify_order("{not json")
        assert rejected.value.problems[0].type == "json_invalid"


class TestWooCommerceOrders:
    def test_each_sample_gives_the_expected_values(self, woocommerce_orders, expected_orders):
        for data in woocommerce_orders:
            order, _ = normalise_woocommerce_order(json.dumps(data))
            assert summary(order) == expected_summary(expected_orders[f"woocommerce:{data['id']}"])

    def test_the_webhook_body_is_read_from_its_raw_bytes(self, woocommerce_1052, expected_orders):
        order, _ = normalise_woocommerce_order(woocommerce_1052.raw.decode("utf-8"))
        assert summary(order) == expected_summary(expected_orders["woocommerce:1052"])

    def test_every_field_of_order_1052_with_tax_added_to_prices(self, woocommerce_1052):
        order, updated_at = normalise_woocommerce_order(woocommerce_1052.raw.decode("utf-8"))
        assert order.order_number == "1052" and order.currency == "EUR" and order.paid is True
        assert (order.buyer.name, order.buyer.email, order.buyer.phone) == (
            "Héloïse Marchand", "heloise.marchand@example.fr", "+33 5 56 00 12 34")
        address = order.shipping_address
        assert (address.name, address.line1, address.line2, address.city, address.postcode, address.country) == (
            "Héloïse Marchand", "7 place Saint-Michel", None, "Bordeaux", "33000", "FR")
        # Prices exclude tax on this shop; our lines carry tax-inclusive prices (20 % TVA added).
        assert [(line.line_id, line.sku, line.title, line.quantity, line.unit_price, line.tax_rate)
                for line in order.lines] == [
            ("330", "TT-LAV-PRT", "Tea Towel – Lavender Print", 2, Decimal("15.00"), Decimal("0.2")),
            ("331", "SPR-OLIVE", "Olive Wood Spreader", 1, Decimal("9.60"), Decimal("0.2")),
        ]
        assert (order.shipping.service, order.shipping.cost) == ("International (tracked)", Decimal("7.20"))
        assert order.discount == Decimal("3.96")
        assert order.placed_at == "2026-11-25T21:03:18+00:00"
        assert updated_at == datetime(2026, 11, 25, 21, 4, 2, tzinfo=UTC)

    def test_an_on_hold_order_is_imported_unpaid(self, woocommerce_1052):
        body = edited(woocommerce_1052.raw, status="on-hold", date_paid=None, date_paid_gmt=None)
        order, _ = normalise_woocommerce_order(body)
        assert order.paid is False

    @pytest.mark.parametrize("status, reason", [
        ("cancelled", "cancelled"), ("completed", "already_shipped"), ("pending", "not_unprocessed"),
        ("refunded", "not_unprocessed"),
    ])
    def test_statuses_outside_the_unprocessed_ones_are_skipped_with_a_reason(self, woocommerce_1052, status, reason):
        with pytest.raises(OrderSkipped) as skipped:
            normalise_woocommerce_order(edited(woocommerce_1052.raw, status=status))
        assert skipped.value.reason.startswith(reason)

    def test_the_unprocessed_statuses_are_configurable(self, woocommerce_1052):
        body = edited(woocommerce_1052.raw, status="on-hold")
        with pytest.raises(OrderSkipped):
            normalise_woocommerce_order(body, unprocessed=["processing"])
        order, _ = normalise_woocommerce_order(edited(woocommerce_1052.raw, status="pending"),
                                               unprocessed=["pending"])
        assert order.channel_order_id == "1052"

    def test_a_fee_the_order_cannot_carry_is_rejected_rather_than_imported_wrong(self, woocommerce_1052):
        with pytest.raises(PayloadRejected) as rejected:
            normalise_woocommerce_order(edited(woocommerce_1052.raw, total="44.84"))
        assert rejected.value.problems[0].loc == ("body", "total")

    def test_an_empty_shipping_address_falls_back_to_billing(self, woocommerce_1052):
        data = json.loads(woocommerce_1052.raw)
        data["shipping"] = {key: "" for key in data["shipping"]}
        order, _ = normalise_woocommerce_order(json.dumps(data))
        assert order.shipping_address.line1 == "7 place Saint-Michel" and order.shipping_address.country == "FR"
