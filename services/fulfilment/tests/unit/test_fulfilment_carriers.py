"""Tracking numbers: the S10 check digit, the range carrier's counter, and the manual carrier."""

import uuid

import pytest

from oms_contracts.fulfilment.v1 import IssueTrackingNumber

from fulfilment.adapters.carriers import (
    SERIAL_SPACE,
    CarrierError,
    Carriers,
    ManualCarrier,
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
    async def test_numbers_come_from_the_configured_range_in_order_with_a_valid_check_digit(self, tracking):
        carrier = RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=tracking, first=500, last=502)
        numbers = [await carrier.issue(order_id=uuid.uuid4(), shipment_id=uuid.uuid4()) for _ in range(3)]
        assert numbers == [s10_tracking_number("OM", serial, "GB") for serial in (500, 501, 502)]
        assert all(is_valid_s10(n) for n in numbers)

    async def test_the_same_shipment_asking_again_gets_its_own_number_and_the_counter_stays(self, tracking):
        carrier = RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=tracking, first=7)
        shipment_id = uuid.uuid4()
        first = await carrier.issue(order_id=uuid.uuid4(), shipment_id=shipment_id)
        assert await carrier.issue(order_id=uuid.uuid4(), shipment_id=shipment_id) == first
        assert tracking.counters == {"OMS Post": 8}

    async def test_a_used_up_range_is_a_carrier_error_and_no_number_is_reused(self, tracking):
        carrier = RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=tracking, first=1, last=1)
        await carrier.issue(order_id=uuid.uuid4(), shipment_id=uuid.uuid4())
        with pytest.raises(CarrierError, match="used up"):
            await carrier.issue(order_id=uuid.uuid4(), shipment_id=uuid.uuid4())

    async def test_after_a_counter_reset_numbers_held_by_other_shipments_are_skipped(self, tracking):
        carrier = RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=tracking, first=1)
        first = await carrier.issue(order_id=uuid.uuid4(), shipment_id=uuid.uuid4())
        tracking.counters.clear()  # e.g. the counter document was lost
        second = await carrier.issue(order_id=uuid.uuid4(), shipment_id=uuid.uuid4())
        assert (first, second) == (s10_tracking_number("OM", 1, "GB"), s10_tracking_number("OM", 2, "GB"))

    def test_a_range_outside_eight_digits_is_refused(self, tracking):
        with pytest.raises(ValueError):
            RangeCarrier(name="X", prefix="OM", country="GB", store=tracking, first=5, last=SERIAL_SPACE)

    def test_the_range_carrier_asks_its_single_writer_for_a_number(self, tracking):
        carrier = RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=tracking)
        order_id, shipment_id = uuid.uuid4(), uuid.uuid4()
        assert carrier.request_tracking_number(order_id=order_id, shipment_id=shipment_id) == [
            IssueTrackingNumber(order_id=order_id, shipment_id=shipment_id, carrier="OMS Post")
        ]


class TestCarriers:
    def test_the_built_in_name_is_the_range_and_any_other_or_manual_one_waits_for_staff(self, tracking):
        carriers = Carriers(RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=tracking))
        assert carriers.get("OMS Post", manual=False) is carriers.range
        for name, manual in (("OMS Post", True), ("DPD", False)):
            carrier = carriers.get(name, manual=manual)
            assert isinstance(carrier, ManualCarrier) and carrier.name == name and carrier.manual
            assert carrier.request_tracking_number(order_id=uuid.uuid4(), shipment_id=uuid.uuid4()) == []
