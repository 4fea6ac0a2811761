"""Payments in the order book: filing each received payment and matching it to its order, staff matching by hand,
and recording a payment on its order.

`handle_payment_command` is the one writer of payment documents (oms.orders.commands keyed by payment id); it
reads orders but never writes them: it sends `orders.record_payment` to the order's key instead. `decide` is
called by handlers.handle_command (the one writer of orders); `forward` by handlers.forward_event.

Matching order: the parent transaction's order (refunds); the invoice or custom field naming an order number or
channel order id; an order that recorded the transaction already; then buyer email + amount + currency among
open unpaid orders opened within MATCH_WINDOW of the payment. One candidate matches; several are ambiguous.
"""

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from oms_contracts import Envelope, Message, derived_id
from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, PaymentDetails, Shipping
from oms_contracts.ingest.v1 import PaymentReceived
from oms_contracts.orders.v1 import (
    FilePayment,
    MatchPayment,
    OrderOpened,
    PaymentMatchRefused,
    PlaceOrder,
    RecordPayment,
    order_id_for,
    payment_id_for,
)
from oms_platform.documents import Decision, handle_once
from oms_platform.messaging import Bus, PermanentError
from orders.adapters.payments import OrderLookup, PaymentRepository, WaitingPayments
from orders.domain import payments as domain
from orders.domain.errors import OrderRefused
from orders.domain.model import Order, ProcessingGuards
from orders.domain.payments import PaymentEntry, PaymentState

Clock = Callable[[], datetime]

MATCH_WINDOW = timedelta(days=14)
MATCHER = "payments"  # who matched, on the timeline, when a rule did
PAYPAL_CHANNEL = "paypal"

PAYMENT_COMMANDS = (FilePayment, MatchPayment)


def is_payment_command(payload: Message) -> bool:
    """Commands on payment documents (keyed by payment id), not on orders."""
    return isinstance(payload, PAYMENT_COMMANDS)


def park_if_unpaid(placed: tuple[Order, list[Message]], *, guards: ProcessingGuards, now: datetime
                   ) -> tuple[Order, list[Message]]:
    """Park a new unpaid order on arrival when its channel is set to."""
    return domain.park_if_unpaid(placed, channels=guards.park_unpaid_channels, now=now)


def decide(order: Order | None, command: Message, *, now: datetime) -> tuple[Order, list[Message]] | None:
    """What `orders.record_payment` does to its order, or None for other commands."""
    if not isinstance(command, RecordPayment):
        return None
    if order is None:
        raise OrderRefused("no such order")
    return order, domain.record_payment(order, payment=command.payment, matched_by=command.matched_by,
                                        by=command.requested_by, now=now)


async def forward_event(envelope: Envelope, *, bus: Bus, payments: "WaitingPayments | None" = None) -> bool:
    """File a payment ingest received on its payment document (keyed by payment id); an order just opened claims
    the unmatched payments that name it. True when the event was a payment (nothing else to forward)."""
    event = envelope.payload
    if isinstance(event, OrderOpened) and payments is not None:
        details = event.order.details
        for doc in await payments.unmatched_naming([details.order_number, details.channel_order_id]):
            claim = MatchPayment(payment_id=uuid.UUID(doc["_id"]), order_id=event.order.order_id,
                                 requested_by=MATCHER, matched_by="invoice")
            forwarded = bus.envelope(claim, cause=envelope,
                                     event_id=derived_id(envelope.event_id, "payment-claim", doc["_id"]))
            await bus.publish(forwarded, key=doc["_id"])
        return False
    if not isinstance(event, PaymentReceived):
        return False
    payment = event.payment
    command = FilePayment(payment_id=payment_id_for(payment.provider, payment.transaction_id), payment=payment,
                          open_order_if_unmatched=event.open_order_if_unmatched)
    forwarded = bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, "orders-forward"))
    await bus.publish(forwarded, key=str(command.payment_id))
    return True


def entry_fields(entry: PaymentEntry) -> dict:
    """The payment document's fields: the entry, plus what lists filter and sort on and the order references it
    names (so an order arriving after its payment finds it)."""
    return {"payment": entry.model_dump(mode="json"), "state": entry.state.value,
            "filed_at": entry.filed_at.isoformat(), "transaction_id": entry.payment.transaction_id,
            "references": references(entry.payment)}


