"""PayPal payments into ingest: reading IPNs, webhook events and activity files; receiving them (stored first,
verified with PayPal, then published); the verification calls themselves."""

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ingest.adapters.paypal import HttpPayPalVerifier, Unverifiable
from ingest.domain.errors import OrderSkipped, PayloadRejected
from ingest.domain.model import IntakeKind, IntakeStatus
from ingest.domain.payments import ipn_fields, parse_activity_csv, payment_from_ipn, payment_from_webhook
from ingest.service_layer.payments import (
    PaymentSettings,
    receive_activity_csv,
    receive_ipn,
    receive_webhook,
)
from oms_contracts.ingest.v1 import PaymentReceived

DATA = Path(__file__).parents[1] / "data" / "paypal"
IPN_1002 = (DATA / "ipn-osc-1002.txt").read_bytes()
ACTIVITY = (DATA / "activity-download.csv").read_bytes()
HEADERS = [("content-type", "application/x-www-form-urlencoded")]


class FakeVerifier:
    """PayPal's answer to verification, as a test sets it: True, False, or an Unverifiable to raise."""

    def __init__(self, answer=True) -> None:
        self.answer = answer
        self.asked: list = []

    async def verify_ipn(self, raw: bytes) -> bool:
        self.asked.append(raw)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def verify_webhook(self, headers, event) -> bool:
        self.asked.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def capture_event(event_type="PAYMENT.CAPTURE.COMPLETED", **resource) -> dict:
    """A PayPal REST webhook event of a capture (or, with links up, a refund)."""
    body = {"id": "2GG279541U471931P", "status": "COMPLETED", "amount": {"currency_code": "GBP", "value": "34.60"},
            "seller_receivable_breakdown": {"paypal_fee": {"currency_code": "GBP", "value": "1.30"}},
            "invoice_id": "1002", "create_time": "2026-11-25T13:02:41Z"}
    body.update(resource)
    return {"id": "WH-1", "event_type": event_type, "resource": body}


class TestReadingIpn:
    def test_the_osc_sample_reads_as_the_expected_payment(self):
        payment = payment_from_ipn(ipn_fields(IPN_1002))
        assert (payment.transaction_id, payment.kind, payment.status, payment.currency) == (
            "9RT17742MN3305519", "payment", "Completed", "GBP")
        assert (payment.gross, payment.fee, payment.net) == (Decimal("34.60"), Decimal("-1.30"), Decimal("33.30"))
        assert payment.invoice == "1002" and payment.payer_email == "asa.lindqvist@example.se"
        assert payment.shipping_address.city == "Malmö" and payment.shipping_address.line2 == "Lgh 1102"
        assert payment.paid_at.isoformat() == "2026-11-25T13:02:41+00:00"  # 05:02:41 PST

    def test_a_cart_ipn_lists_its_items(self):
        payment = payment_from_ipn(ipn_fields((DATA / "ipn-legacy-ebay-cart.txt").read_bytes()))
        assert [(i.name, i.number, i.quantity, i.gross) for i in payment.items] == [
            ("Enamel Camping Mug – Forest Green", "174402219865", 2, Decimal("15.98")),
            ("Enamel Camping Plate 22cm", "174402219871", 1, Decimal("8.99"))]
        assert payment.net == Decimal("28.31") and payment.shipping_address is None

    def test_a_windows_1252_ipn_is_decoded_with_its_charset(self):
        raw = b"txn_id=T1&payment_status=Completed&mc_gross=5.00&mc_currency=EUR&first_name=Ren%E9e&charset=windows-1252"
        assert payment_from_ipn(ipn_fields(raw)).payer_name == "Renée"

    def test_a_refund_ipn_is_a_refund_of_its_parent(self):
        raw = b"txn_id=R1&parent_txn_id=9RT17742MN3305519&payment_status=Refunded&mc_gross=-6.00&mc_fee=-0.17&mc_currency=GBP"
        payment = payment_from_ipn(ipn_fields(raw))
        assert (payment.kind, payment.gross, payment.fee, payment.net) == (
            "refund", Decimal("-6.00"), Decimal("0.17"), Decimal("-5.83"))
        assert payment.parent_transaction_id == "9RT17742MN3305519"

    def test_an_ipn_without_a_transaction_is_not_a_payment(self):
        with pytest.raises(OrderSkipped):
            payment_from_ipn(ipn_fields(b"txn_type=subscr_signup&subscr_id=S-1"))


