"""Carrier adapters behind one interface: how a shipment gets its tracking number.

`RangeCarrier` is our own carrier. It issues UPU S10 numbers (`OM000001236GB`: a two-letter service indicator,
an 8-digit serial, the S10 mod-11 check digit, a two-letter country code) from a configured range of serials. The
next serial is a persisted counter with one writer: `IssueTrackingNumber` commands are keyed by the carrier name,
so one consumer at a time advances it. The counter is saved *before* the number is recorded against the
shipment, so a crash in between skips a serial rather than reusing one: a number is never issued twice.

The S10 check digit: the serial's digits are weighted 8 6 4 2 3 5 9 7 and summed; the digit is 11 minus the sum
modulo 11, except that 10 becomes 0 and 11 becomes 5.

`ManualCarrier` asks for nothing: the shipment waits until staff type the number (`POST
/shipments/{order_id}/tracking`).
"""

import uuid
from typing import Protocol

from oms_contracts import Message
from oms_contracts.fulfilment.v1 import IssueTrackingNumber

SERIAL_DIGITS = 8
SERIAL_SPACE = 10**SERIAL_DIGITS
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


class CarrierError(Exception):
    """The carrier cannot give a tracking number (its range is used up)."""


class Carrier(Protocol):
    """What every carrier adapter offers."""

    name: str
    manual: bool

    def request_tracking_number(self, *, order_id: uuid.UUID, shipment_id: uuid.UUID) -> list[Message]:
        """What to publish so that the shipment gets its number; empty when staff type it."""
        ...


class TrackingRangeStore(Protocol):
    """The range's counter and the numbers issued, one per shipment."""

    async def issued(self, shipment_id: uuid.UUID) -> str | None:
        """The number already issued to the shipment, if any."""
        ...

    async def take_serial(self, carrier: str, *, first: int) -> int:
        """The next unused serial (at least `first`), with the counter saved past it."""
        ...

    async def record(self, shipment_id: uuid.UUID, *, order_id: uuid.UUID, tracking_number: str) -> str | None:
        """Record the shipment's number unless it has one; return the shipment's number, or None when the number
        belongs to another shipment."""
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


class ManualCarrier:
    """A carrier whose numbers staff type in (they come from the carrier's own portal or label printer)."""

    manual = True

    def __init__(self, name: str) -> None:
        self.name = name

    def request_tracking_number(self, *, order_id: uuid.UUID, shipment_id: uuid.UUID) -> list[Message]:
        """Nothing to ask: the shipment waits for staff."""
        return []


class RangeCarrier:
    """Our own carrier: S10 numbers from serials `first`..`last` of a configured prefix and country."""

    manual = False

    def __init__(self, *, name: str, prefix: str, country: str, store: TrackingRangeStore, first: int = 1,
                 last: int = SERIAL_SPACE - 1) -> None:
        if not 0 <= first <= last < SERIAL_SPACE:
            raise ValueError(f"tracking range {first}..{last} is not within 0..{SERIAL_SPACE - 1}")
        self.name, self.prefix, self.country = name, prefix, country
        self.store, self.first, self.last = store, first, last

    def request_tracking_number(self, *, order_id: uuid.UUID, shipment_id: uuid.UUID) -> list[Message]:
        """Ask the range's single writer (commands keyed by the carrier name) for the next number."""
        return [IssueTrackingNumber(order_id=order_id, shipment_id=shipment_id, carrier=self.name)]

    async def issue(self, *, order_id: uuid.UUID, shipment_id: uuid.UUID) -> str:
        """The shipment's number: the one it was issued already, or the next serial of the range."""
        if (number := await self.store.issued(shipment_id)) is not None:
            return number
        while True:
            serial = await self.store.take_serial(self.name, first=self.first)
            if serial > self.last:
                raise CarrierError(f"{self.name}'s tracking range {self.first}..{self.last} is used up")
            number = s10_tracking_number(self.prefix, serial, self.country)
            # None: another shipment holds this number (the counter was reset); never reuse it, take the next.
            if (recorded := await self.store.record(shipment_id, order_id=order_id, tracking_number=number)):
                return recorded


class Carriers:
    """The built-in range carrier, and any other carrier name as a manual one."""

    def __init__(self, range_carrier: RangeCarrier) -> None:
        self.range = range_carrier

    def get(self, name: str, *, manual: bool) -> Carrier:
        """The adapter for a carrier a rule names."""
        if manual or name != self.range.name:
            return ManualCarrier(name)
        return self.range
