"""The CSV order file parser: the sample file normalised field by field, every bad row named, the mapping option."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ingest.domain.csv_orders import CsvRejected, parse_csv_orders, resolve_mapping
from ingest.domain.errors import PayloadRejected


def row_errors(rejected: CsvRejected) -> list[tuple]:
    """(row, column, type) of each problem."""
    return [(p.loc[1], p.loc[2] if len(p.loc) > 2 else None, p.type) for p in rejected.problems]


def rejected_by(text: str, **kwargs) -> CsvRejected:
    with pytest.raises(CsvRejected) as caught:
        parse_csv_orders(text, **kwargs)
    return caught.value


class TestTheSampleFile:
    def test_it_holds_two_orders_as_expected_json_says(self, sample_csv):
        batch = parse_csv_orders(sample_csv)
        assert batch.skipped == []
        summary = [
            (o.order.channel, o.order.channel_order_id, o.order.buyer.name, o.order.shipping_address.country,
             o.order.currency, len(o.order.lines), sum(line.quantity for line in o.order.lines), str(o.order.total()))
            for o in batch.orders
        ]
        assert summary == [
            ("csv", "PHONE-10001", "Martin Fairclough", "GB", "GBP", 1, 1, "36.50"),
            ("csv", "PHONE-10002", "Dörte Kühnemann", "DE", "EUR", 2, 4, "66.10"),
        ]

    def test_a_one_line_order_keeps_every_field(self, sample_csv):
        order = parse_csv_orders(sample_csv).orders[0]
        details = order.order
        assert details.order_number == "PHONE-10001"
        assert details.placed_at == "2026-11-24T10:05:00+00:00"
        assert order.channel_updated_at == datetime(2026, 11, 24, 10, 5, tzinfo=UTC)
        assert details.buyer.model_dump() == {"name": "Martin Fairclough", "email": "m.fairclough@example.com",
                                              "phone": "0161 496 0321"}
        assert details.shipping_address.model_dump() == {
            "name": "Martin Fairclough", "company": None, "line1": "48 Albert Road", "line2": None,
            "city": "Stockport", "region": "Cheshire", "postcode": "SK4 4DP", "country": "GB",
            "phone": "0161 496 0321",
        }
        assert details.billing_address is None
        [line] = details.lines
        assert (line.line_id, line.sku, line.title, line.quantity, line.unit_price) == (
            "1", "KTL-STOVE-WHT", "Stovetop Kettle 1.6L, White", 1, Decimal("32.00"))
        assert details.shipping.cost == Decimal("4.50") and str(details.shipping.cost) == "4.50"
        assert details.discount == Decimal("0") and details.paid is True and details.notes is None

    def test_a_two_line_order_folds_line_discounts_into_the_order_discount_and_keeps_the_total(self, sample_csv):
        details = parse_csv_orders(sample_csv).orders[1].order
        assert [(line.line_id, line.sku, line.quantity, str(line.unit_price)) for line in details.lines] == [
            ("1", "BSK-WIL-L", 1, "45.00"), ("2", "CST-CORK-4PK", 3, "6.00")]
        assert str(details.discount) == "6.80"  # order_discount 5.00 + line_discount 1.80
        assert str(details.shipping.cost) == "9.90" and str(details.total()) == "66.10"
        assert details.shipping_address.line2 == "Seitenflügel, 2. OG"
        assert details.billing_address.country == "DE" and details.billing_address.line1 == "Schönhauser Allee 112"
        assert details.paid is False and details.notes == "Called in; wants delivery before 20 Dec"

    def test_a_byte_order_mark_and_a_blank_line_are_tolerated(self, sample_csv):
        batch = parse_csv_orders("\ufeff" + sample_csv + "\r\n\r\n")
        assert [o.order.channel_order_id for o in batch.orders] == ["PHONE-10001", "PHONE-10002"]

    def test_reading_it_twice_gives_the_same_orders(self, sample_csv):
        assert parse_csv_orders(sample_csv) == parse_csv_orders(sample_csv)


class TestMoneyAndCurrencies:
    def test_jpy_has_no_minor_digits_and_accepts_a_zero_fraction(self, csv_file):
        text = csv_file({"currency": "JPY", "unit_price": "3980.00", "shipping_cost": "500", "line_discount": "",
                         "order_discount": "", "grand_total": "4480"})
        details = parse_csv_orders(text).orders[0].order
        assert str(details.lines[0].unit_price) == "3980" and str(details.total()) == "4480"

    def test_jpy_with_a_fraction_is_refused(self, csv_file):
        rejected = rejected_by(csv_file({"currency": "JPY", "unit_price": "3980.50", "grand_total": "4485"}))
        assert (2, "unit_price", "money_invalid") in row_errors(rejected)

    @pytest.mark.parametrize("amount", ["32,00", "£32.00", "-32.00", "32.001", "abc", "1e3", "NaN"])
    def test_bad_money_is_named_with_its_row_and_column(self, csv_file, amount):
        rejected = rejected_by(csv_file({"unit_price": amount}))
        assert row_errors(rejected)[0] == (2, "unit_price", "money_invalid")

    def test_a_grand_total_that_does_not_add_up_is_refused(self, csv_file):
        rejected = rejected_by(csv_file({"grand_total": "36.00"}))
        assert row_errors(rejected) == [(2, "grand_total", "total_mismatch")]
        assert "36.50" in rejected.problems[0].msg

    def test_tax_on_top_of_prices_is_refused_until_the_contract_carries_it(self, csv_file):
        rejected = rejected_by(csv_file({"line_tax": "6.40", "grand_total": "42.90"}))
        assert row_errors(rejected) == [(2, "line_tax", "unsupported")]


class TestRowErrors:
    def test_every_bad_row_gets_its_number_and_reason(self, csv_file):
        text = csv_file(
            {"order_ref": "A-1"},
            {"order_ref": "A-2", "quantity": "1.5"},
            {"order_ref": "A-3", "quantity": "0"},
            {"order_ref": "A-4", "ship_country": "Germany"},
            {"order_ref": "A-5", "ship_country": "DEU"},
        )
        rejected = rejected_by(text)
        assert row_errors(rejected) == [
            (3, "quantity", "quantity_invalid"),
            (4, "quantity", "quantity_invalid"),
            (5, "ship_country", "value_error"),
            (6, "ship_country", "value_error"),
        ]
        assert "row 3, quantity: '1.5' is not a whole number" in rejected.reason

    def test_a_lower_case_country_code_is_accepted(self, csv_file):
        assert parse_csv_orders(csv_file({"ship_country": "gb"})).orders[0].order.shipping_address.country == "GB"

    def test_order_columns_that_differ_between_rows_of_one_order_are_refused(self, csv_file):
        text = csv_file({"grand_total": "73.00"}, {"shipping_cost": "5.00", "grand_total": "73.00"})
        rejected = rejected_by(text)
        assert row_errors(rejected) == [(3, "shipping_cost", "order_inconsistent")]
        assert "row 2" in rejected.problems[0].msg

    def test_a_missing_required_column_is_refused_before_any_row(self, csv_file):
        header = [c for c in csv_file.base if c not in ("sku", "ship_country")]
        rejected = rejected_by(csv_file({"quantity": "x"}, header=header))
        assert [(p.loc, p.type) for p in rejected.problems] == [(("body", "header"), "missing_column")]
        assert "sku" in rejected.reason and "ship_country" in rejected.reason

    def test_an_empty_file_is_refused(self):
        assert rejected_by("").problems[0].type == "empty_file"
        assert rejected_by("\ufeff\r\n").problems[0].type == "empty_file"

    def test_a_header_without_rows_is_refused(self, csv_file):
        assert rejected_by(csv_file()).problems[0].type == "empty_file"

    def test_a_row_with_too_many_fields_is_refused(self, csv_file):
        text = csv_file({}) + "PHONE-1,extra\r\n"
        assert row_errors(rejected_by(text)) == [(3, None, "row_width")]

    def test_a_date_without_a_utc_offset_is_refused_and_a_plain_date_is_midnight_utc(self, csv_file):
        assert row_errors(rejected_by(csv_file({"order_date": "2026-11-24T10:05:00"}))) == [
            (2, "order_date", "date_invalid")]
        order = parse_csv_orders(csv_file({"order_date": "2026-11-24"})).orders[0]
        assert order.channel_updated_at == datetime(2026, 11, 24, tzinfo=UTC)

    def test_an_unknown_status_and_payment_status_are_refused(self, csv_file):
        rejected = rejected_by(csv_file({"status": "pending", "payment_status": "maybe"}))
        assert row_errors(rejected) == [(2, "status", "value_error"), (2, "payment_status", "value_error")]

    def test_an_empty_required_cell_is_named(self, csv_file):
        assert row_errors(rejected_by(csv_file({"buyer_name": ""}))) == [(2, "buyer_name", "string_too_short")]


class TestSkippedOrders:
    def test_cancelled_and_shipped_orders_are_skipped_with_a_reason(self, csv_file):
        text = csv_file({"order_ref": "C-1", "status": "cancelled"}, {"order_ref": "S-1", "status": "shipped"},
                        {"order_ref": "O-1", "status": ""})
        batch = parse_csv_orders(text)
        assert [o.order.channel_order_id for o in batch.orders] == ["O-1"]
        assert [(s.channel_order_id, s.row, s.reason) for s in batch.skipped] == [
            ("C-1", 2, "cancelled"), ("S-1", 3, "already_shipped")]


class TestMapping:
    def test_another_layout_imports_through_a_json_mapping(self, csv_file):
        renames = {"order_ref": "Order No", "sku": "Item SKU", "quantity": "Qty", "grand_total": "Total"}
        header = [renames.get(column, column) for column in csv_file.base]
        row = {renames.get(column, column): value for column, value in csv_file.base.items()}
        text = csv_file(row, header=header, base_row=False)
        with pytest.raises(CsvRejected):
            parse_csv_orders(text)
        mapping = resolve_mapping(json.dumps({theirs: ours for ours, theirs in renames.items()}))
        [order] = parse_csv_orders(text, mapping=mapping).orders
        assert order.order.channel_order_id == "PHONE-10001" and order.order.lines[0].sku == "KTL-STOVE-WHT"

    def test_the_standard_mapping_is_our_own_column_set(self, sample_csv):
        assert resolve_mapping("standard") == {} and resolve_mapping(None) == {}

    @pytest.mark.parametrize("mapping", ["shopify", "[1, 2]", '{"Qty": "amount"}', '{"Qty": 3}'])
    def test_an_unknown_name_or_target_column_is_refused(self, mapping):
        with pytest.raises(PayloadRejected) as caught:
            resolve_mapping(mapping)
        assert caught.value.problems[0].loc == ("query", "mapping")


class TestBrokenQuoting:
    def test_an_unterminated_quote_is_named_with_its_row(self, csv_file):
        text = csv_file({}) + 'PHONE-2,"2026-11-24\r\n'
        assert row_errors(rejected_by(text)) == [(3, None, "csv_invalid")]

    def test_text_after_a_closing_quote_is_named_with_its_row(self, csv_file):
        text = csv_file({}, {"order_ref": "X"}).replace("\r\nX,", '\r\n"X"y,', 1)
        assert row_errors(rejected_by(text)) == [(3, None, "csv_invalid")]