class TestReadingTheActivityFile:
    def test_every_row_of_the_sample_reads_as_expected(self):
        rows = {r.payment.transaction_id: r.payment for r in parse_activity_csv(ACTIVITY.decode())}
        assert len(rows) == 7
        assert (rows["2HX71409TB3318250"].gross, rows["2HX71409TB3318250"].fee, rows["2HX71409TB3318250"].net) == (
            Decimal("28.95"), Decimal("-1.14"), Decimal("27.81"))
        refund = rows["4AB99120RT7760348"]
        assert (refund.kind, refund.gross, refund.net, refund.parent_transaction_id, refund.payer_email) == (
            "refund", Decimal("-6.00"), Decimal("-5.83"), "0PK47715SD2201193", "graham.pettifer@example.org")
        assert rows["8ZZ10055QQ1129084"].kind == "other"
        assert rows["3WV48116PJ2209734"].invoice == "WC-1052"
        assert rows["9RT17742MN3305519"].paid_at.isoformat() == "2026-11-25T13:02:41+00:00"  # 25/11 is DD/MM

    def test_thousands_separators_and_us_dates_are_read(self):
        text = ('"Date","Time","TimeZone","Type","Status","Currency","Gross","Fee","Net","Transaction ID"\n'
                '"11/25/2026","10:00:00","PST","Express Checkout Payment","Completed","GBP","4,000.00","-80.00",'
                '"3,920.00","BIG1"\n')
        [row] = parse_activity_csv(text, day_first=False)
        assert row.payment.gross == Decimal("4000.00") and row.payment.paid_at.day == 25

    def test_bad_rows_are_all_named_and_nothing_is_read(self):
        text = ('"Date","Type","Status","Currency","Gross","Fee","Net","Transaction ID"\n'
                '"25/11/2026","Express Checkout Payment","Completed","GBP","ten","0","10","A"\n'
                '"25/11/2026","Express Checkout Payment","Completed","GBP","10.00","-1.00","8.00","B"\n')
        with pytest.raises(PayloadRejected) as rejected:
            parse_activity_csv(text)
        assert [p.loc[1] for p in rejected.value.problems] == [2, 3]
        assert "Net 8.00 is not Gross + Fee (9.00)" in rejected.value.reason

    def test_a_file_that_is_not_an_activity_download_is_refused(self):
        with pytest.raises(PayloadRejected, match="no column"):
            parse_activity_csv("order_ref,sku\n1,A\n")


class TestReadingWebhooks:
    def test_a_completed_capture_is_a_payment_with_its_fee(self):
        payment = payment_from_webhook(capture_event())
        assert (payment.transaction_id, payment.kind, payment.gross, payment.fee, payment.net, payment.invoice) == (
            "2GG279541U471931P", "payment", Decimal("34.60"), Decimal("-1.30"), Decimal("33.30"), "1002")

    def test_a_refund_points_at_its_capture(self):
        event = capture_event("PAYMENT.CAPTURE.REFUNDED", id="1JU08902781691411", amount={"currency_code": "GBP",
                              "value": "6.00"}, links=[{"rel": "up", "href": "https://api/v2/payments/captures/2GG2"}])
        payment = payment_from_webhook(event)
        assert (payment.kind, payment.gross, payment.parent_transaction_id) == ("refund", Decimal("-6.00"), "2GG2")

    def test_other_event_types_are_skipped(self):
        with pytest.raises(OrderSkipped):
            payment_from_webhook(capture_event("CHECKOUT.ORDER.APPROVED"))


