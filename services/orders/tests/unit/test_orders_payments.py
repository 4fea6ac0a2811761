"""Payments in the order book: filing and matching payments, recording them on orders, the unpaid park."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms_contracts import Envelope, derived_id, new_envelope, topics
from oms_contracts.common import Address, PaymentDetails, PaymentItem
from oms_contracts.ingest.v1 import PaymentReceived
from oms_contracts.orders.v1 import (
    MatchPayment,
    OrderUnparked,
    ParkOrder,
    PaymentMatchRefused,
    PaymentRecorded,
    PlaceOrder,
    RecordPayment,
    order_id_for,
    payment_id_for,
)
from oms_platform.messaging import PermanentError
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details
from orders.domain.model import Order, ProcessingGuards
from orders.domain.payments import PARK_RULE, UNPAID_PARK_REASON, lacks_address
from orders.service_layer import payments
from orders.service_layer.handlers import handle_command

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
MALMO = Address(name="Åsa Lindqvist-Öberg", line1="Södra Förstadsgatan 41", line2="Lgh 1102", city="Malmö",
                postcode="211 43", country="SE")


def payment(**overrides) -> PaymentDetails:
    """A completed PayPal IPN payment of 34.60 GBP for invoice 1002 (fee 1.30)."""
    values = dict(transaction_id="9RT17742MN3305519", kind="payment", status="Completed", currency="GBP",
                  gross=Decimal("34.60"), fee=Decimal("-1.30"), net=Decimal("33.30"), invoice="1002",
                  payer_email="asa.lindqvist@example.se", payer_name="Åsa Lindqvist-Öberg", shipping_address=MALMO,
                  paid_at=NOW, source="ipn")
    values.update(overrides)
    return PaymentDetails(**values)


class FakeOrderLookup:
    """The order lookups of payment matching, over the in-memory order documents."""

    def __init__(self, orders: InMemoryDocuments) -> None:
        self.orders = orders

    def _all(self):
        return [{**doc} for doc in self.orders.docs.values()]

    async def by_reference(self, references):
        return [d for d in self._all() if d["order"]["details"]["order_number"] in references
                or d["order"]["details"]["channel_order_id"] in references]

    async def by_transaction(self, provider, transaction_id):
        return [d for d in self._all() if any(
            r["payment"]["transaction_id"] == transaction_id and r["payment"]["provider"] == provider
            for r in d["order"]["payments"]["records"])]

    async def by_email(self, email):
        return [d for d in self._all() if d["status"] == "open"
                and (d["order"]["details"]["buyer"].get("email") or "").lower() == email.lower()]

    async def get(self, order_id):
        return await self.orders.get(order_id)


class FakePayments(InMemoryDocuments):
    """Payment documents in memory, with the forwarder's query."""

    async def unmatched_naming(self, references):
        return [d for d in self.docs.values() if d["state"] == "unmatched" and set(d["references"]) & set(references)]


class PaymentsWorker(RecordingBus):
    """The orders worker in-process: orders and payment commands are handled at once, ingest and orders events are
    forwarded; everything published is recorded."""

    def __init__(self, guards: ProcessingGuards | None = None) -> None:
        super().__init__("orders")
        self.orders, self.payments, self.clock = InMemoryDocuments(), FakePayments(), SteppingClock(NOW)
        self.guards = guards or ProcessingGuards()

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        if envelope.payload.TOPIC == topics.ORDERS_COMMANDS:
            if payments.is_payment_command(envelope.payload):
                await payments.handle_payment_command(envelope, payments=self.payments,
                                                      orders=FakeOrderLookup(self.orders), bus=self, clock=self.clock)
            else:
                await handle_command(envelope, repo=self.orders, bus=self, guards=self.guards, clock=self.clock)
        elif envelope.payload.TOPIC in (topics.INGEST_EVENTS, topics.ORDERS_EVENTS):
            await payments.forward_event(envelope, bus=self, payments=self.payments)

    async def place(self, **overrides) -> uuid.UUID:
        details = sample_order_details(**overrides)
        order_id = order_id_for(details.channel, details.channel_order_id)
        await self.publish(new_envelope(PlaceOrder(order_id=order_id, order=details, source="channel",
                                                   placed_by=f"channel:{details.channel}"), producer="test"),
                           key=str(order_id))
        return order_id

    async def receive(self, paid: PaymentDetails, *, opens_orders: bool = False) -> Envelope:
        """What ingest publishes for a payment (the event id derives from source, transaction and status)."""
        envelope = new_envelope(
            PaymentReceived(intake_id=uuid.uuid4(), payment=paid, open_order_if_unmatched=opens_orders),
            producer="ingest", event_id=derived_id(paid.transaction_id, paid.source, paid.status))
        await self.publish(envelope, key=f"paypal:{paid.transaction_id}")
        return envelope

    def distinct(self, message_type) -> set:
        """Event ids of the messages of one type published (a redelivery re-sends the same ids)."""
        return {e.event_id for e, _ in self.published if isinstance(e.payload, message_type)}

    async def order(self, order_id) -> Order:
        return Order.model_validate((await self.orders.get(order_id))["order"])

    async def filed(self, transaction_id: str) -> dict:
        return (await self.payments.get(payment_id_for("paypal", transaction_id)))["payment"]


