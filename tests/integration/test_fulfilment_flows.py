"""Fulfilment on the real broker and database with all five services: the three process flows (documents printed,
batch, pack station), shipping rules with a manual carrier, and voiding; and the tracking range on the database.

Each test uses a channel of its own (its settings and rules apply to it alone), its own SKUs and orders, and
asserts on what staff see through the APIs: the shipment, the batch's pick list, the order's status.
"""

import uuid

import httpx
import pytest
from pymongo import AsyncMongoClient

from oms_contracts.orders.v1 import order_id_for
from oms_devtools.system import System
from fulfilment.adapters.carriers import RangeCarrier
from fulfilment.adapters.repository import MongoTrackingRange

pytestmark = pytest.mark.integration

FLOW_TIMEOUT = 40.0


def s10_valid(number: str) -> bool:
    """The UPU S10 check (as a carrier's scanner would do it), written out independently of the service."""
    digits = [int(c) for c in number[2:10]]
    check = 11 - sum(w * d for w, d in zip((8, 6, 4, 2, 3, 5, 9, 7), digits)) % 11
    return len(number) == 13 and int(number[10]) == {10: 0, 11: 5}.get(check, check)


@pytest.fixture
def admin(system, api_keys) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {api_keys['admin']}"}, timeout=60)


@pytest.fixture
def packer(system, api_keys) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {api_keys['packer']}"}, timeout=60)


@pytest.fixture
def floor(system: System, ops, admin, wait_for):
    """Helpers: a channel of the test's own with a flow, stocked SKUs in bins, orders from the channel, processing."""
    fulfilment, orders, inventory, ingest = (system.url(s) for s in ("fulfilment", "orders", "inventory", "ingest"))

    class Floor:
        def __init__(self) -> None:
            self.channel = f"it_{uuid.uuid4().hex[:10]}"

        async def flow(self, flow: str, documents=("invoice", "shipping_label")) -> None:
            answer = await admin.put(f"{fulfilment}/channels/{self.channel}/settings",
                                     json={"flow": flow, "documents": list(documents)})
            assert answer.status_code == 200, answer.text

        async def sku(self, location: str, bin: str | None, *, barcode: str | None = None, weight: float = 0.5) -> str:
            sku = f"FF-{uuid.uuid4().hex[:8].upper()}"
            item = {"title": f"Item {sku}", "barcode": barcode, "weight": weight, "default_location": location,
                    "default_bin": bin}
            answer = await ops.put(f"{inventory}/stock-items/{sku}", json=item)
            assert answer.status_code in (200, 201), answer.text
            answer = await ops.post(f"{inventory}/stock/{sku}/adjustments",
                                    json={"location": location, "delta": 20, "reason": "count"})
            assert answer.status_code == 202, answer.text

            async def stocked():
                response = await ops.get(f"{inventory}/stock/{sku}")
                return response.status_code == 200 and response.json()["on_hand"] == 20

            await wait_for(stocked, what=f"{sku} stocked")
            return sku

        async def order(self, *lines: tuple[str, int], country: str = "GB") -> tuple[str, str]:
            """An order from the test's channel, open with its stock allocated: (order id, order number)."""
            channel_order_id = uuid.uuid4().hex[:12]
            number = f"IT-{channel_order_id[:6].upper()}"
            body = {
                "channel": self.channel, "channel_order_id": channel_order_id, "order_number": number,
                "buyer": {"name": "Mary Somerville", "email": "mary@example.org"},
                "shipping_address": {"name": "Mary Somerville", "line1": "8 Hanover Sq", "city": "London",
                                     "postcode": "W1S 1HQ", "country": country},
                "lines": [{"line_id": str(i), "sku": sku, "title": f"Item {sku}", "quantity": qty,
                           "unit_price": "6.00"} for i, (sku, qty) in enumerate(lines, start=1)],
                "shipping": {"service": "Tracked 48", "cost": "3.50"}, "currency": "GBP", "paid": True,
            }
            answer = await ops.post(f"{ingest}/channels/{self.channel}/orders", json=body)
            assert answer.status_code == 202, answer.text
            order_id = str(order_id_for(self.channel, channel_order_id))
            await self.order_is(order_id, lambda o: o["stock_allocated"], "open with stock allocated")
            return order_id, number

        async def order_is(self, order_id: str, check, what: str) -> dict:
            async def ready():
                response = await ops.get(f"{orders}/orders/{order_id}")
                return response.status_code == 200 and check(response.json()) and response.json()

            return await wait_for(ready, timeout=FLOW_TIMEOUT, what=f"order {order_id} {what}")

        async def process(self, order_id: str) -> None:
            answer = await ops.post(f"{orders}/orders/{order_id}/process")
            assert answer.status_code == 200, answer.text

        async def shipment_is(self, order_id: str, status: str) -> dict:
            async def ready():
                response = await ops.get(f"{fulfilment}/shipments/{order_id}")
                return response.status_code == 200 and response.json()["status"] == status and response.json()

            return await wait_for(ready, timeout=FLOW_TIMEOUT, what=f"shipment of {order_id} {status}")

        async def documents_printed(self, order_id: str, expected: set[str]) -> dict:
            async def ready():
                shipment = (await ops.get(f"{fulfilment}/shipments/{order_id}")).json()
                done = {d["document_type"] for d in shipment["documents"] if d["status"] == "printed"}
                return done == expected and shipment

            return await wait_for(ready, timeout=FLOW_TIMEOUT, what=f"{sorted(expected)} printed for {order_id}")

    return Floor()