async def ipn(store, bus, clock, verifier, raw=IPN_1002, settings=PaymentSettings(), timeout=1.0):
    return await receive_ipn(headers=HEADERS, raw=raw, store=store, bus=bus, verifier=verifier, clock=clock,
                             settings=settings, max_body_bytes=100_000, publish_timeout=timeout)


class TestReceivingIpn:
    async def test_a_verified_ipn_is_stored_then_published_as_its_payment(self, store, bus, clock):
        verifier = FakeVerifier(True)
        receipt = await ipn(store, bus, clock, verifier)
        assert receipt.status is IntakeStatus.PUBLISHED and verifier.asked == [IPN_1002]
        intake = store.only()
        assert (intake.kind, intake.body, intake.status) == (IntakeKind.PAYPAL_IPN, IPN_1002.decode(), "published")
        [(envelope, key)] = bus.published
        assert isinstance(envelope.payload, PaymentReceived) and key == "paypal:9RT17742MN3305519"
        assert envelope.payload.payment.gross == Decimal("34.60")

    async def test_an_ipn_paypal_calls_invalid_changes_nothing_and_is_kept_with_the_reason(self, store, bus, clock):
        receipt = await ipn(store, bus, clock, FakeVerifier(False))
        assert (receipt.status, receipt.retry_later) == (IntakeStatus.FAILED, False)
        assert store.only().error == "IPN not verified: PayPal answered INVALID"
        assert bus.published == []

    async def test_an_unverifiable_ipn_changes_nothing_and_asks_paypal_to_resend(self, store, bus, clock):
        receipt = await ipn(store, bus, clock, FakeVerifier(Unverifiable("PayPal IPN post-back failed: timeout")))
        assert receipt.retry_later and bus.published == []
        assert store.only().error == "IPN could not be verified: PayPal IPN post-back failed: timeout"

    async def test_the_same_ipn_twice_publishes_the_same_event(self, store, bus, clock):
        await ipn(store, bus, clock, FakeVerifier(True))
        await ipn(store, bus, clock, FakeVerifier(True))
        assert len(bus.published) == 2 and len(set(bus.event_ids())) == 1

    async def test_an_ipn_paying_another_account_is_refused(self, store, bus, clock):
        receipt = await ipn(store, bus, clock, FakeVerifier(True),
                            settings=PaymentSettings(receivers=frozenset({"shop@example.org"})))
        assert receipt.status is IntakeStatus.FAILED and "not one of our PayPal accounts" in receipt.reason
        assert bus.published == []

    async def test_a_receiver_set_as_sales_channel_asks_for_an_order(self, store, bus, clock):
        settings = PaymentSettings(order_accounts=frozenset({"payments@fernbrook.example"}))
        await ipn(store, bus, clock, FakeVerifier(True), settings=settings)
        assert bus.payloads(PaymentReceived)[0].open_order_if_unmatched

    async def test_when_kafka_is_down_it_is_kept_as_failed_and_paypal_resends(self, store, bus, clock):
        bus.down = True
        receipt = await ipn(store, bus, clock, FakeVerifier(True))
        assert receipt.retry_later and store.only().status == "failed"


class TestReceivingWebhooks:
    async def test_a_verified_capture_is_published(self, store, bus, clock):
        raw = json.dumps(capture_event()).encode()
        receipt = await receive_webhook(headers=[], raw=raw, store=store, bus=bus, verifier=FakeVerifier(True),
                                        clock=clock, settings=PaymentSettings(), max_body_bytes=100_000,
                                        publish_timeout=1)
        assert receipt.status is IntakeStatus.PUBLISHED
        assert bus.payloads(PaymentReceived)[0].payment.transaction_id == "2GG279541U471931P"

    async def test_a_webhook_paypal_does_not_verify_changes_nothing(self, store, bus, clock):
        raw = json.dumps(capture_event()).encode()
        receipt = await receive_webhook(headers=[], raw=raw, store=store, bus=bus, verifier=FakeVerifier(False),
                                        clock=clock, settings=PaymentSettings(), max_body_bytes=100_000,
                                        publish_timeout=1)
        assert receipt.status is IntakeStatus.FAILED and "not verified" in store.only().error
        assert bus.published == []


