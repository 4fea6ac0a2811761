"""Edits of open orders, channel versions, import marks, batch processing, Processed Orders search and voided
shipments, on the real broker and database with the five services running.

Each test makes its own SKUs and orders, asserts on what staff see (the orders and inventory APIs) and polls with a
deadline. Ingest's import marks (locked on arrival, shipped on channel), which only marketplace connectors set, are
sent to the real broker exactly as ingest sends them; the voided shipment comes from fulfilment's own API.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from oms_contracts import encode, new_envelope, topics
from oms_contracts.common import OrderDetails
from oms_contracts.ingest.v1 import OrderReceived

pytestmark = pytest.mark.integration

ADDRESS = {"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH",
           "country": "GB"}


def order_body(*lines: tuple[str, int], paid: bool = True) -> dict:
    return {
        "buyer": {"name": "Ada Lovelace", "email": "ada@example.org"},
        "shipping_address": ADDRESS,
        "lines": [{"line_id": str(i), "sku": sku, "title": "Thing", "quantity": qty, "unit_price": "5.00"}
                  for i, (sku, qty) in enumerate(lines, start=1)],
        "shipping": {"service": "Tracked 48", "cost": "3.95"},
        "currency": "GBP",
        "paid": paid,
    }


async def send_event(endpoints, payload, *, key: str, producer: str) -> None:
    """Publish one message on the real broker as its owning context would."""
    kafka = AIOKafkaProducer(bootstrap_servers=endpoints[0], acks="all")
    await kafka.start()
    try:
        await kafka.send_and_wait(payload.TOPIC, encode(new_envelope(payload, producer=producer)), key=key.encode())
    finally:
        await kafka.stop()


@pytest.fixture
def book(system, ops, wait_for):
    """Helpers over the orders and inventory APIs."""
    inventory, orders = system.url("inventory"), system.url("orders")

    class Book:
        url = orders

        async def sku(self, on_hand: int = 10) -> str:
            sku = f"ED-{uuid.uuid4().hex[:8].upper()}"
            answer = await ops.post(f"{inventory}/stock/{sku}/adjustments", json={"delta": on_hand, "reason": "count"})
            assert answer.status_code == 202, answer.text
            await self.stock_is(sku, (on_hand, 0, on_hand))
            return sku

        async def levels(self, sku: str):
            response = await ops.get(f"{inventory}/stock/{sku}")
            if response.status_code == 404:
                return None
            body = response.json()
            return body["on_hand"], body["allocated"], body["available"]

        async def stock_is(self, sku: str, expected: tuple[int, int, int]) -> None:
            async def check():
                return await self.levels(sku) == expected

            await wait_for(check, what=f"{sku} at {expected}")

        async def order(self, *lines: tuple[str, int], paid: bool = True, allocated: bool = True) -> str:
            placed = await ops.post(f"{orders}/orders", json=order_body(*lines, paid=paid))
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["order_id"]
            if allocated:
                await self.until(order_id, lambda o: o["stock_allocated"], "stock allocated")
            return order_id

        async def get(self, order_id: str) -> dict:
            return (await ops.get(f"{orders}/orders/{order_id}")).json()

        async def until(self, order_id: str, check, what: str) -> dict:
            async def ready():
                return check(await self.get(order_id))

            await wait_for(ready, what=f"order {order_id}: {what}")
            return await self.get(order_id)

        async def find(self, channel_order_id: str, channel: str | None = None) -> dict:
            """The order a channel sent, once it is in the book (found by free text)."""
            async def found():
                params = {"q": channel_order_id, **({"channel": channel} if channel else {})}
                items = (await ops.get(f"{orders}/orders", params=params)).json()["items"]
                return items[0] if items else None

            return await wait_for(found, what=f"channel order {channel_order_id} in the book")

        async def timeline(self, order_id: str) -> list[dict]:
            response = await ops.get(f"{orders}/orders/{order_id}/timeline")
            assert response.status_code == 200, response.text
            return response.json()["entries"]

    return Book()


class TestLinesEdit:
    async def test_inventory_allocates_and_releases_exactly_the_delta(self, ops, book):
        mug, cap = await book.sku(10), await book.sku(5)
        order_id = await book.order((mug, 3))
        await book.stock_is(mug, (10, 3, 7))
        more = await ops.post(f"{book.url}/orders/{order_id}/lines", json={
            "quantities": [{"line_id": "1", "quantity": 5}],
            "add": [{"line_id": "2", "sku": cap, "title": "Cap", "quantity": 2, "unit_price": "9.00"}]})
        assert more.status_code == 200, more.text
        assert [(l["sku"], l["quantity"]) for l in more.json()["details"]["lines"]] == [(mug, 5), (cap, 2)]
        await book.stock_is(mug, (10, 5, 5))
        await book.stock_is(cap, (5, 2, 3))
        await book.until(order_id, lambda o: o["stock_allocated"], "the added stock allocated")
        less = await ops.post(f"{book.url}/orders/{order_id}/lines",
                              json={"remove": ["2"], "quantities": [{"line_id": "1", "quantity": 1}]})
        assert less.status_code == 200, less.text
        assert less.json()["stock_allocated"]  # a release needs no answer: the order stays allocated
        await book.stock_is(mug, (10, 1, 9))
        await book.stock_is(cap, (5, 0, 5))
        changes = [e for e in await book.timeline(order_id) if e["what"] == "lines changed"]
        assert len(changes) == 2 and changes[0]["who"].startswith("ops") and f"{mug} +2" in changes[0]["detail"]
        # It ships what it holds now: exactly one leaves the shelf.
        assert (await ops.post(f"{book.url}/orders/{order_id}/process")).status_code == 200
        await book.until(order_id, lambda o: o["status"] == "processed", "processed")
        await book.stock_is(mug, (9, 0, 9))


class TestEdits:
    async def test_notes_tags_folder_and_address_then_409_once_cancelled(self, ops, book):
        sku = await book.sku(10)
        order_id = await book.order((sku, 1))
        tag = f"t{uuid.uuid4().hex[:6]}"
        noted = await ops.post(f"{book.url}/orders/{order_id}/notes", json={"text": "Happy birthday", "internal": False})
        assert noted.status_code == 201, noted.text
        assert noted.json()["notes"][0]["internal"] is False
        new_address = {**ADDRESS, "line1": "1 Ockham Park", "city": "Ockham", "postcode": "GU23 6NG"}
        edited = await ops.patch(f"{book.url}/orders/{order_id}", json={
            "tags": [tag], "folder": "b2b", "shipping_address": new_address, "shipping_service": "Express 24"})
        assert edited.status_code == 200, edited.text
        assert edited.json()["details"]["shipping_address"]["city"] == "Ockham"
        listed = await ops.get(f"{book.url}/orders", params={"tag": tag, "folder": "b2b", "status": "open"})
        assert [o["order_id"] for o in listed.json()["items"]] == [order_id]
        counts = (await ops.get(f"{book.url}/orders/counts")).json()
        assert counts["tag"][tag] == 1 and counts["folder"]["b2b"] >= 1
        cancelled = await ops.post(f"{book.url}/orders/{order_id}/cancel", json={"reason": "buyer cancelled"})
        assert cancelled.status_code == 200
        refused = await ops.patch(f"{book.url}/orders/{order_id}", json={"tags": ["late"]})
        assert refused.status_code == 409 and "order is cancelled" in refused.json()["detail"]
        whats = [e["what"] for e in await book.timeline(order_id)]
        for what in ("opened", "note added", "shipping address changed", "shipping changed", "tags changed",
                     "folder changed", "cancelled", "orders.edit_order refused"):
            assert what in whats


class TestChannelVersions:
    async def test_newer_updates_an_open_order_older_and_after_processing_change_nothing(self, system, ops, book):
        sku = await book.sku(10)
        channel, channel_order_id = "webshop", f"ws-{uuid.uuid4().hex[:10]}"
        t0 = datetime.now(UTC).replace(microsecond=0)

        async def post_version(at: datetime, quantity: int, city: str = "London") -> None:
            body = {**order_body((sku, quantity)), "channel": channel, "channel_order_id": channel_order_id,
                    "order_number": channel_order_id.upper(), "channel_updated_at": at.isoformat(),
                    "shipping_address": {**ADDRESS, "city": city}}
            answer = await ops.post(f"{system.url('ingest')}/channels/{channel}/orders", json=body)
            assert answer.status_code == 202, answer.text

        await post_version(t0, 2)
        listed = await book.find(channel_order_id)
        order_id = listed["order_id"]
        await book.until(order_id, lambda o: o["stock_allocated"], "allocated")
        await post_version(t0 + timedelta(minutes=5), 3, city="Leeds")
        order = await book.until(order_id, lambda o: o["details"]["lines"][0]["quantity"] == 3, "newer version")
        assert order["details"]["shipping_address"]["city"] == "Leeds"
        await book.stock_is(sku, (10, 3, 7))
        await book.until(order_id, lambda o: o["stock_allocated"], "the delta allocated")
        await post_version(t0 + timedelta(minutes=1), 1, city="York")  # older: recorded only
        await book.until(order_id, lambda o: "older channel version" in (o["timeline"][-1]["detail"] or ""),
                         "the older version recorded")
        assert (await book.get(order_id))["details"]["lines"][0]["quantity"] == 3
        assert (await ops.post(f"{book.url}/orders/{order_id}/process")).status_code == 200
        await book.until(order_id, lambda o: o["status"] == "processed", "processed")
        await post_version(t0 + timedelta(minutes=9), 5, city="Hull")
        order = await book.until(order_id, lambda o: "nothing changed" in (o["timeline"][-1]["detail"] or ""),
                                 "the post-processing version recorded")
        assert order["details"]["shipping_address"]["city"] == "Leeds" and order["status"] == "processed"
        whats = [e["what"] for e in order["timeline"]]
        assert "updated from channel" in whats

    async def test_an_order_imported_locked_holds_no_stock_and_is_flagged_shipped(
        self, system, ops, book, endpoints
    ):
        sku = await book.sku(10)
        channel_order_id = f"fba-{uuid.uuid4().hex[:10]}"
        details = OrderDetails(**{**order_body((sku, 2)), "channel": "amazon", "channel_order_id": channel_order_id,
                                  "order_number": channel_order_id})
        received = OrderReceived(intake_id=uuid.uuid4(), channel_updated_at=datetime.now(UTC), order=details,
                                 lock_reason="Fulfilled by Amazon", shipped_on_channel=True)
        await send_event(endpoints, received, key=f"amazon:{channel_order_id}", producer="ingest")
        order = await book.find(channel_order_id, channel="amazon")
        assert order["locked"] and order["hold_reason"] == "Fulfilled by Amazon" and order["shipped_on_channel"]
        flagged = await ops.get(f"{book.url}/orders", params={"shipped_on_channel": "true", "channel": "amazon",
                                                              "q": channel_order_id})
        assert [o["order_id"] for o in flagged.json()["items"]] == [order["order_id"]]
        assert await book.levels(sku) == (10, 0, 10)
        unlocked = await ops.post(f"{book.url}/orders/{order['order_id']}/unlock", json={"reason": "ship it"})
        assert unlocked.status_code == 200
        await book.stock_is(sku, (10, 2, 8))


class TestBatchAndProcessedSearch:
    async def test_batch_answers_per_order_and_the_processed_one_is_found_by_tracking_number(self, ops, book):
        sku = await book.sku(10)
        ready, parked = await book.order((sku, 1)), await book.order((sku, 1))
        unpaid = await book.order((sku, 1), paid=False)
        assert (await ops.post(f"{book.url}/orders/{parked}/park", json={"reason": "call"})).status_code == 200
        before = datetime.now(UTC) - timedelta(seconds=1)
        answer = await ops.post(f"{book.url}/orders/process", json={"order_ids": [ready, parked, unpaid]})
        assert answer.status_code == 200, answer.text
        results = {r["order_id"]: r for r in answer.json()["results"]}
        assert results[ready]["outcome"] == "accepted"
        assert (results[parked]["outcome"], results[parked]["guard"]) == ("refused", "parked")
        assert (results[unpaid]["outcome"], results[unpaid]["guard"]) == ("refused", "paid")
        done = await book.until(ready, lambda o: o["status"] == "processed", "processed")
        found = await ops.get(f"{book.url}/orders", params={
            "status": "processed", "tracking_number": done["tracking_number"], "sort": "processed_newest",
            "processed_from": before.isoformat(), "processed_to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()})
        assert [o["order_id"] for o in found.json()["items"]] == [ready]
        none = await ops.get(f"{book.url}/orders", params={
            "status": "processed", "tracking_number": done["tracking_number"],
            "processed_to": before.isoformat()})
        assert none.json()["total"] == 0


class TestVoidedShipment:
    async def test_a_void_in_fulfilment_reopens_the_order_with_its_stock(
        self, system, ops, api_keys, book, wait_for
    ):
        """The channel's batch flow holds the shipment until staff ship the batch, so it can be voided first."""
        channel = f"ed_{uuid.uuid4().hex[:10]}"
        fulfilment = system.url("fulfilment")
        admin = {"Authorization": f"Bearer {api_keys['admin']}"}
        settings = await ops.put(f"{fulfilment}/channels/{channel}/settings", headers=admin,
                                 json={"flow": "batch", "documents": ["invoice", "shipping_label"]})
        assert settings.status_code == 200, settings.text
        sku = await book.sku(10)
        channel_order_id = uuid.uuid4().hex[:12]
        body = {**order_body((sku, 1)), "channel": channel, "channel_order_id": channel_order_id,
                "order_number": channel_order_id.upper()}
        assert (await ops.post(f"{system.url('ingest')}/channels/{channel}/orders", json=body)).status_code == 202
        order_id = (await book.find(channel_order_id))["order_id"]
        await book.until(order_id, lambda o: o["stock_allocated"], "allocated")
        assert (await ops.post(f"{book.url}/orders/{order_id}/process")).status_code == 200
        await book.until(order_id, lambda o: o["status"] == "processing", "processing")

        async def voided():
            answer = await ops.post(f"{fulfilment}/shipments/{order_id}/void", json={"reason": "label torn"})
            return answer.status_code == 200  # 404 until fulfilment has made the shipment

        await wait_for(voided, what="the shipment voided in fulfilment")
        order = await book.until(order_id, lambda o: o["status"] == "open", "open again")
        assert order["stock_allocated"] and order["timeline"][-1]["what"] == "shipment voided"
        assert "label torn" in order["timeline"][-1]["detail"]
        await book.stock_is(sku, (10, 1, 9))  # the stock stayed allocated to the order
