"""Stock arithmetic: adjust, allocate, ship, and what each decides."""

import uuid

import pytest

from oms_contracts.inventory.v1 import (
    AdjustStock,
    AllocateStock,
    ReleaseStock,
    ShipStock,
    StockAllocated,
    StockLevelChanged,
)
from inventory.domain.errors import StockRefused
from inventory.domain.model import Levels, Stock, decide

ORDER = uuid.uuid4()


def stocked(on_hand: int = 0, allocated: int = 0, **other_locations: Levels) -> Stock:
    return Stock(sku="MUG", locations={"default": Levels(on_hand=on_hand, allocated=allocated), **other_locations})


class TestLevels:
    def test_available_is_on_hand_less_allocated_and_may_be_negative(self):
        assert Levels(on_hand=3, allocated=5).available == -2

    def test_totals_sum_every_location(self):
        stock = stocked(10, 4, backroom=Levels(on_hand=5, allocated=0))
        assert (stock.totals.on_hand, stock.totals.allocated, stock.totals.available) == (15, 4, 11)


class TestAdjust:
    def test_stock_in_raises_on_hand_at_the_location(self):
        stock = Stock.new("MUG")
        after = stock.apply(stock.adjust(location="backroom", delta=7, reason="delivery"))
        assert after.at("backroom") == Levels(on_hand=7) and after.at("default") == Levels()

    def test_stock_out_down_to_exactly_zero_is_allowed(self):
        stock = stocked(5)
        assert stock.apply(stock.adjust(location="default", delta=-5, reason="damaged")).at("default").on_hand == 0

    def test_stock_out_below_zero_is_refused_with_the_numbers(self):
        with pytest.raises(StockRefused, match="would leave on_hand at -2"):
            stocked(3).adjust(location="default", delta=-5, reason="stock take")

    def test_a_location_name_that_cannot_be_a_key_is_refused(self):
        with pytest.raises(StockRefused, match="not a valid name"):
            stocked().adjust(location="shelf.1", delta=1, reason="x")


class TestAllocate:
    def test_allocating_what_is_available_is_not_short(self):
        change = stocked(10).allocate(order_id=ORDER, quantity=4)
        assert (change.allocated_delta, change.short) == (4, 0)

    def test_overselling_reserves_everything_reports_short_and_goes_negative(self):
        stock = stocked(3, 1)
        change = stock.allocate(order_id=ORDER, quantity=5)
        after = stock.apply(change)
        assert change.short == 3 and after.at("default") == Levels(on_hand=3, allocated=6)
        assert after.totals.available == -3 and "oversold" in change.reason

    def test_short_never_exceeds_the_quantity_asked_for_when_already_oversold(self):
        assert stocked(0, 4).allocate(order_id=ORDER, quantity=2).short == 2


class TestShip:
    def test_shipping_takes_stock_off_the_shelf_and_releases_the_allocation(self):
        stock = stocked(10, 2)
        assert stock.apply(stock.ship(order_id=ORDER, quantity=2)).at("default") == Levels(on_hand=8, allocated=0)

    def test_shipping_more_than_on_hand_clamps_at_zero_and_says_so(self):
        stock = stocked(1, 3)
        change = stock.ship(order_id=ORDER, quantity=3)
        assert stock.apply(change).at("default") == Levels(on_hand=0, allocated=0)
        assert change.on_hand_delta == -1 and "clamped at 0, 2 unaccounted for" in change.reason

    def test_shipping_never_releases_more_than_is_allocated(self):
        stock = stocked(5, 1)
        assert stock.apply(stock.ship(order_id=ORDER, quantity=2)).at("default") == Levels(on_hand=3, allocated=0)


class TestRelease:
    def test_releasing_gives_the_allocation_back_and_leaves_on_hand_alone(self):
        stock = stocked(10, 3)
        assert stock.apply(stock.release(order_id=ORDER, quantity=3)).at("default") == Levels(on_hand=10, allocated=0)

    def test_releasing_never_takes_allocated_below_zero_and_says_so(self):
        stock = stocked(10, 1)
        change = stock.release(order_id=ORDER, quantity=3)
        assert stock.apply(change).at("default") == Levels(on_hand=10, allocated=0)
        assert "only 1 allocated" in change.reason


class TestDecide:
    def test_an_adjustment_of_a_new_sku_creates_its_stock_and_announces_the_level(self):
        decision = decide(None, AdjustStock(sku="MUG", delta=5, reason="opening stock", adjusted_by="ops"))
        assert decision.stock.at("default").on_hand == 5
        event, _available = decision.events
        assert isinstance(event, StockLevelChanged) and (event.on_hand, event.available) == (5, 5)

    def test_allocating_an_unknown_sku_is_all_short_and_creates_no_stock(self):
        decision = decide(None, AllocateStock(order_id=ORDER, sku="NOPE", quantity=2))
        assert decision.stock is None
        assert decision.events == [StockAllocated(order_id=ORDER, sku="NOPE", requested=2, short=2, known_sku=False)]

    def test_allocating_a_known_sku_announces_level_and_outcome(self):
        decision = decide(stocked(1), AllocateStock(order_id=ORDER, sku="MUG", quantity=2))
        level, allocated, available = decision.events
        assert (available.previous_available, available.available) == (1, -1)
        assert level.available == -1 and (allocated.requested, allocated.short, allocated.known_sku) == (2, 1, True)

    def test_shipping_an_unknown_sku_changes_and_announces_nothing(self):
        decision = decide(None, ShipStock(order_id=ORDER, sku="NOPE", quantity=1))
        assert decision.stock is None and decision.events == []

    def test_releasing_an_unknown_sku_changes_and_announces_nothing(self):
        decision = decide(None, ReleaseStock(order_id=ORDER, sku="NOPE", quantity=1))
        assert decision.stock is None and decision.events == []

    def test_releasing_a_known_sku_announces_the_new_level(self):
        decision = decide(stocked(5, 2), ReleaseStock(order_id=ORDER, sku="MUG", quantity=2))
        event, _available = decision.events
        assert isinstance(event, StockLevelChanged) and (event.allocated, event.available) == (0, 5)
