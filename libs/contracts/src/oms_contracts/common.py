"""Value types that several contracts share: money, addresses, buyers, order lines."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

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


# Payments (PayPal IPN, REST webhooks, activity files; staff entries). Amounts are from the merchant's side and
# signed: gross < 0 for a refund, fee < 0 when the provider charges one, net = gross + fee.
SignedMoney = Annotated[Decimal, Field(max_digits=14, decimal_places=4)]


class PaymentItem(ValueModel):
    """One item a payment names (PayPal `item_name{n}`, `item_number{n}`, `quantity{n}`, `mc_gross_{n}`)."""

    name: str = Field(min_length=1, max_length=300)
    number: str | None = Field(default=None, max_length=127)
    quantity: int = Field(default=1, gt=0, le=100_000)
    gross: Money | None = None


class PaymentDetails(ValueModel):
    """A payment or refund as its provider reported it."""

    provider: str = Field(default="paypal", min_length=1, max_length=30, pattern=r"^[a-z0-9_]+$")
    transaction_id: str = Field(min_length=1, max_length=64)
    kind: Literal["payment", "refund", "other"] = Field(
        description="'other' is money moving that belongs to no order (withdrawal, transfer, fee).")
    status: str = Field(min_length=1, max_length=40, description="The provider's status, e.g. Completed, Pending.")
    currency: CurrencyCode
    gross: SignedMoney
    fee: SignedMoney = Decimal("0")
    net: SignedMoney
    parent_transaction_id: str | None = Field(default=None, max_length=64)
    invoice: str | None = Field(default=None, max_length=127)
    custom: str | None = Field(default=None, max_length=1000)
    payer_email: str | None = Field(default=None, max_length=320)
    payer_name: str | None = Field(default=None, max_length=200)
    receiver: str | None = Field(default=None, max_length=320, description="Whose account received it.")
    shipping_address: Address | None = None
    shipping: Money | None = None
    note: str | None = Field(default=None, max_length=2000)
    items: list[PaymentItem] = Field(default_factory=list, max_length=500)
    paid_at: AwareDatetime | None = None
    source: Literal["ipn", "webhook", "activity_csv", "staff"]

    @property
    def completed(self) -> bool:
        """The money has arrived (or, for a refund, left)."""
        return self.status.lower() in ("completed", "processed", "cleared", "success")

