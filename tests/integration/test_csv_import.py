"""The sample CSV order file, uploaded to the real ingest API, becomes Open Orders; a re-upload makes no new order."""

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "services" / "ingest" / "tests" / "data" / "orders-import.csv"
CSV = {"content-type": "text/csv; charset=utf-8"}

EXPECTED = {
    # channel_order_id: (buyer, ship-to country, currency, [(sku, quantity, unit price)], total) as expected.json says
    "PHONE-10001": ("Martin Fairclough", "GB", "GBP", [("KTL-STOVE-WHT", 1, "32.00")], "36.50"),
    "PHONE-10002": ("Dörte Kühnemann", "DE", "EUR", [("BSK-WIL-L", 1, "45.00"), ("CST-CORK-4PK", 3, "6.00")],
                    "66.10"),
}


def marker_file(sample: str) -> tuple[str, str]:
    """A one-order file with a fresh order ref, and that ref: shows when orders has caught up with earlier uploads."""
    header, first_row = sample.splitlines()[:2]
    ref = f"MARK-{uuid.uuid4().hex[:8].upper()}"
    return f"{header}\r\n{ref}{first_row[first_row.index(','):]}\r\n", ref


class TestCsvImport:
    async def test_the_sample_file_lands_in_open_orders_and_a_second_upload_makes_no_new_order(
        self, system, ops, wait_for
    ):
        ingest, orders = system.url("ingest"), system.url("orders")
        sample = SAMPLE.read_text(encoding="utf-8")

        uploaded = await ops.post(f"{ingest}/imports/csv", content=sample.encode("utf-8"), headers=CSV)
        assert uploaded.status_code == 202, uploaded.text
        assert uploaded.json()["orders"] == 2 and uploaded.json()["status"] == "published"

        async def opened(ref: str):
            response = await ops.get(f"{orders}/orders/{order_id_for('csv', ref)}")
            return response.status_code == 200 and response.json()

        for ref, (buyer, country, currency, lines, total) in EXPECTED.items():
            order = await wait_for(lambda ref=ref: opened(ref), what=f"order {ref} in Open Orders")
            details = order["details"]
            assert order["status"] == "open" and order["channel"] == "csv" and order["channel_order_id"] == ref
            assert details["buyer"]["name"] == buyer and details["shipping_address"]["country"] == country
            assert order["currency"] == currency and Decimal(order["total"]) == Decimal(total)
            assert [(line["sku"], line["quantity"], Decimal(line["unit_price"])) for line in details["lines"]] == [
                (sku, quantity, Decimal(price)) for sku, quantity, price in lines]

        again = await ops.post(f"{ingest}/imports/csv", content=sample.encode("utf-8"), headers=CSV)
        assert again.status_code == 202, again.text
        assert again.json()["intake_id"] != uploaded.json()["intake_id"]
        marker, marker_ref = marker_file(sample)
        assert (await ops.post(f"{ingest}/imports/csv", content=marker.encode("utf-8"), headers=CSV)).status_code == 202
        await wait_for(lambda: opened(marker_ref), what="the marker order uploaded after the second upload")

        listed = await ops.get(f"{orders}/orders", params={"limit": 500})
        assert listed.status_code == 200
        refs = [o["channel_order_id"] for o in listed.json()["items"] if o["channel"] == "csv"]
        assert refs.count("PHONE-10001") == 1 and refs.count("PHONE-10002") == 1

    async def test_a_file_with_a_bad_row_is_422_with_row_numbers_and_no_order_appears(self, system, ops):
        ingest, orders = system.url("ingest"), system.url("orders")
        marker, ref = marker_file(SAMPLE.read_text(encoding="utf-8"))
        bad = marker.replace(",1,32.00,", ",two,32.00,")
        response = await ops.post(f"{ingest}/imports/csv", content=bad.encode("utf-8"), headers=CSV)
        assert response.status_code == 422, response.text
        assert [(e["row"], e["column"]) for e in response.json()["detail"]] == [(2, "quantity")]
        intake = await ops.get(f"{ingest}/intake/{response.json()['intake_id']}")
        assert intake.json()["status"] == "failed" and intake.json()["body"] == bad
        assert (await ops.get(f"{orders}/orders/{order_id_for('csv', ref)}")).status_code == 404