@pytest.fixture
def worker() -> PaymentsWorker:
    return PaymentsWorker()


def unpaid_1002(**overrides):
    """osCommerce order 1002, unpaid, 34.60 GBP (2 × 7.50 + 15.00 + 4.60 shipping)."""
    from oms_contracts.common import Shipping
    values = dict(channel="oscommerce", channel_order_id="1002", order_number="1002", paid=False,
                  shipping=Shipping(service="Standard", cost=Decimal("4.60")))
    values.update(overrides)
    return values


class TestMatching:
    async def test_a_payment_naming_the_order_marks_it_paid_with_fee_and_net(self, worker):
        order_id = await worker.place(**unpaid_1002())
        await worker.receive(payment())
        order = await worker.order(order_id)
        assert order.details.paid
        [record] = order.payments.records
        assert (record.payment.transaction_id, record.payment.gross, record.payment.fee, record.payment.net) == (
            "9RT17742MN3305519", Decimal("34.60"), Decimal("-1.30"), Decimal("33.30"))
        assert record.matched_by == "invoice"
        assert (await worker.filed("9RT17742MN3305519"))["state"] == "matched"
        assert any(e.what == "paid" and "9RT17742MN3305519" in e.detail for e in order.timeline)

    async def test_an_invoice_with_a_prefix_and_leading_zeros_still_names_the_order(self, worker):
        order_id = await worker.place(**unpaid_1002(channel="woocommerce", channel_order_id="1052",
                                                    order_number="1052"))
        await worker.receive(payment(invoice="WC-1052", transaction_id="3WV48116PJ2209734"))
        assert (await worker.order(order_id)).details.paid

    async def test_buyer_email_and_amount_match_an_unpaid_order_opened_near_the_payment(self, worker):
        order_id = await worker.place(**unpaid_1002(channel_order_id="A-77", order_number="A-77"))
        await worker.receive(payment(invoice=None, payer_email="ADA@example.org"))
        assert (await worker.order(order_id)).details.paid
        assert (await worker.filed("9RT17742MN3305519"))["matched_by"] == "email_amount"

    async def test_email_and_amount_outside_the_window_do_not_match(self, worker):
        await worker.place(**unpaid_1002(channel_order_id="A-78", order_number="A-78"))
        await worker.receive(payment(invoice=None, payer_email="ada@example.org", paid_at=NOW + timedelta(days=30)))
        assert (await worker.filed("9RT17742MN3305519"))["state"] == "unmatched"

    async def test_two_orders_that_fit_make_the_payment_ambiguous_and_neither_is_paid(self, worker):
        first = await worker.place(**unpaid_1002(channel_order_id="A-1", order_number="A-1"))
        second = await worker.place(**unpaid_1002(channel_order_id="A-2", order_number="A-2"))
        await worker.receive(payment(invoice=None, payer_email="ada@example.org"))
        filed = await worker.filed("9RT17742MN3305519")
        assert filed["state"] == "ambiguous"
        assert set(filed["candidates"]) == {str(first), str(second)}
        assert not (await worker.order(first)).details.paid and not (await worker.order(second)).details.paid

    async def test_a_payment_for_no_order_is_unmatched_and_staff_can_match_it(self, worker):
        await worker.receive(payment(invoice="no-such-order"))
        assert (await worker.filed("9RT17742MN3305519"))["state"] == "unmatched"
        order_id = await worker.place(**unpaid_1002(channel_order_id="X-9", order_number="X-9"))
        await worker.publish(new_envelope(MatchPayment(payment_id=payment_id_for("paypal", "9RT17742MN3305519"),
                                                       order_id=order_id, requested_by="alice"), producer="test"),
                             key="p")
        assert (await worker.order(order_id)).details.paid
        filed = await worker.filed("9RT17742MN3305519")
        assert (filed["state"], filed["matched_by"], filed["order_id"]) == ("matched", "staff", str(order_id))

    async def test_matching_a_matched_payment_again_is_refused_with_the_reason(self, worker):
        order_id = await worker.place(**unpaid_1002())
        await worker.receive(payment())
        other = await worker.place(**unpaid_1002(channel_order_id="Z", order_number="Z"))
        await worker.publish(new_envelope(MatchPayment(payment_id=payment_id_for("paypal", "9RT17742MN3305519"),
                                                       order_id=other, requested_by="alice"), producer="test"),
                             key="p")
        [refused] = worker.payloads(PaymentMatchRefused)
        assert refused.reason == f"payment is matched to order {order_id}"
        assert not (await worker.order(other)).details.paid

    async def test_a_withdrawal_belongs_to_no_order_and_is_not_listed_for_staff(self, worker):
        await worker.receive(payment(transaction_id="8ZZ10055QQ1129084", kind="other", gross=Decimal("-800.00"),
                                     fee=Decimal("0"), net=Decimal("-800.00"), invoice=None, source="activity_csv"))
        assert (await worker.filed("8ZZ10055QQ1129084"))["state"] == "not_for_an_order"
        assert not worker.payloads(RecordPayment)


