"""PayPal payments through the real services: IPN (validated by posting back to a PayPal stand-in), the activity
file with matched, unmatched, duplicate and refund rows, staff matching, REST webhooks and PayPal as a sales channel.

The stand-in is a real HTTP server answering like PayPal: `cmd=_notify-validate` post-backs with VERIFIED for an IPN
it sent and INVALID for anything else; OAuth tokens; verify-webhook-signature with SUCCESS for a delivery it sent.
"""

import base64
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest

from oms_contracts.orders.v1 import order_id_for


pytestmark = pytest.mark.integration

# The port conftest points ingest at for PayPal (PAYPAL_STANDIN_PORT there).
PAYPAL_STANDIN_PORT = int(os.environ.get("OMS_IT_PORT_BASE", "18100")) + 40
OSC = "oscommerce_it"  # parked on arrival when unpaid (ORDERS_PARK_UNPAID_CHANNELS in conftest)


class PayPalStandIn(ThreadingHTTPServer):
    """What PayPal sent (IPN bodies, webhook deliveries), so it can vouch for them and for nothing else."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _PayPalHandler)
        self.sent_ipns: set[bytes] = set()
        self.sent_webhooks: dict[str, dict] = {}  # transmission id -> event
        self.postbacks: list[bytes] = []

    def send_ipn(self, fields: dict) -> bytes:
        body = urlencode(fields).encode()
        self.sent_ipns.add(body)
        return body

    def send_webhook(self, event: dict) -> tuple[bytes, dict[str, str]]:
        transmission_id = str(uuid.uuid4())
        self.sent_webhooks[transmission_id] = event
        headers = {"PAYPAL-TRANSMISSION-ID": transmission_id, "PAYPAL-TRANSMISSION-TIME": "2026-11-29T10:00:00Z",
                   "PAYPAL-TRANSMISSION-SIG": f"sig-{transmission_id}", "PAYPAL-AUTH-ALGO": "SHA256withRSA",
                   "PAYPAL-CERT-URL": f"http://127.0.0.1:{self.server_port}/v1/notifications/certs/CERT-1",
                   "Content-Type": "application/json"}
        return json.dumps(event).encode(), headers


class _PayPalHandler(BaseHTTPRequestHandler):
    server: PayPalStandIn

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/cgi-bin/webscr":
            self.server.postbacks.append(body)
            prefix = b"cmd=_notify-validate&"
            genuine = body.startswith(prefix) and body[len(prefix):] in self.server.sent_ipns
            return self._answer(200, b"VERIFIED" if genuine else b"INVALID")
        if self.path == "/v1/oauth2/token":
            expected = "Basic " + base64.b64encode(b"it-client:it-secret").decode()
            if self.headers.get("Authorization") != expected or b"grant_type=client_credentials" not in body:
                return self._answer(401, b'{"error":"invalid_client"}', "application/json")
            return self._answer(200, b'{"access_token":"A21-IT","token_type":"Bearer"}', "application/json")
        if self.path == "/v1/notifications/verify-webhook-signature":
            if self.headers.get("Authorization") != "Bearer A21-IT":
                return self._answer(401, b"{}", "application/json")
            asked = json.loads(body)
            sent = self.server.sent_webhooks.get(asked.get("transmission_id"))
            ok = (sent is not None and asked.get("webhook_id") == "WH-IT"
                  and asked.get("transmission_sig") == f"sig-{asked['transmission_id']}"
                  and asked.get("webhook_event") == sent)
            answer = {"verification_status": "SUCCESS" if ok else "FAILURE"}
            return self._answer(200, json.dumps(answer).encode(), "application/json")
        return self._answer(404, b"not found")


@pytest.fixture(scope="module")
def paypal():
    server = PayPalStandIn(PAYPAL_STANDIN_PORT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def unpaid_order(channel: str, ref: str, *, email: str, total_line: str = "30.00", **overrides) -> dict:
    """An unpaid order of 30.00 + 4.60 shipping = 34.60 GBP."""
    order = {
        "channel": channel, "channel_order_id": ref, "order_number": ref,
        "buyer": {"name": "Åsa Lindqvist-Öberg", "email": email},
        "shipping_address": {"name": "Åsa Lindqvist-Öberg", "line1": "-", "city": "-", "postcode": "-",
                             "country": "SE"},
        "lines": [{"line_id": "1", "sku": "MUG-BLUE", "title": "Blue mug", "quantity": 1, "unit_price": total_line}],
        "shipping": {"service": "Standard", "cost": "4.60"}, "currency": "GBP", "paid": False,
    }
    order.update(overrides)
    return order


def ipn_fields(txn: str, invoice: str, *, gross="34.60", fee="1.30", **extra) -> dict:
    fields = {
        "mc_gross": gross, "payment_status": "Completed", "charset": "UTF-8", "address_zip": "211 43",
        "first_name": "Åsa", "mc_fee": fee, "address_country_code": "SE", "address_name": "Åsa Lindqvist-Öberg",
        "address_street": "Södra Förstadsgatan 41\r\nLgh 1102", "address_city": "Malmö", "payer_email":
        "asa.lindqvist@example.se", "txn_id": txn, "last_name": "Lindqvist-Öberg", "receiver_email":
        "payments@fernbrook.example", "txn_type": "express_checkout", "mc_currency": "GBP", "invoice": invoice,
        "payment_date": "05:02:41 Nov 29, 2026 PST", "memo": "Please gift wrap", "ipn_track_id": uuid.uuid4().hex[:13],
    }
    fields.update(extra)
    return fields


def activity_file(rows: list[dict]) -> bytes:
    columns = ["Date", "Time", "TimeZone", "Name", "Type", "Status", "Currency", "Gross", "Fee", "Net",
               "From Email Address", "To Email Address", "Transaction ID", "Reference Txn ID", "Invoice Number",
               "Note", "Country Code", "Balance Impact"]
    lines = [",".join(f'"{c}"' for c in columns)]
    for row in rows:
        lines.append(",".join(f'"{row.get(c, "")}"' for c in columns))
    return ("\n".join(lines) + "\n").encode()


def csv_row(txn: str, kind: str, gross: str, fee: str, net: str, **extra) -> dict:
    return {"Date": "29/11/2026", "Time": "04:21:33", "TimeZone": "PST", "Name": "Buyer", "Type": kind,
            "Status": "Completed", "Currency": "GBP", "Gross": gross, "Fee": fee, "Net": net,
            "Transaction ID": txn, "To Email Address": "payments@fernbrook.example", **extra}


def txn_id() -> str:
    return uuid.uuid4().hex[:17].upper()


class TestPayPal:
    async def test_ipn_validation_file_import_matching_refunds_webhooks_and_sales_channel(
            self, system, ops, wait_for, paypal):
        ingest, orders = system.url("ingest"), system.url("orders")
        run = uuid.uuid4().hex[:8]

        async def place(channel: str, ref: str, **kw) -> str:
            answer = await ops.post(f"{ingest}/channels/{channel}/orders", json=unpaid_order(channel, ref, **kw))
            assert answer.status_code == 202, answer.text
            order_id = str(order_id_for(channel, ref))

            async def opened():
                got = await ops.get(f"{orders}/orders/{order_id}")
                return got.json() if got.status_code == 200 else None
            await wait_for(opened, what=f"order {ref} to open")
            return order_id

        async def order(order_id: str) -> dict:
            return (await ops.get(f"{orders}/orders/{order_id}")).json()

        async def order_payments(order_id: str) -> dict:
            return (await ops.get(f"{orders}/orders/{order_id}/payments")).json()

        # An unpaid osCommerce order arrives and is parked as unpaid.
        osc_ref = f"osc-{run}"
        osc = await place(OSC, osc_ref, email=f"asa-{run}@example.se")
        first = await order(osc)
        assert (first["paid"], first["parked"], first["hold_reason"]) == (False, True, "unpaid")

        # 1. A forged IPN (PayPal did not send it) is answered, kept as failed with the reason, and changes nothing.
        forged_txn, genuine_txn = txn_id(), txn_id()
        forged = urlencode(ipn_fields(forged_txn, osc_ref, gross="0.01")).encode()
        answer = await ops.post(f"{ingest}/payments/paypal/ipn", content=forged,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["status"], answer.json()["reason"]) == (
            "failed", "IPN not verified: PayPal answered INVALID")
        assert paypal.postbacks[-1] == b"cmd=_notify-validate&" + forged
        intake = (await ops.get(f"{ingest}/intake/{answer.json()['intake_id']}")).json()
        assert (intake["kind"], intake["body"]) == ("paypal_ipn", forged.decode())

        # 2. The genuine IPN marks the order paid, fills its address and note, and releases the unpaid park;
        #    the same IPN again (PayPal resends) changes nothing.
        genuine = paypal.send_ipn(ipn_fields(genuine_txn, osc_ref))
        for _ in range(2):
            answer = await ops.post(f"{ingest}/payments/paypal/ipn", content=genuine,
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert (answer.status_code, answer.json()["status"]) == (200, "published"), answer.text

        async def paid_and_released():
            got = await order(osc)
            return got if got["paid"] and not got["parked"] else None
        paid = await wait_for(paid_and_released, what="the IPN to mark the order paid and release its park")
        assert paid["details"]["shipping_address"]["city"] == "Malmö"
        assert paid["details"]["notes"] == "Please gift wrap"
        whats = [entry["what"] for entry in paid["timeline"]]
        assert {"paid", "address taken from payment", "note taken from payment", "unparked"} <= set(whats)
        assert whats.count("paid") == 1
        money = await order_payments(osc)
        assert [(p["payment"]["transaction_id"], p["payment"]["gross"], p["payment"]["fee"], p["payment"]["net"])
                for p in money["payments"]] == [(genuine_txn, "34.60", "-1.30", "33.30")]

        # 3. An activity file: a matched row, an unmatched one, the IPN's transaction again (merged), a refund of it,
        #    a withdrawal. Imported twice.
        magento_ref, matched_txn, lost_txn, refund_txn = f"mag-{run}", txn_id(), txn_id(), txn_id()
        magento = await place("magento2", magento_ref, email=f"tw-{run}@example.net")
        rows = activity_file([
            csv_row(matched_txn, "Express Checkout Payment", "34.60", "-1.14", "33.46", **{
                "Invoice Number": magento_ref, "From Email Address": f"tw-{run}@example.net"}),
            csv_row(lost_txn, "Express Checkout Payment", "12.00", "-0.50", "11.50", **{
                "Invoice Number": f"nowhere-{run}", "From Email Address": f"nobody-{run}@example.org"}),
            csv_row(genuine_txn, "Express Checkout Payment", "34.60", "-1.30", "33.30", **{"Invoice Number": osc_ref}),
            csv_row(refund_txn, "Payment Refund", "-6.00", "0.17", "-5.83", **{
                "Reference Txn ID": genuine_txn, "Note": "chipped lid"}),
            csv_row(txn_id(), "General Withdrawal", "-800.00", "0.00", "-800.00"),
        ])
        for _ in range(2):
            imported = await ops.post(f"{ingest}/payments/paypal/activity", content=rows,
                                      headers={"Content-Type": "text/csv"})
            assert imported.status_code == 202, imported.text
            assert imported.json()["payments"] == {"payment": 3, "refund": 1, "other": 1}

        async def file_applied():
            refunded = (await order_payments(osc))["refunded_total"]
            return (await order(magento))["paid"] and refunded == "6.00"
        await wait_for(file_applied, what="the file's payment and refund to reach their orders")

        async def listed():
            unmatched = (await ops.get(f"{orders}/payments/unmatched")).json()
            return [p for p in unmatched if p["payment"]["transaction_id"] == lost_txn]
        [lost] = await wait_for(listed, what="the unmatched payment to be listed")
        assert lost["state"] == "unmatched"

        # 4. Staff match it by hand to a third order; matching it again is refused with the reason.
        by_hand = await place("phone", f"ph-{run}", email=f"x-{run}@example.org", total_line="7.40")
        answer = await ops.post(f"{orders}/payments/{lost['payment_id']}/match", json={"order_id": by_hand})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["state"], answer.json()["order_id"]) == ("matched", by_hand)
        await wait_for(lambda: _paid(ops, orders, by_hand), what="the hand-matched order to be paid")
        again = await ops.post(f"{orders}/payments/{lost['payment_id']}/match", json={"order_id": osc})
        assert again.status_code == 409 and "matched" in again.json()["detail"]

        # Exactly the expected payments, whichever source and however often they came.
        money = await order_payments(osc)
        assert sorted((p["payment"]["transaction_id"], p["payment"]["gross"]) for p in money["payments"]) == sorted(
            [(genuine_txn, "34.60"), (refund_txn, "-6.00")])
        assert (money["paid_total"], money["refunded_total"]) == ("34.60", "6.00")
        assert len((await order_payments(magento))["payments"]) == 1
        filed = {p["payment"]["transaction_id"]: p for p in (await ops.get(f"{orders}/payments?limit=1000")).json()}
        assert filed[genuine_txn]["sources"] == ["ipn", "activity_csv"]
        assert filed[refund_txn]["matched_by"] == "parent_transaction"

        # 5. A REST webhook capture PayPal vouches for marks its order paid; a forged one changes nothing.
        shop_ref = f"web-{run}"
        shop = await place("shopify", shop_ref, email=f"w-{run}@example.org")
        capture = {"id": f"WH-{run}", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {
            "id": txn_id(), "status": "COMPLETED", "amount": {"currency_code": "GBP", "value": "34.60"},
            "seller_receivable_breakdown": {"paypal_fee": {"currency_code": "GBP", "value": "1.30"}},
            "invoice_id": shop_ref}}
        body, headers = paypal.send_webhook(capture)
        forged_headers = {**headers, "PAYPAL-TRANSMISSION-SIG": "forged"}
        refused = await ops.post(f"{ingest}/payments/paypal/webhooks", content=body, headers=forged_headers)
        assert refused.json()["status"] == "failed" and "not verified" in refused.json()["reason"]
        accepted = await ops.post(f"{ingest}/payments/paypal/webhooks", content=body, headers=headers)
        assert (accepted.status_code, accepted.json()["status"]) == (200, "published"), accepted.text
        await wait_for(lambda: _paid(ops, orders, shop), what="the webhook capture to mark its order paid")

        # 6. PayPal as a sales channel: a button payment matching no order becomes a paid open order.
        button_txn = txn_id()
        button = paypal.send_ipn(ipn_fields(button_txn, "", gross="20.48", fee="0.80", receiver_email=
                                            "button@fernbrook.example", txn_type="web_accept", item_name=
                                            "Enamel mug", item_number="MUG-GREEN", quantity="2", mc_shipping="4.50",
                                            memo=""))
        answer = await ops.post(f"{ingest}/payments/paypal/ipn", content=button,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.json()["status"] == "published", answer.text
        sale = str(order_id_for("paypal", button_txn))
        await wait_for(lambda: _paid(ops, orders, sale), what="the button payment to become a paid order")
        opened = await order(sale)
        assert (opened["status"], opened["channel"], opened["total"]) == ("open", "paypal", "20.48")
        assert opened["details"]["lines"][0]["sku"] == "MUG-GREEN"

    async def test_an_ipn_before_its_order_pays_the_order_when_it_arrives(self, system, ops, wait_for, paypal):
        ingest, orders = system.url("ingest"), system.url("orders")
        ref = f"osc-early-{uuid.uuid4().hex[:8]}"
        early = paypal.send_ipn(ipn_fields(txn_id(), ref))
        answer = await ops.post(f"{ingest}/payments/paypal/ipn", content=early,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.json()["status"] == "published", answer.text

        async def waiting():
            unmatched = (await ops.get(f"{orders}/payments/unmatched")).json()
            return [p for p in unmatched if p["payment"]["invoice"] == ref]
        await wait_for(waiting, what="the early payment to be filed as unmatched")
        placed = await ops.post(f"{ingest}/channels/{OSC}/orders", json=unpaid_order(OSC, ref, email="e@example.org"))
        assert placed.status_code == 202
        order_id = str(order_id_for(OSC, ref))

        async def paid_and_released():
            got = await ops.get(f"{orders}/orders/{order_id}")
            return got.status_code == 200 and got.json()["paid"] and not got.json()["parked"]
        await wait_for(paid_and_released, what="the order to claim its earlier payment and leave the unpaid park")

    async def test_staff_record_a_payment_on_an_order(self, system, ops, wait_for):
        ingest, orders = system.url("ingest"), system.url("orders")
        ref = f"osc-staff-{uuid.uuid4().hex[:8]}"
        placed = await ops.post(f"{ingest}/channels/{OSC}/orders", json=unpaid_order(OSC, ref, email="s@example.org"))
        assert placed.status_code == 202
        order_id = str(order_id_for(OSC, ref))

        async def parked():
            got = await ops.get(f"{orders}/orders/{order_id}")
            return got.status_code == 200 and got.json()["parked"]
        await wait_for(parked, what="the unpaid order to be parked on arrival")
        answer = await ops.post(f"{orders}/orders/{order_id}/payments",
                                json={"transaction_id": "BACS-1", "amount": "34.60", "method": "bank_transfer"})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["paid"], answer.json()["paid_total"]) == (True, "34.60")
        released = (await ops.get(f"{orders}/orders/{order_id}")).json()
        assert not released["parked"]
        refused = await ops.post(f"{orders}/orders/{order_id}/payments", json={"transaction_id": "X", "amount": "-1"})
        assert refused.status_code == 422


async def _paid(ops, orders: str, order_id: str) -> bool:
    got = await ops.get(f"{orders}/orders/{order_id}")
    return got.status_code == 200 and got.json()["paid"]