class TestPrintedFlow:
    async def test_the_order_is_processed_when_its_documents_have_printed(self, system, floor):
        await floor.flow("printed", ("invoice", "packing_slip", "shipping_label"))
        sku = await floor.sku("A", "01")
        order_id, _ = await floor.order((sku, 2))
        await floor.process(order_id)
        shipment = await floor.shipment_is(order_id, "confirmed")
        assert {d["document_type"]: d["status"] for d in shipment["documents"]} == {
            "invoice": "printed", "packing_slip": "printed", "shipping_label": "printed"}
        assert shipment["carrier"] == "OMS Post" and s10_valid(shipment["tracking_number"])
        processed = await floor.order_is(order_id, lambda o: o["status"] == "processed", "processed")
        assert shipment["tracking_number"] in str(processed)


class TestBatchFlow:
    async def test_a_batch_prints_its_pick_list_and_documents_then_processing_it_ships_every_order(
        self, system, ops, floor
    ):
        await floor.flow("batch")
        late, early, loose = await floor.sku("B", "07"), await floor.sku("A", "03"), await floor.sku("A", None)
        first, first_number = await floor.order((late, 1), (early, 2))
        second, second_number = await floor.order((early, 1), (loose, 3))
        for order_id in (first, second):
            await floor.process(order_id)
            waiting = await floor.shipment_is(order_id, "awaiting_batch")
            assert waiting["documents"] == []  # nothing prints before the batch
        fulfilment = system.url("fulfilment")
        answer = await ops.post(f"{fulfilment}/batches", json={"order_ids": [first, second]})
        assert answer.status_code == 201, answer.text
        batch = answer.json()
        assert [(l["sku"], l["location"], l["bin"], l["quantity"]) for l in batch["pick_list"]] == [
            (early, "A", "03", 3), (loose, "A", None, 3), (late, "B", "07", 1)]
        assert batch["pick_list"][0]["order_numbers"] == [first_number, second_number]
        for order_id in (first, second):
            await floor.documents_printed(order_id, {"invoice", "shipping_label", "packing_slip"})
            assert (await ops.get(f"{fulfilment}/shipments/{order_id}")).json()["status"] == "printing"
        processed = await ops.post(f"{fulfilment}/batches/{batch['batch_id']}/process")
        assert processed.status_code == 200 and processed.json()["status"] == "processed"
        for order_id in (first, second):
            await floor.shipment_is(order_id, "confirmed")
            await floor.order_is(order_id, lambda o: o["status"] == "processed", "processed")
        again = await ops.post(f"{fulfilment}/batches/{batch['batch_id']}/process")
        assert again.status_code == 409 and again.json()["detail"] == f"batch {batch['batch_id']} is processed"


class TestPackStationFlow:
    async def test_the_last_scan_prints_at_the_station_and_ships_and_wrong_scans_are_refused(
        self, system, ops, packer, floor
    ):
        await floor.flow("pack")
        barcode = str(5_000_000_000_000 + uuid.uuid4().int % 1_000_000_000_000)
        mug, tee = await floor.sku("A", "01", barcode=barcode), await floor.sku("C", "09")
        order_id, number = await floor.order((mug, 2), (tee, 1))
        await floor.process(order_id)
        await floor.shipment_is(order_id, "packing")
        scan_url = f"{system.url('fulfilment')}/pack/{order_id}/scan"

        async def scan(code: str) -> httpx.Response:
            return await packer.post(scan_url, json={"code": code, "station": "bench-7"})

        wrong = await scan("NOT-IN-ORDER")
        assert wrong.status_code == 409 and wrong.json()["detail"] == f"wrong item: NOT-IN-ORDER is not in order {number}"
        assert (await scan(barcode)).status_code == 200
        assert (await scan(tee)).status_code == 200
        over = await scan(tee)
        assert over.status_code == 409
        assert over.json()["detail"] == f"over-scan: all 1 of {tee} in order {number} are scanned"
        last = await scan(mug)
        assert last.status_code == 200, last.text
        shipment = last.json()
        assert shipment["status"] == "confirmed" and shipment["station"] == "bench-7"
        assert {(d["document_type"], d["station"]) for d in shipment["documents"]} == {
            ("invoice", "bench-7"), ("shipping_label", "bench-7")}
        await floor.order_is(order_id, lambda o: o["status"] == "processed", "processed")
        # Shipped: voiding is refused; staff resend or return instead.
        late = await ops.post(f"{system.url('fulfilment')}/shipments/{order_id}/void", json={"reason": "too late"})
        assert late.status_code == 409 and "resend or return" in late.json()["detail"]