class TestImportingActivityFiles:
    async def test_every_row_is_published_and_the_same_file_again_sends_the_same_events(self, store, bus, clock):
        first = await receive_activity_csv(headers=[], raw=ACTIVITY, store=store, bus=bus, clock=clock,
                                           settings=PaymentSettings(), max_body_bytes=100_000, publish_timeout=1)
        assert first.payments == {"payment": 5, "refund": 1, "other": 1}
        ids = bus.event_ids()
        await receive_activity_csv(headers=[], raw=ACTIVITY, store=store, bus=bus, clock=clock,
                                   settings=PaymentSettings(), max_body_bytes=100_000, publish_timeout=1)
        assert bus.event_ids()[7:] == ids

    async def test_the_file_and_the_ipn_of_one_transaction_are_two_reports_of_it(self, store, bus, clock):
        await ipn(store, bus, clock, FakeVerifier(True))
        await receive_activity_csv(headers=[], raw=ACTIVITY, store=store, bus=bus, clock=clock,
                                   settings=PaymentSettings(), max_body_bytes=100_000, publish_timeout=1)
        keys = [key for _, key in bus.published]
        assert keys.count("paypal:9RT17742MN3305519") == 2  # merged by the order book, not counted twice


class TestVerifierOverHttp:
    async def test_the_ipn_is_posted_back_unchanged_after_cmd_notify_validate(self):
        seen = []

        def paypal(request: httpx.Request) -> httpx.Response:
            seen.append(request.content)
            return httpx.Response(200, text="VERIFIED")

        async with httpx.AsyncClient(transport=httpx.MockTransport(paypal)) as http:
            verifier = HttpPayPalVerifier(http, ipn_url="https://ipnpb.example/cgi-bin/webscr", api_url="https://api",
                                          client_id="", client_secret="", webhook_id="")
            assert await verifier.verify_ipn(IPN_1002)
        assert seen == [b"cmd=_notify-validate&" + IPN_1002]

    @pytest.mark.parametrize("answer", [httpx.Response(500, text="oops"), httpx.Response(200, text="MAYBE")])
    async def test_any_other_answer_is_unverifiable(self, answer):
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: answer)) as http:
            verifier = HttpPayPalVerifier(http, ipn_url="https://ipnpb.example/", api_url="https://api",
                                          client_id="", client_secret="", webhook_id="")
            with pytest.raises(Unverifiable):
                await verifier.verify_ipn(IPN_1002)

    async def test_webhooks_are_verified_with_a_token_and_verify_webhook_signature(self):
        calls = []

        def paypal(request: httpx.Request) -> httpx.Response:
            calls.append((request.url.path, request.headers.get("authorization", "")))
            if request.url.path == "/v1/oauth2/token":
                return httpx.Response(200, json={"access_token": "A21", "token_type": "Bearer"})
            body = json.loads(request.content)
            ok = body["webhook_id"] == "WH-ID" and body["transmission_sig"] == "sig"
            return httpx.Response(200, json={"verification_status": "SUCCESS" if ok else "FAILURE"})

        headers = {"paypal-transmission-id": "t1", "paypal-transmission-time": "2026-11-25T13:02:41Z",
                   "paypal-transmission-sig": "sig", "paypal-cert-url": "https://api/cert", "paypal-auth-algo": "SHA256"}
        async with httpx.AsyncClient(transport=httpx.MockTransport(paypal)) as http:
            verifier = HttpPayPalVerifier(http, ipn_url="", api_url="https://api", client_id="c", client_secret="s",
                                          webhook_id="WH-ID")
            assert await verifier.verify_webhook(headers, capture_event())
            assert not await verifier.verify_webhook({**headers, "paypal-transmission-sig": "forged"}, capture_event())
            assert not await verifier.verify_webhook({}, capture_event())  # unsigned: not even asked
        assert calls[1] == ("/v1/notifications/verify-webhook-signature", "Bearer A21")