async def handle_payment_command(
    envelope: Envelope, *, payments: PaymentRepository, orders: OrderLookup, bus: Bus, clock: Clock,
) -> None:
    """File a payment or match one by hand, exactly once; what it matches is sent to the order as a command."""
    command = envelope.payload

    async def decide_payment(doc: dict | None) -> Decision:
        entry = PaymentEntry.model_validate(doc["payment"]) if doc else None
        now = clock()
        if isinstance(command, FilePayment):
            entry, outgoing = await _file(entry, command, orders=orders, payments=payments, now=now)
        else:
            entry, outgoing = await _match_by_hand(entry, command, envelope, orders=orders, now=now)
        return entry_fields(entry), outgoing

    await handle_once(envelope, aggregate_id=command.payment_id, store=payments, bus=bus, decide=decide_payment)


def _record(entry: PaymentEntry, payment: PaymentDetails, *, by: str) -> tuple[RecordPayment, str]:
    command = RecordPayment(order_id=entry.order_id, payment=payment, payment_id=entry.payment_id,
                            matched_by=entry.matched_by or "", requested_by=by)
    return command, str(entry.order_id)


async def _file(entry: PaymentEntry | None, command: FilePayment, *, orders: OrderLookup,
                payments: PaymentRepository, now: datetime) -> tuple[PaymentEntry, list[tuple[Message, str]]]:
    payment = command.payment
    if entry is None:
        state = PaymentState.NOT_FOR_AN_ORDER if payment.kind == "other" else PaymentState.UNMATCHED
        entry = PaymentEntry(payment_id=command.payment_id, payment=payment, sources=[payment.source],
                             statuses=[payment.status.lower()], state=state, filed_at=now)
        entry.note(now, "filed", payment.source, f"{payment.kind} {payment.status} {payment.gross} {payment.currency}")
    elif not entry.merge(payment, now=now):
        return entry, []  # the same transaction and status again (another source, the same file): merged only
    if entry.state in (PaymentState.MATCHED, PaymentState.OPENED_ORDER):
        return entry, [_record(entry, entry.payment, by=f"{MATCHER}:{payment.source}")]
    if entry.state is PaymentState.NOT_FOR_AN_ORDER:
        return entry, []
    candidates, how = await find_orders(entry.payment, orders=orders, payments=payments)
    if len(candidates) == 1:
        entry.matched(order_id=candidates[0], how=how, by=MATCHER, now=now)
        return entry, [_record(entry, entry.payment, by=f"{MATCHER}:{payment.source}")]
    if len(candidates) > 1:
        entry.state, entry.candidates = PaymentState.AMBIGUOUS, candidates
        entry.note(now, "ambiguous", MATCHER, f"{len(candidates)} orders fit by {how}")
        return entry, []
    if command.open_order_if_unmatched and (details := order_from_payment(entry.payment)) is not None:
        order_id = order_id_for(details.channel, details.channel_order_id)
        entry.matched(order_id=order_id, how="opened_order", by=MATCHER, now=now, state=PaymentState.OPENED_ORDER)
        place = PlaceOrder(order_id=order_id, order=details, source="channel", placed_by=f"channel:{PAYPAL_CHANNEL}")
        return entry, [(place, str(order_id)), _record(entry, entry.payment, by=f"{MATCHER}:{payment.source}")]
    entry.state = PaymentState.UNMATCHED
    return entry, []


async def _match_by_hand(entry: PaymentEntry | None, command: MatchPayment, envelope: Envelope, *,
                         orders: OrderLookup, now: datetime) -> tuple[PaymentEntry, list[tuple[Message, str]]]:
    if entry is None:
        raise PermanentError(f"no payment {command.payment_id}")

    def refused(reason: str):
        entry.note(now, "match refused", command.requested_by, reason)
        return entry, [(PaymentMatchRefused(payment_id=entry.payment_id, order_id=command.order_id,
                                            command_id=envelope.event_id, reason=reason), str(entry.payment_id))]

    if command.matched_by != "staff" and entry.state is not PaymentState.UNMATCHED:
        return entry, []  # a rule only takes what is still unmatched; ambiguous payments wait for staff
    if not entry.needs_staff:
        return refused(f"payment is {entry.state.value}" + (f" to order {entry.order_id}" if entry.order_id else ""))
    doc = await orders.get(command.order_id)
    if doc is None:
        return refused(f"no order {command.order_id}")
    entry.matched(order_id=command.order_id, how=command.matched_by, by=command.requested_by, now=now)
    return entry, [_record(entry, entry.payment, by=command.requested_by)]


