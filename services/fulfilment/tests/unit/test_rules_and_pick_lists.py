"""Shipping rules (first match by channel, country, weight and value; a default) and pick lists."""

from decimal import Decimal

from oms_contracts.common import OrderLine
from oms_contracts.fulfilment.v1 import ShippingDefault, ShippingRule
from oms_platform.testing import sample_order_details
from fulfilment.domain.batch import Placement, build_pick_list
from fulfilment.domain.rules import ShippingRules

RULES = ShippingRules(
    rules=[
        ShippingRule(name="amazon", channels=["amazon"], service="Prime", carrier="DPD", manual_tracking=True),
        ShippingRule(name="heavy", min_weight_kg=2.0, service="Parcel 48", carrier="OMS Post"),
        ShippingRule(name="valuable abroad", countries=["FR", "DE"], min_value=Decimal("100"), service="Signed",
                     carrier="OMS Post"),
        ShippingRule(name="light abroad", countries=["FR", "DE"], max_weight_kg=2.0, max_value=Decimal("100"),
                     service="Intl Economy", carrier="OMS Post"),
    ],
    default=ShippingDefault(carrier="OMS Post"),
)


def address(country: str):
    return sample_order_details().shipping_address.model_copy(update={"country": country})


class TestShippingRules:
    def test_the_first_matching_rule_wins(self, make_order):
        choice = RULES.choose(make_order(channel="amazon"), weight_kg=5.0)
        assert (choice.service, choice.carrier, choice.manual_tracking, choice.rule) == ("Prime", "DPD", True,
                                                                                          "amazon")

    def test_weight_chooses_at_and_above_the_minimum(self, make_order):
        assert RULES.choose(make_order(), weight_kg=2.0).rule == "heavy"
        assert RULES.choose(make_order(), weight_kg=1.99).rule is None

    def test_country_and_value_bands_do_not_overlap(self, make_order):
        cheap = make_order(shipping_address=address("FR"))  # 2 × 7.50 + 15.00 + 3.95 = 33.95
        assert RULES.choose(cheap, weight_kg=0.5).service == "Intl Economy"
        dear = make_order(shipping_address=address("DE"), lines=[
            OrderLine(line_id="1", sku="LAMP", title="Lamp", quantity=1, unit_price=Decimal("96.05"))])
        assert dear.details.total() == Decimal("100.00")
        assert RULES.choose(dear, weight_kg=0.5).service == "Signed"

    def test_no_match_takes_the_default_and_keeps_the_buyers_service_when_the_default_has_none(self, make_order):
        choice = RULES.choose(make_order(shipping_address=address("US")), weight_kg=0.5)
        assert (choice.service, choice.carrier, choice.rule) == ("Standard", "OMS Post", None)
        fixed = ShippingRules(default=ShippingDefault(service="Tracked 24", carrier="OMS Post"))
        assert fixed.choose(make_order(), weight_kg=0).service == "Tracked 24"


class TestPickList:
    def test_lines_are_totalled_per_sku_and_sorted_by_location_bin_then_sku_with_unknown_skus_last(self, make_order):
        def lines(*items):
            return [OrderLine(line_id=str(i), sku=sku, title=sku.title(), quantity=q, unit_price=Decimal("1"))
                    for i, (sku, q) in enumerate(items, start=1)]

        first = make_order(order_number="1001", lines=lines(("ZED", 1), ("MUG", 2), ("GHOST", 1)))
        second = make_order(order_number="1002", lines=lines(("MUG", 3), ("ANT", 1), ("BOLT", 4)))
        placements = {
            "MUG": Placement(title="Blue mug", location="A", bin="02"),
            "ZED": Placement(location="A", bin="01"),
            "ANT": Placement(location="A", bin="02"),
            "BOLT": Placement(location="B", bin=None),
        }
        pick = build_pick_list([first, second], placements)
        assert [(l.sku, l.location, l.bin, l.quantity) for l in pick] == [
            ("ZED", "A", "01", 1), ("ANT", "A", "02", 1), ("MUG", "A", "02", 5), ("BOLT", "B", None, 4),
            ("GHOST", None, None, 1),
        ]
        mug = pick[2]
        assert mug.title == "Blue mug" and mug.order_numbers == ["1001", "1002"]

    def test_no_orders_give_no_lines(self):
        assert build_pick_list([], {}) == []