class TestPaymentBeforeItsOrder:
    async def test_an_order_arriving_after_its_payment_claims_it_and_is_paid(self, worker):
        await worker.receive(payment())
        assert (await worker.filed("9RT17742MN3305519"))["state"] == "unmatched"
        order_id = await worker.place(**unpaid_1002())
        order = await worker.order(order_id)
        assert order.details.paid and order.payments.records[0].matched_by == "invoice"
        assert (await worker.filed("9RT17742MN3305519"))["order_id"] == str(order_id)

    async def test_an_ambiguous_payment_waits_for_staff_when_an_order_arrives(self, worker):
        await worker.place(**unpaid_1002(channel_order_id="A-1", order_number="A-1"))
        await worker.place(**unpaid_1002(channel_order_id="A-2", order_number="A-2"))
        await worker.receive(payment(invoice="A-3", payer_email="ada@example.org"))
        later = await worker.place(**unpaid_1002(channel_order_id="A-3", order_number="A-3"))
        assert (await worker.filed("9RT17742MN3305519"))["state"] == "ambiguous"
        assert not (await worker.order(later)).details.paid


class TestBadCommands:
    async def test_matching_a_payment_that_was_never_filed_goes_to_the_dead_letters(self, worker):
        command = MatchPayment(payment_id=uuid.uuid4(), order_id=uuid.uuid4(), requested_by="alice")
        with pytest.raises(PermanentError, match="no payment"):
            await worker.publish(new_envelope(command, producer="test"), key="p")

    async def test_recording_a_payment_on_an_order_that_does_not_exist_goes_to_the_dead_letters(self, worker):
        command = RecordPayment(order_id=uuid.uuid4(), payment=payment(), matched_by="staff", requested_by="alice")
        with pytest.raises(PermanentError):
            await worker.publish(new_envelope(command, producer="test"), key="o")