class TestManualCarrierAndVoid:
    async def test_a_rule_picks_a_manual_carrier_staff_type_the_number_and_void_before_shipping(
        self, system, ops, admin, floor, wait_for
    ):
        fulfilment = system.url("fulfilment")
        await floor.flow("batch")  # holds the shipment open so it can be voided
        rules = {"rules": [{"name": f"{floor.channel} abroad", "channels": [floor.channel], "countries": ["FR"],
                            "service": "Courier Europe", "carrier": "DPD", "manual_tracking": True}],
                 "default": {"carrier": "OMS Post"}}
        answer = await admin.put(f"{fulfilment}/shipping-rules", json=rules)
        assert answer.status_code == 200, answer.text
        sku = await floor.sku("A", "05")
        abroad, _ = await floor.order((sku, 1), country="FR")
        home, _ = await floor.order((sku, 1))
        for order_id in (abroad, home):
            await floor.process(order_id)
        waiting = await floor.shipment_is(abroad, "awaiting_tracking")
        assert (waiting["carrier"], waiting["service"], waiting["tracking_number"]) == ("DPD", "Courier Europe", None)
        listed = await ops.get(f"{fulfilment}/shipments", params={"status": "awaiting_tracking", "limit": 200})
        assert abroad in [s["order_id"] for s in listed.json()]
        assert (await floor.shipment_is(home, "awaiting_batch"))["carrier"] == "OMS Post"
        typed = await ops.post(f"{fulfilment}/shipments/{abroad}/tracking", json={"tracking_number": "05212345678901"})
        assert typed.status_code == 200 and typed.json()["tracking_number"] == "05212345678901"
        assert typed.json()["status"] == "awaiting_batch"
        voided = await ops.post(f"{fulfilment}/shipments/{abroad}/void", json={"reason": "buyer changed address"})
        assert voided.status_code == 200, voided.text
        assert voided.json()["status"] == "voided" and voided.json()["void_reason"] == "buyer changed address"
        refused = await ops.post(f"{fulfilment}/batches", json={"order_ids": [abroad]})
        assert refused.status_code == 409 and "voided" in refused.json()["detail"]
        # Orders reopens the order; processing it again is a second attempt that waits for a new number.
        await floor.order_is(abroad, lambda o: o["status"] == "open", "open again after the void")
        await floor.process(abroad)

        async def second_attempt():
            shipment = (await ops.get(f"{fulfilment}/shipments/{abroad}")).json()
            return shipment["attempt"] == 2 and shipment

        again = await wait_for(second_attempt, timeout=FLOW_TIMEOUT, what="a second shipment attempt")
        assert (again["status"], again["tracking_number"], again["documents"]) == ("awaiting_tracking", None, [])


class TestTrackingRangeOnTheDatabase:
    async def test_numbers_follow_the_counter_are_kept_per_shipment_and_never_reused_after_a_reset(self, endpoints):
        client = AsyncMongoClient(endpoints[1])
        db = client[f"oms_fulfilment_range_{uuid.uuid4().hex[:8]}"]
        try:
            store = MongoTrackingRange(db)
            await store.create_indexes()
            carrier = RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=store, first=40, last=43)
            shipments = [uuid.uuid4() for _ in range(3)]
            numbers = [await carrier.issue(order_id=uuid.uuid4(), shipment_id=s) for s in shipments]
            assert [n[2:10] for n in numbers] == ["00000040", "00000041", "00000042"]
            assert all(s10_valid(n) for n in numbers)
            assert await carrier.issue(order_id=uuid.uuid4(), shipment_id=shipments[0]) == numbers[0]
            await db["tracking_ranges"].delete_many({})  # the counter is lost; issued numbers must still not return
            assert (await carrier.issue(order_id=uuid.uuid4(), shipment_id=uuid.uuid4()))[2:10] == "00000043"
        finally:
            await client.drop_database(db.name)
            await client.close()
