"""Stock items on the real broker and database: defined and imported through the API, and the low-stock warning."""

import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from oms_contracts import topics

pytestmark = pytest.mark.integration


def phone_order(sku: str, quantity: int) -> dict:
    return {
        "buyer": {"name": "Grace Hopper", "email": "grace@example.org"},
        "shipping_address": {"name": "Grace Hopper", "line1": "1 Harbour St", "city": "Leith",
                             "postcode": "EH6 6AA", "country": "GB"},
        "lines": [{"line_id": "1", "sku": sku, "title": "Enamel mug", "quantity": quantity, "unit_price": "8.50"}],
        "shipping": {"service": "Tracked 48", "cost": "3.95"},
        "currency": "GBP",
        "paid": True,
    }


async def stock_low_events(bootstrap: str, sku: str) -> list[dict]:
    """Every inventory.stock_low payload for `sku` on oms.inventory.events, read from the beginning."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topics.INVENTORY_EVENTS])
    finally:
        await admin.close()
    partitions = [TopicPartition(topics.INVENTORY_EVENTS, p["partition"]) for p in described["partitions"]]
    if not partitions:
        return []  # the topic does not exist yet
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        found = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        message = json.loads(record.value)
                    except ValueError:
                        continue  # another test's malformed message
                    if isinstance(message, dict) and message.get("type") == "inventory.stock_low":
                        if message["payload"]["sku"] == sku:
                            found.append(message["payload"])
        return found
    finally:
        await consumer.stop()


class TestStockItems:
    async def test_an_order_taking_available_below_the_minimum_publishes_stock_low(
        self, system, ops, endpoints, wait_for
    ):
        inventory, orders = system.url("inventory"), system.url("orders")
        sku = f"MUG-{uuid.uuid4().hex[:6].upper()}"

        defined = await ops.put(f"{inventory}/stock-items/{sku}",
                                json={"title": "Enamel mug", "minimum_level": 5, "supplier": "Potteries Ltd"})
        assert defined.status_code == 201, defined.text
        adjusted = await ops.post(f"{inventory}/stock/{sku}/adjustments", json={"delta": 6, "reason": "opening stock"})
        assert adjusted.status_code == 202, adjusted.text

        async def stocked():
            response = await ops.get(f"{inventory}/stock/{sku}")
            return response.status_code == 200 and response.json()["on_hand"] == 6

        await wait_for(stocked, what="opening stock")
        placed = await ops.post(f"{orders}/orders", json=phone_order(sku, 2))
        assert placed.status_code in (201, 202), placed.text

        async def warned():
            return await stock_low_events(endpoints[0], sku)

        [low] = await wait_for(warned, what=f"inventory.stock_low for {sku}")
        assert (low["available"], low["allocated"], low["minimum_level"]) == (4, 2, 5)
        assert low["suggested_reorder"] == 3 and low["supplier"] == "Potteries Ltd"

    async def test_a_csv_import_makes_items_readable_and_a_bad_file_imports_nothing(self, system, ops, wait_for):
        inventory = system.url("inventory")
        suffix = uuid.uuid4().hex[:6].upper()
        columns = "sku,title,barcode,weight,default_location,minimum_level,supplier\n"
        good = columns + f"CUP-{suffix},Cup,501,0.2,shelf-A,3,Potteries\nBOWL-{suffix},Bowl,,,,,\n"
        bad = columns + f"PLATE-{suffix},Plate,,,,,\nJUG-{suffix},,,,,-1,\n"

        refused = await ops.post(f"{inventory}/stock-items/import", content=bad,
                                 headers={"Content-Type": "text/csv"})
        assert refused.status_code == 422 and [r["row"] for r in refused.json()["rows"]] == [2]
        imported = await ops.post(f"{inventory}/stock-items/import", content=good,
                                  headers={"Content-Type": "text/csv"})
        assert imported.status_code == 202 and imported.json()["accepted"] == 2

        async def readable():
            skus = (f"CUP-{suffix}", f"BOWL-{suffix}")
            responses = [await ops.get(f"{inventory}/stock-items/{sku}") for sku in skus]
            return all(r.status_code == 200 for r in responses) and [r.json() for r in responses]

        cup, bowl = await wait_for(readable, what="the imported items")
        assert (cup["title"], cup["weight"], cup["default_location"], cup["minimum_level"]) == (
            "Cup", 0.2, "shelf-A", 3)
        assert bowl["supplier"] is None
        assert (await ops.get(f"{inventory}/stock-items/PLATE-{suffix}")).status_code == 404
        export = await ops.get(f"{inventory}/stock-items/export")
        assert f"CUP-{suffix},Cup,501,0.2,shelf-A,,3,Potteries" in export.text  # no default bin


class TestPurchaseOrders:
    async def test_deliveries_raise_on_hand_and_over_delivery_is_refused(self, system, ops, wait_for):
        inventory = system.url("inventory")
        sku = f"JUG-{uuid.uuid4().hex[:6].upper()}"
        created = await ops.post(f"{inventory}/purchase-orders",
                                 json={"supplier": "Potteries Ltd", "lines": [{"sku": sku, "quantity": 10}]})
        assert created.status_code == 201, created.text
        po_id = created.json()["po_id"]

        partial = await ops.post(f"{inventory}/purchase-orders/{po_id}/deliveries",
                                 json={"lines": [{"sku": sku, "quantity": 4}]})
        assert partial.status_code == 200 and partial.json()["status"] == "partially_delivered", partial.text
        too_many = await ops.post(f"{inventory}/purchase-orders/{po_id}/deliveries",
                                  json={"lines": [{"sku": sku, "quantity": 7}]})
        assert too_many.status_code == 409 and "would exceed the 10 ordered" in too_many.json()["detail"]

        async def received():
            response = await ops.get(f"{inventory}/stock/{sku}")
            return response.status_code == 200 and response.json()["on_hand"] == 4 and response.json()

        levels = await wait_for(received, what="the delivery on the shelf")
        assert levels["due"] == 6  # still outstanding on the open purchase order
        ledger = (await ops.get(f"{inventory}/stock/{sku}/ledger")).json()["entries"]
        # the order made 10 due, the delivery put 4 on the shelf and took them off due
        assert [(e["on_hand_delta"], e["due_delta"], e["purchase_order_id"]) for e in ledger] == [
            (0, 10, po_id), (4, -4, po_id)]
