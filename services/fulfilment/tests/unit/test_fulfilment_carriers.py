"""Tracking numbers: the S10 check digit and the range carrier's one-number-per-order rule."""

import uuid

import pytest

from fulfilment.adapters.carriers import (
    SERIAL_SPACE,
    CarrierError,
    RangeCarrier,
    is_valid_s10,
    s10_check_digit,
    s10_tracking_number,
)


class TestS10CheckDigit:
    def test_the_upu_example_is_reproduced(self):
        assert s10_tracking_number("RB", 12345678, "GB") == "RB123456785GB"

    def test_a_remainder_of_ten_gives_zero(self):
        # 0000000 8 weighs 8 * 7 = 56, 56 mod 11 = 1, 11 - 1 = 10 -> 0
        assert s10_check_digit(8) == 0

    def test_a_remainder_of_eleven_gives_five(self):
        # all zeros weigh 0, 11 - 0 = 11 -> 5
        assert s10_check_digit(0) == 5

    def test_serials_outside_eight_digits_are_refused(self):
        with pytest.raises(ValueError):
            s10_check_digit(SERIAL_SPACE)

    def test_every_single_wrong_digit_is_caught_when_the_check_digit_is_not_five(self):
        number = s10_tracking_number("OM", 31415926, "GB")
        assert number == "OM314159268GB" and is_valid_s10(number)
        for position in range(2, 11):
            for digit in "0123456789":
                if digit != number[position]:
                    typo = number[:position] + digit + number[position + 1:]
                    assert not is_valid_s10(typo), typo

    def test_every_swap_of_neighbours_is_caught_when_the_check_digit_is_not_five(self):
        number = "OM314159268GB"
        for position in range(2, 10):
            if number[position] != number[position + 1]:
                swapped = number[:position] + number[position + 1] + number[position] + number[position + 2:]
                assert not is_valid_s10(swapped), swapped

    def test_the_known_blind_spot_a_check_digit_of_five_stands_for_two_sums(self):
        # 40719253 weighs 0 mod 11 and 40719257 weighs 6 mod 11: both get 5, so this typo passes.
        assert s10_check_digit(40719253) == s10_check_digit(40719257) == 5

    def test_malformed_numbers_are_not_valid(self):
        assert not is_valid_s10("OM12345678GB")
        assert not is_valid_s10("1M123456785GB")


class TestRangeCarrier:
    async def test_an_order_gets_a_valid_number_from_the_configured_range(self, carrier, make_order):
        name, number = await carrier.book(make_order())
        assert name == "OMS Post"
        assert number.startswith("OM") and number.endswith("GB") and is_valid_s10(number)

    async def test_booking_the_same_order_again_gives_the_same_number(self, carrier, make_order):
        order = make_order()
        assert await carrier.book(order) == await carrier.book(order)

    async def test_orders_whose_serials_collide_get_different_numbers_and_keep_them(self, carrier, make_order):
        first = make_order(order_id=uuid.UUID(int=5 * SERIAL_SPACE + 42))
        second = make_order(order_id=uuid.UUID(int=9 * SERIAL_SPACE + 42))
        _, first_number = await carrier.book(first)
        _, second_number = await carrier.book(second)
        assert first_number == s10_tracking_number("OM", 42, "GB")
        assert second_number == s10_tracking_number("OM", 43, "GB")
        assert (await carrier.book(second))[1] == second_number  # a redelivery finds its own claim again

    async def test_a_full_range_is_a_carrier_error(self, claims, make_order):
        carrier = RangeCarrier(name="OMS Post", prefix="OM", country="GB", claims=claims, max_probes=2)
        await carrier.book(make_order(order_id=uuid.UUID(int=1)))
        await carrier.book(make_order(order_id=uuid.UUID(int=2)))
        with pytest.raises(CarrierError):
            await carrier.book(make_order(order_id=uuid.UUID(int=SERIAL_SPACE + 1)))
