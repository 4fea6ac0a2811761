"""Payments: what an order records of the payments matched to it, the unpaid park rule, and the payment document
that files each provider transaction and says which order it belongs to."""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from oms_contracts import Message
from oms_contracts.common import Address, PaymentDetails
from oms_contracts.orders.v1 import PaymentRecorded

if TYPE_CHECKING:
    from orders.domain.model import Order

UNPAID_PARK_REASON = "unpaid"
# Who parks an unpaid order on arrival: only a park by this rule is released by the payment.
PARK_RULE = "rule:park unpaid on arrival"
# Address fields staff type when they do not know the address (the order then lacks one).
_PLACEHOLDERS = {"", "-", "--", ".", "?", "n/a", "na", "none", "unknown", "tbc", "tba", "x"}


class PaymentRecord(BaseModel):
    """A payment or refund recorded on an order."""

    payment: PaymentDetails
    matched_by: str
    by: str
    recorded_at: datetime


class OrderPayments(BaseModel):
    """Every payment and refund recorded on an order."""

    records: list[PaymentRecord] = Field(default_factory=list)

    def seen(self, payment: PaymentDetails) -> bool:
        """This transaction was recorded in this status already."""
        return any(r.payment.provider == payment.provider and r.payment.transaction_id == payment.transaction_id
                   and r.payment.status.lower() == payment.status.lower() for r in self.records)

    def latest(self) -> list[PaymentDetails]:
        """The latest status of each transaction."""
        by_txn: dict[tuple[str, str], PaymentDetails] = {}
        for record in self.records:
            by_txn[(record.payment.provider, record.payment.transaction_id)] = record.payment
        return list(by_txn.values())

    def paid_total(self) -> Decimal:
        """Gross of the completed payments."""
        return sum((p.gross for p in self.latest() if p.kind == "payment" and p.completed), Decimal("0"))

    def refunded_total(self) -> Decimal:
        """What was refunded (a positive amount)."""
        return -sum((p.gross for p in self.latest() if p.kind == "refund" and p.completed), Decimal("0"))

    def fee_total(self) -> Decimal:
        return sum((p.fee for p in self.latest() if p.completed), Decimal("0"))

    def net_total(self) -> Decimal:
        return sum((p.net for p in self.latest() if p.completed), Decimal("0"))


def lacks_address(address: Address | None) -> bool:
    """True when the order has no usable shipping address (none, or placeholders where the street or postcode go)."""
    if address is None:
        return True
    return address.line1.strip().lower() in _PLACEHOLDERS or address.postcode.strip().lower() in _PLACEHOLDERS


def parked_as_unpaid(order: "Order") -> bool:
    """The order is parked by the unpaid-on-arrival rule (not by staff, whatever reason they gave)."""
    if not order.parked or order.hold_reason != UNPAID_PARK_REASON:
        return False
    parks = [entry for entry in order.timeline if entry.what == "parked"]
    return bool(parks) and parks[-1].by == PARK_RULE


def park_if_unpaid(placed: tuple["Order", list[Message]], *, channels: frozenset[str], now: datetime
                   ) -> tuple["Order", list[Message]]:
    """Park a just-placed unpaid order (reason "unpaid") when its channel is set to ("*": every channel)."""
    order, messages = placed
    if order.details.paid or not ({"*", order.details.channel} & channels) or order.parked:
        return placed
    if order.status.value != "open":
        return placed
    return order, [*messages, *order.park(reason=UNPAID_PARK_REASON, by=PARK_RULE, now=now)]


def _amount(value: Decimal, currency: str) -> str:
    return f"{value:.2f} {currency}"