def references(payment: PaymentDetails) -> list[str]:
    """Order numbers or channel order ids a payment may name: its invoice and custom fields (`WC-1052` → also
    `1052`; a JSON custom field's order_id), without leading zeros too."""
    found: list[str] = []
    texts = [payment.invoice, payment.custom]
    try:
        custom = json.loads(payment.custom) if payment.custom else None
    except ValueError:
        custom = None
    if isinstance(custom, dict):
        texts += [str(custom[k]) for k in ("order_id", "invoice", "order_number") if k in custom]
    for text in texts:
        if not text or text.startswith("{"):
            continue
        text = text.strip()
        found.append(text)
        digits = re.fullmatch(r"[A-Za-z]*[-#_ ]?(\d+)", text)
        if digits:
            found += [digits.group(1), digits.group(1).lstrip("0") or "0"]
    return list(dict.fromkeys(found))


async def find_orders(payment: PaymentDetails, *, orders: OrderLookup, payments: PaymentRepository
                      ) -> tuple[list[uuid.UUID], str]:
    """The orders a payment may belong to, and the rule that found them."""
    if payment.parent_transaction_id:
        parent = await payments.get(payment_id_for(payment.provider, payment.parent_transaction_id))
        if parent and parent.get("payment", {}).get("order_id"):
            return [uuid.UUID(parent["payment"]["order_id"])], "parent_transaction"
        recorded = await orders.by_transaction(payment.provider, payment.parent_transaction_id)
        if recorded:
            return _ids(recorded), "parent_transaction"
    by_reference = await orders.by_reference(references(payment))
    if len(by_reference) > 1:  # the same number on two channels: the currency and amount may tell them apart
        same = [d for d in by_reference if _order(d).details.currency == payment.currency]
        exact = [d for d in same if _order(d).details.total() == abs(payment.gross)]
        by_reference = exact or same or by_reference
    if by_reference:
        return _ids(by_reference), "invoice"
    recorded = await orders.by_transaction(payment.provider, payment.transaction_id)
    if recorded:
        return _ids(recorded), "transaction"
    if payment.kind == "payment" and payment.payer_email:
        fits = []
        for doc in await orders.by_email(payment.payer_email):
            order = _order(doc)
            opened_near = payment.paid_at is None or abs(order.opened_at - payment.paid_at) <= MATCH_WINDOW
            if (not order.details.paid and order.details.currency == payment.currency
                    and order.details.total() == payment.gross and opened_near):
                fits.append(doc)
        if fits:
            return _ids(fits), "email_amount"
    return [], "none"


def _order(doc: dict) -> Order:
    return Order.model_validate(doc["order"])


def _ids(docs: list[dict]) -> list[uuid.UUID]:
    return list(dict.fromkeys(uuid.UUID(doc["_id"]) for doc in docs))


def order_from_payment(payment: PaymentDetails) -> OrderDetails | None:
    """PayPal as a sales channel: the order a completed button payment describes (its items, buyer and address),
    or None when it lacks what an order needs (items, an address)."""
    if payment.kind != "payment" or not payment.completed or not payment.items or payment.shipping_address is None:
        return None
    lines = []
    for n, item in enumerate(payment.items, start=1):
        gross = item.gross if item.gross is not None else (
            payment.gross - (payment.shipping or Decimal("0")) if len(payment.items) == 1 else None)
        if gross is None:
            return None
        lines.append(OrderLine(line_id=str(n), sku=(item.number or item.name)[:64], title=item.name,
                               quantity=item.quantity, unit_price=_unit_price(gross, item.quantity)))
    address: Address = payment.shipping_address
    return OrderDetails(
        channel=PAYPAL_CHANNEL, channel_order_id=payment.transaction_id, order_number=payment.transaction_id,
        buyer=Buyer(name=payment.payer_name or address.name, email=payment.payer_email), shipping_address=address,
        lines=lines, shipping=Shipping(service="Standard", cost=payment.shipping or Decimal("0")),
        currency=payment.currency, paid=False, notes=payment.note,
        placed_at=payment.paid_at.isoformat() if payment.paid_at else None,
    )


def _unit_price(gross: Decimal, quantity: int) -> Decimal:
    """The unit price of a line: in cents when it divides evenly (it nearly always does), else to 4 places."""
    cents = (gross / quantity).quantize(Decimal("0.01"))
    return cents if cents * quantity == gross else (gross / quantity).quantize(Decimal("0.0001"))

