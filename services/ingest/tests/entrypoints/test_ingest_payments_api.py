"""The PayPal routes over HTTP: IPN and webhooks need no key (PayPal vouches for them), 503 asks PayPal to resend
what could not be verified; the activity import is for staff and names bad rows."""

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ingest.adapters.paypal import Unverifiable
from ingest.entrypoints.payments_api import payments_router
from ingest.service_layer.payments import PaymentSettings
from oms_contracts.ingest.v1 import PaymentReceived
from oms_platform.auth import ApiKeys

OPS_KEY = "ops-key-0123456789abcdef"
DATA = Path(__file__).parents[1] / "data" / "paypal"
IPN = (DATA / "ipn-osc-1002.txt").read_bytes()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Verifier:
    """PayPal's verdict for every notification, as the test sets it."""

    def __init__(self) -> None:
        self.answer: bool | Exception = True

    async def verify_ipn(self, raw):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def verify_webhook(self, headers, event):
        return await self.verify_ipn(b"")


@pytest.fixture
def verifier() -> Verifier:
    return Verifier()


@pytest.fixture
def client(store, bus, clock, verifier):
    app = FastAPI()
    app.include_router(payments_router(
        store=store, bus=bus, keys=ApiKeys(f"ops:{OPS_KEY}"), clock=clock, verifier=verifier,
        settings=PaymentSettings(), max_body_bytes=50_000, publish_timeout=1, webhook_publish_timeout=1))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class TestIpnRoute:
    async def test_a_verified_ipn_is_answered_200_and_published(self, client, bus):
        response = await client.post("/payments/paypal/ipn", content=IPN, headers=FORM)
        assert (response.status_code, response.json()["status"]) == (200, "published")
        assert bus.payloads(PaymentReceived)[0].payment.transaction_id == "9RT17742MN3305519"

    async def test_an_invalid_ipn_is_answered_200_with_the_reason_and_nothing_published(self, client, bus, verifier):
        verifier.answer = False
        response = await client.post("/payments/paypal/ipn", content=IPN, headers=FORM)
        assert response.status_code == 200
        assert response.json()["reason"] == "IPN not verified: PayPal answered INVALID"
        assert bus.published == []

    async def test_an_ipn_paypal_cannot_confirm_now_gets_503_so_paypal_resends(self, client, bus, verifier, store):
        verifier.answer = Unverifiable("PayPal IPN post-back failed: ConnectError")
        response = await client.post("/payments/paypal/ipn", content=IPN, headers=FORM)
        assert response.status_code == 503 and bus.published == []
        assert store.only().status == "failed"

    async def test_an_oversized_ipn_is_refused_with_413(self, client, bus):
        response = await client.post("/payments/paypal/ipn", content=IPN + b"&x=" + b"y" * 60_000, headers=FORM)
        assert response.status_code == 413 and bus.published == []


class TestWebhookRoute:
    async def test_a_body_that_is_not_an_event_is_kept_as_failed(self, client, store):
        response = await client.post("/payments/paypal/webhooks", content=b"{}")
        assert response.status_code == 200 and response.json()["status"] == "failed"
        assert "not a PayPal webhook event" in store.only().error


class TestActivityRoute:
    async def test_staff_import_a_file_and_see_how_many_rows_of_each_kind(self, client, bus):
        response = await client.post("/payments/paypal/activity", content=(DATA / "activity-download.csv").read_bytes(),
                                     headers={"Authorization": f"Bearer {OPS_KEY}", "Content-Type": "text/csv"})
        assert response.status_code == 202, response.text
        assert response.json()["payments"] == {"payment": 5, "refund": 1, "other": 1}
        assert len(bus.payloads(PaymentReceived)) == 7

    async def test_without_a_key_the_import_is_refused(self, client, store):
        response = await client.post("/payments/paypal/activity", content=b"x")
        assert response.status_code == 401 and store.intakes == {}

    async def test_bad_rows_get_422_naming_each_row_and_nothing_is_published(self, client, bus):
        text = ('"Date","Type","Status","Currency","Gross","Fee","Net","Transaction ID"\n'
                '"25/11/2026","Express Checkout Payment","Completed","GBP","ten","0","10","A"\n')
        response = await client.post("/payments/paypal/activity", content=text.encode(),
                                     headers={"Authorization": f"Bearer {OPS_KEY}"})
        assert response.status_code == 422
        assert [(d["row"], d["column"]) for d in response.json()["detail"]] == [(2, "Gross")]
        assert bus.published == []

    async def test_us_date_order_can_be_chosen_per_file(self, client, bus):
        text = ('"Date","Type","Status","Currency","Gross","Fee","Net","Transaction ID"\n'
                '"11/25/2026","Express Checkout Payment","Completed","GBP","10.00","0","10.00","A"\n')
        response = await client.post("/payments/paypal/activity?day_first=false", content=text.encode(),
                                     headers={"Authorization": f"Bearer {OPS_KEY}"})
        assert response.status_code == 202
        assert bus.payloads(PaymentReceived)[0].payment.paid_at.day == 25
