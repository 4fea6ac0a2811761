"""Money helpers the REST connectors share: unit prices from line totals, signed amounts made positive."""

from decimal import Decimal
from typing import Any

from ingest.domain.channel_orders import _reject, money
from ingest.domain.codes import minor_digits

_FOUR_PLACES = Decimal("0.0001")


def unit_price(row_total: Decimal, quantity: Any, *, currency: str, loc: tuple) -> Decimal:
    """The unit price of a line whose channel gives the line total: in the currency's minor digits when it
    divides exactly, else to 4 places (the contract's precision) provided that still multiplies back."""
    if not isinstance(quantity, int) or quantity <= 0:
        return row_total  # the contract rejects the quantity itself, naming it
    unit = row_total / quantity
    step = Decimal(1).scaleb(-minor_digits(currency))
    if unit.quantize(step) == unit:
        return unit.quantize(step)
    if unit.quantize(_FOUR_PLACES) * quantity != row_total:
        raise _reject(loc, f"{row_total} does not divide into {quantity} unit prices", "money_invalid")
    return unit.quantize(_FOUR_PLACES)


def amount(value: Any, *, currency: str, loc: tuple, signed: bool = False) -> Decimal:
    """An amount in the currency's minor digits; with `signed`, a negative one (eBay and Magento discounts)
    is read as its size."""
    if signed and value is not None:
        try:
            value = abs(Decimal(str(value)))
        except ArithmeticError:
            pass  # money() names the bad value
    return money(value if value is not None else "0", currency=currency, loc=loc)