def record_payment(order: "Order", *, payment: PaymentDetails, matched_by: str, by: str, now: datetime
                   ) -> list[Message]:
    """Record a payment or refund on the order. A completed payment marks it paid, fills a missing address and
    note from the payment (timeline says so) and releases an unpaid park. The same transaction in the same status
    again changes nothing."""
    if order.payments.seen(payment):
        return []
    order.payments.records.append(PaymentRecord(payment=payment, matched_by=matched_by, by=by, recorded_at=now))
    txn = f"{payment.provider} {payment.transaction_id}"
    if payment.kind == "refund":
        of = f" of {payment.parent_transaction_id}" if payment.parent_transaction_id else ""
        order.note(now, "refund recorded", by, f"{_amount(-payment.gross, payment.currency)} {payment.status} "
                                                f"({txn}{of}; fee {payment.fee}, net {payment.net})")
        return [PaymentRecorded(order_id=order.order_id, payment=payment, paid=order.details.paid, by=by)]
    if not payment.completed:
        order.note(now, "payment recorded", by, f"{_amount(payment.gross, payment.currency)} {payment.status}, "
                                                f"not completed ({txn})")
        return [PaymentRecorded(order_id=order.order_id, payment=payment, paid=order.details.paid, by=by)]
    detail = (f"{_amount(payment.gross, payment.currency)} ({txn}; fee {payment.fee}, net {payment.net}; "
              f"matched by {matched_by})")
    total = order.details.total()
    if payment.currency != order.details.currency or payment.gross != total:
        detail += f"; the order totals {_amount(total, order.details.currency)}"
    updates: dict = {"paid": True}
    open_order = order.status.value == "open"
    if open_order and payment.shipping_address is not None and lacks_address(order.details.shipping_address):
        updates["shipping_address"] = payment.shipping_address
    if open_order and payment.note and not order.details.notes:
        updates["notes"] = payment.note
    order.details = order.details.model_copy(update=updates)
    order.note(now, "paid", by, detail)
    if "shipping_address" in updates:
        address = payment.shipping_address
        order.note(now, "address taken from payment", by,
                   f"{address.name}, {address.line1}, {address.postcode} {address.city}, {address.country}")
    if "notes" in updates:
        order.note(now, "note taken from payment", by, payment.note)
    messages: list[Message] = [PaymentRecorded(order_id=order.order_id, payment=payment, paid=True, by=by)]
    if parked_as_unpaid(order):
        messages += order.unpark(reason=f"payment received ({txn})", by=by, now=now)
    return messages


# --- The payment document ------------------------------------------------------------------------------------


class PaymentState(StrEnum):
    """Where a filed payment stands."""

    MATCHED = "matched"  # recorded on `order_id`
    UNMATCHED = "unmatched"  # no order found: staff match it by hand
    AMBIGUOUS = "ambiguous"  # several orders fit (`candidates`): staff choose
    OPENED_ORDER = "opened_order"  # PayPal as a sales channel: it became the order `order_id`
    NOT_FOR_AN_ORDER = "not_for_an_order"  # withdrawals, transfers: money that belongs to no order


class PaymentHistory(BaseModel):
    """One thing that happened to a filed payment."""

    at: datetime
    what: str
    by: str
    detail: str | None = None


class PaymentEntry(BaseModel):
    """One provider transaction as filed: its latest details, every source and status seen, and its order."""

    payment_id: uuid.UUID
    payment: PaymentDetails
    sources: list[str]
    statuses: list[str]
    state: PaymentState
    order_id: uuid.UUID | None = None
    matched_by: str | None = None
    candidates: list[uuid.UUID] = Field(default_factory=list)
    filed_at: datetime
    history: list[PaymentHistory] = Field(default_factory=list)

    @property
    def needs_staff(self) -> bool:
        return self.state in (PaymentState.UNMATCHED, PaymentState.AMBIGUOUS)

    def note(self, at: datetime, what: str, by: str, detail: str | None = None) -> None:
        self.history.append(PaymentHistory(at=at, what=what, by=by, detail=detail))

    def seen(self, payment: PaymentDetails) -> bool:
        """This status of the transaction was filed already (from any source)."""
        return payment.status.lower() in self.statuses

    def merge(self, payment: PaymentDetails, *, now: datetime) -> bool:
        """Take another report of the transaction: a new status replaces the details, a repeat only fills what the
        first report lacked (an IPN has no address where the activity file has one). True when the status is new."""
        new_status = not self.seen(payment)
        if payment.source not in self.sources:
            self.sources.append(payment.source)
        if new_status:
            self.statuses.append(payment.status.lower())
            filled = {k: v for k, v in self.payment.model_dump().items() if v not in (None, [], "")}
            self.payment = PaymentDetails.model_validate({**payment.model_dump(), **{
                k: v for k, v in filled.items() if k in _KEPT_FIELDS and getattr(payment, k) in (None, [])}})
            self.note(now, "status", payment.source, payment.status)
            return True
        missing = {k: getattr(payment, k) for k in _KEPT_FIELDS
                   if getattr(self.payment, k) in (None, []) and getattr(payment, k) not in (None, [])}
        if missing:
            self.payment = self.payment.model_copy(update=missing)
            self.note(now, "details added", payment.source, ", ".join(sorted(missing)))
        return False

    def matched(self, *, order_id: uuid.UUID, how: str, by: str, now: datetime,
                state: PaymentState = PaymentState.MATCHED) -> None:
        self.state, self.order_id, self.matched_by, self.candidates = state, order_id, how, []
        self.note(now, "matched" if state is PaymentState.MATCHED else state.value, by, f"order {order_id} ({how})")


# Details one report may lack and another carry; merged rather than replaced.
_KEPT_FIELDS = ("invoice", "custom", "payer_email", "payer_name", "receiver", "shipping_address", "shipping", "note",
                "items", "paid_at", "parent_transaction_id")