class TestDuplicates:
    async def test_the_same_notification_twice_changes_nothing(self, worker):
        order_id = await worker.place(**unpaid_1002())
        await worker.receive(payment())
        before = await worker.orders.get(order_id)
        await worker.receive(payment())
        assert await worker.orders.get(order_id) == before
        assert len(worker.distinct(PaymentRecorded)) == 1  # a repeat re-sends the very same event (same id)

    async def test_the_same_transaction_from_the_activity_file_is_merged_not_counted_twice(self, worker):
        order_id = await worker.place(**unpaid_1002())
        await worker.receive(payment(shipping_address=None))
        await worker.receive(payment(source="activity_csv", note="leave at the door"))
        order = await worker.order(order_id)
        assert len(order.payments.records) == 1 and order.payments.paid_total() == Decimal("34.60")
        filed = await worker.filed("9RT17742MN3305519")
        assert filed["sources"] == ["ipn", "activity_csv"]
        assert filed["payment"]["note"] == "leave at the door"  # what the first report lacked is added

    async def test_a_pending_payment_that_completes_later_then_marks_the_order_paid(self, worker):
        order_id = await worker.place(**unpaid_1002())
        await worker.receive(payment(status="Pending"))
        assert not (await worker.order(order_id)).details.paid
        await worker.receive(payment(status="Completed"))
        assert (await worker.order(order_id)).details.paid


class TestRefunds:
    async def test_a_refund_is_recorded_on_the_order_of_its_parent_transaction(self, worker):
        order_id = await worker.place(**unpaid_1002())
        await worker.receive(payment())
        await worker.receive(payment(transaction_id="4AB99120RT7760348", kind="refund", gross=Decimal("-6.00"),
                                     fee=Decimal("0.17"), net=Decimal("-5.83"), invoice=None,
                                     parent_transaction_id="9RT17742MN3305519", source="activity_csv"))
        order = await worker.order(order_id)
        assert order.payments.refunded_total() == Decimal("6.00")
        assert order.details.paid  # a partial refund does not make it unpaid
        assert any(e.what == "refund recorded" for e in order.timeline)
        assert (await worker.filed("4AB99120RT7760348"))["matched_by"] == "parent_transaction"

    async def test_a_refund_of_an_unknown_payment_is_unmatched(self, worker):
        await worker.receive(payment(transaction_id="4AB99120RT7760348", kind="refund", gross=Decimal("-6.00"),
                                     fee=Decimal("0.17"), net=Decimal("-5.83"), invoice="987",
                                     parent_transaction_id="0PK47715SD2201193"))
        assert (await worker.filed("4AB99120RT7760348"))["state"] == "unmatched"


class TestOrderDetailsFromThePayment:
    async def test_a_missing_address_and_note_are_taken_from_the_payment_and_the_timeline_says_so(self, worker):
        placeholder = Address(name="Åsa", line1="-", city="-", postcode="-", country="SE")
        order_id = await worker.place(**unpaid_1002(shipping_address=placeholder, notes=None))
        await worker.receive(payment(note="Please gift wrap"))
        order = await worker.order(order_id)
        assert order.details.shipping_address == MALMO
        assert order.details.notes == "Please gift wrap"
        assert {"address taken from payment", "note taken from payment"} <= {e.what for e in order.timeline}

    async def test_an_order_with_an_address_and_note_keeps_them(self, worker):
        order_id = await worker.place(**unpaid_1002(notes="ring twice"))
        await worker.receive(payment(note="Please gift wrap"))
        order = await worker.order(order_id)
        assert order.details.shipping_address.city == "London" and order.details.notes == "ring twice"

    def test_placeholders_count_as_no_address(self):
        assert lacks_address(Address(name="A", line1="n/a", city="x", postcode="AB1", country="GB"))
        assert not lacks_address(MALMO)


