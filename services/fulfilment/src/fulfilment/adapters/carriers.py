"""Carriers book a shipment and give its tracking number; `RangeCarrier` issues UPU S10 numbers from our own range.

S10 (UPU standard S10) numbers look like `OM123456785GB`: a two-letter service indicator (our prefix), an 8-digit
serial, one check digit, and a two-letter country code. The check digit is the S10 mod-11 digit: the serial's
digits are weighted 8 6 4 2 3 5 9 7 and summed; the digit is 11 minus the sum modulo 11, except that 10 becomes 0
and 11 becomes 5. A single wrong digit or a swap of neighbours always changes the sum modulo 11, so it is caught
unless the check digit is 5 (sums of 0 and 6 modulo 11 both give 5): about 98 % of such typos overall.

Which serial an order gets must not change when a CreateShipment is redelivered. The serial starts at the order
id modulo 10^8, which alone would collide by the birthday bound (a 50 % chance among ~12,000 orders). So each
number is *claimed* by inserting it with a unique `_id` (atomic on MongoDB and FerretDB, no shared counter to
update), and a taken number sends the order on to the next serial. A redelivered order probes the same serials
in the same order and finds its own claim, so it always gets the same number.
"""

import uuid
from typing import Protocol

from oms_contracts.orders.v1 import OrderSnapshot

SERIAL_DIGITS = 8
SERIAL_SPACE = 10**SERIAL_DIGITS
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


class CarrierError(Exception):
    """The carrier could not book the shipment."""


class Carrier(Protocol):
    """Books a shipment for an order: returns (carrier name, tracking number)."""

    async def book(self, order: OrderSnapshot) -> tuple[str, str]: ...


class TrackingNumberClaims(Protocol):
    """Which order holds each issued tracking number."""

    async def claim(self, tracking_number: str, *, order_id: uuid.UUID) -> uuid.UUID:
        """Claim the number for `order_id` unless it is taken; return the order that holds it."""
        ...


def s10_check_digit(serial: int) -> int:
    """The UPU S10 mod-11 check digit of an 8-digit serial."""
    if not 0 <= serial < SERIAL_SPACE:
        raise ValueError(f"an S10 serial has {SERIAL_DIGITS} digits, got {serial}")
    digits = [int(c) for c in f"{serial:0{SERIAL_DIGITS}d}"]
    check = 11 - sum(w * d for w, d in zip(S10_WEIGHTS, digits)) % 11
    return {10: 0, 11: 5}.get(check, check)


def s10_tracking_number(prefix: str, serial: int, country: str) -> str:
    """An S10 tracking number, e.g. s10_tracking_number('RB', 12345678, 'GB') == 'RB123456785GB'."""
    return f"{prefix}{serial:0{SERIAL_DIGITS}d}{s10_check_digit(serial)}{country}"


def is_valid_s10(number: str) -> bool:
    """True when `number` is a well-formed S10 number whose check digit matches."""
    if len(number) != 13 or not (number[:2].isalpha() and number[-2:].isalpha() and number[2:11].isdigit()):
        return False
    return s10_check_digit(int(number[2:10])) == int(number[10])


class RangeCarrier:
    """Our own carrier: issues S10 numbers from a configured prefix, one serial per order."""

    def __init__(
        self, *, name: str, prefix: str, country: str, claims: TrackingNumberClaims, max_probes: int = 1000
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.country = country
        self.claims = claims
        self.max_probes = max_probes

    async def book(self, order: OrderSnapshot) -> tuple[str, str]:
        """The order's tracking number: the first serial from its own start that is free or already its own."""
        start = order.order_id.int % SERIAL_SPACE
        for step in range(self.max_probes):
            number = s10_tracking_number(self.prefix, (start + step) % SERIAL_SPACE, self.country)
            if await self.claims.claim(number, order_id=order.order_id) == order.order_id:
                return self.name, number
        raise CarrierError(f"no free {self.prefix} serial within {self.max_probes} of {start} for {order.order_id}")
