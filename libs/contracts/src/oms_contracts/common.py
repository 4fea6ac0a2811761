"""Value types that several contracts share: money, addresses, buyers, order lines."""

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# Money travels as a decimal string ("19.99"), never a float.
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]


class ValueModel(BaseModel):
    """Base of the shared value types: immutable, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Address(ValueModel):
    """A postal address."""

    name: str = Field(min_length=1, max_length=200)
    company: str | None = None
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = None
    city: str = Field(min_length=1, max_length=100)
    region: str | None = None
    postcode: str = Field(min_length=1, max_length=20)
    country: CountryCode
    phone: str | None = None


class Buyer(ValueModel):
    """Who bought."""

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = None


class OrderLine(ValueModel):
    """One line of an order: what to pick and what it costs."""

    line_id: str = Field(min_length=1, max_length=64)
    sku: Sku
    title: str = Field(min_length=1, max_length=300)
    quantity: int = Field(gt=0, le=100_000)
    unit_price: Money
    tax_rate: Decimal = Field(default=Decimal("0"), ge=0, le=1)


class Shipping(ValueModel):
    """How the order ships and what the buyer paid for it."""

    service: str = Field(min_length=1, max_length=100)
    cost: Money = Decimal("0")


class OrderDetails(ValueModel):
    """The order as placed: everything a channel or staff member says about it."""

    channel: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")
    channel_order_id: str = Field(min_length=1, max_length=100)
    channel_account: str | None = Field(
        default=None, max_length=100, description="Our name of the channel account it came from (write-back uses it).")
    order_number: str = Field(min_length=1, max_length=100)
    buyer: Buyer
    shipping_address: Address
    billing_address: Address | None = None
    lines: list[OrderLine] = Field(min_length=1, max_length=500)
    shipping: Shipping
    currency: CurrencyCode
    discount: Money = Decimal("0")
    paid: bool = False
    notes: str | None = Field(default=None, max_length=2000)
    placed_at: str | None = Field(default=None, description="When the buyer placed it, ISO 8601 as the channel said.")

    def subtotal(self) -> Decimal:
        """Sum of line prices."""
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0"))

    def total(self) -> Decimal:
        """What the buyer pays: lines plus shipping less discount."""
        return self.subtotal() + self.shipping.cost - self.discount