class TestUnpaidPark:
    async def test_an_unpaid_order_of_a_configured_channel_is_parked_on_arrival_and_released_by_its_payment(self):
        worker = PaymentsWorker(ProcessingGuards(park_unpaid_channels=frozenset({"oscommerce"})))
        order_id = await worker.place(**unpaid_1002())
        order = await worker.order(order_id)
        assert (order.parked, order.hold_reason) == (True, UNPAID_PARK_REASON)
        assert order.timeline[-1].by == PARK_RULE
        await worker.receive(payment())
        order = await worker.order(order_id)
        assert order.details.paid and not order.parked
        assert len(worker.payloads(OrderUnparked)) == 1

    async def test_other_channels_and_paid_orders_are_not_parked(self):
        worker = PaymentsWorker(ProcessingGuards(park_unpaid_channels=frozenset({"oscommerce"})))
        other = await worker.place(**unpaid_1002(channel="ebay"))
        paid = await worker.place(**unpaid_1002(channel_order_id="1003", paid=True))
        assert not (await worker.order(other)).parked and not (await worker.order(paid)).parked

    async def test_a_park_staff_made_stays_when_the_payment_arrives(self):
        worker = PaymentsWorker(ProcessingGuards(park_unpaid_channels=frozenset({"oscommerce"})))
        order_id = await worker.place(**unpaid_1002(channel="phone"))
        await worker.publish(new_envelope(ParkOrder(order_id=order_id, reason=UNPAID_PARK_REASON,
                                                    requested_by="alice"), producer="test"), key=str(order_id))
        await worker.receive(payment())
        order = await worker.order(order_id)
        assert order.details.paid and order.parked


class TestStaffPayments:
    async def test_staff_record_a_payment_by_hand_and_the_same_command_twice_changes_nothing(self, worker):
        order_id = await worker.place(**unpaid_1002())
        staff = PaymentDetails(provider="bank_transfer", transaction_id="BACS-1", kind="payment", status="Completed",
                               currency="GBP", gross=Decimal("34.60"), net=Decimal("34.60"), source="staff")
        envelope = new_envelope(RecordPayment(order_id=order_id, payment=staff, matched_by="staff",
                                              requested_by="alice"), producer="test")
        await worker.publish(envelope, key=str(order_id))
        await worker.publish(envelope, key=str(order_id))
        order = await worker.order(order_id)
        assert order.details.paid and len(order.payments.records) == 1

    async def test_a_later_file_row_of_the_transaction_staff_entered_finds_that_order(self, worker):
        order_id = await worker.place(**unpaid_1002(channel_order_id="Q", order_number="Q"))
        staff = payment(invoice=None, source="staff")
        await worker.publish(new_envelope(RecordPayment(order_id=order_id, payment=staff, matched_by="staff",
                                                        requested_by="alice"), producer="test"), key=str(order_id))
        await worker.receive(payment(invoice=None, payer_email=None, source="activity_csv"))
        filed = await worker.filed("9RT17742MN3305519")
        assert (filed["order_id"], filed["matched_by"]) == (str(order_id), "transaction")
        assert len((await worker.order(order_id)).payments.records) == 1


class TestPayPalAsASalesChannel:
    BUTTON = dict(invoice=None, transaction_id="7BT55021KL0032211", items=[
        PaymentItem(name="Enamel mug", number="MUG-GREEN", quantity=2, gross=Decimal("15.98"))],
        shipping=Decimal("4.50"), gross=Decimal("20.48"), fee=Decimal("-0.80"), net=Decimal("19.68"),
        payer_email="lena@example.pl")

    async def test_a_completed_payment_matching_no_order_becomes_a_paid_open_order(self, worker):
        await worker.receive(payment(**self.BUTTON), opens_orders=True)
        order = await worker.order(order_id_for("paypal", "7BT55021KL0032211"))
        assert order.status.value == "open" and order.details.paid
        [line] = order.details.lines
        assert (line.sku, line.quantity, line.unit_price) == ("MUG-GREEN", 2, Decimal("7.99"))
        assert order.details.total() == Decimal("20.48")
        assert order.details.shipping_address == MALMO
        assert (await worker.filed("7BT55021KL0032211"))["state"] == "opened_order"

    async def test_without_the_setting_it_stays_unmatched(self, worker):
        await worker.receive(payment(**self.BUTTON), opens_orders=False)
        assert await worker.orders.get(order_id_for("paypal", "7BT55021KL0032211")) is None

    async def test_the_same_button_payment_twice_opens_one_order(self, worker):
        await worker.receive(payment(**self.BUTTON), opens_orders=True)
        await worker.receive(payment(**self.BUTTON), opens_orders=True)
        assert len(worker.distinct(PlaceOrder)) == 1
        assert len((await worker.order(order_id_for("paypal", "7BT55021KL0032211"))).payments.records) == 1
