"""One telephone order, end to end on the real broker and database: placed, allocated, processed, printed, shipped."""

import asyncio
import subprocess
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from oms_contracts import topics

pytestmark = pytest.mark.integration


def phone_order(mug: str, tee: str) -> dict:
    return {
        "buyer": {"name": "Margaret Hamilton", "email": "margaret@example.org", "phone": "+44 20 7946 0000"},
        "shipping_address": {"name": "Margaret Hamilton", "line1": "14 Apollo Row", "city": "Bristol",
                             "postcode": "BS1 4DJ", "country": "GB"},
        "lines": [
            {"line_id": "1", "sku": mug, "title": "Enamel mug, navy", "quantity": 2, "unit_price": "8.50"},
            {"line_id": "2", "sku": tee, "title": "Organic T-shirt, L", "quantity": 1, "unit_price": "18.00"},
        ],
        "shipping": {"service": "Tracked 48", "cost": "3.95"},
        "currency": "GBP",
        "paid": True,
    }


class TestTelephoneOrderEndToEnd:
    async def test_an_order_is_allocated_processed_printed_and_takes_stock_off_the_shelf(
        self, system, ops, printer, endpoints, wait_for
    ):
        inventory, orders = system.url("inventory"), system.url("orders")
        suffix = uuid.uuid4().hex[:6].upper()
        mug, tee = f"MUG-{suffix}", f"TEE-{suffix}"

        # Seed stock through the inventory API.
        for sku in (mug, tee):
            response = await ops.post(f"{inventory}/stock/{sku}/adjustments",
                                      json={"delta": 10, "reason": "opening stock"})
            assert response.status_code == 202, response.text

        async def stocked():
            levels = [await ops.get(f"{inventory}/stock/{sku}") for sku in (mug, tee)]
            return all(r.status_code == 200 and r.json()["on_hand"] == 10 for r in levels)

        await wait_for(stocked, what="opening stock")

        # Staff type in a telephone sale.
        placed = await ops.post(f"{orders}/orders", json=phone_order(mug, tee))
        assert placed.status_code in (201, 202), placed.text  # 202: the worker did not answer in time
        order_id = placed.json()["order_id"]

        async def allocated():
            response = await ops.get(f"{orders}/orders/{order_id}")
            return response.status_code == 200 and response.json()["stock_allocated"] and response.json()

        order = await wait_for(allocated, what="the order to be open with its stock allocated")
        assert order["status"] == "open"
        order_number = order["order_number"]
        mug_levels = (await ops.get(f"{inventory}/stock/{mug}")).json()
        assert (mug_levels["on_hand"], mug_levels["allocated"], mug_levels["available"]) == (10, 2, 8)

        # Process it.
        jobs_before = len(printer.jobs())
        response = await ops.post(f"{orders}/orders/{order_id}/process")
        assert response.status_code in (200, 202), response.text

        async def processed():
            body = (await ops.get(f"{orders}/orders/{order_id}")).json()
            return body["status"] == "processed" and body

        order = await wait_for(processed, what="the order to be processed")
        tracking = order["tracking_number"]
        assert tracking

        # The printer received an invoice (PDF) and a label (ZPL) for this order.
        new_jobs = printer.jobs()[jobs_before:]
        pdfs = [p for p in new_jobs if p.suffix == ".pdf"]
        labels = [p for p in new_jobs if p.suffix == ".zpl"]
        invoice_text = "\n".join(_pdf_text(p) for p in pdfs)
        assert order_number in invoice_text
        assert "Margaret Hamilton" in invoice_text
        for expected in (mug, tee, "Enamel mug, navy", "Organic T-shirt, L"):
            assert expected in invoice_text
        label = next(p.read_text() for p in labels if tracking in p.read_text())
        assert label.lstrip().startswith("^XA") and label.rstrip().endswith("^XZ")
        assert order_number in label

        # Stock left the shelf.
        async def shipped_stock():
            levels = {sku: (await ops.get(f"{inventory}/stock/{sku}")).json() for sku in (mug, tee)}
            return (levels[mug]["on_hand"], levels[mug]["allocated"], levels[tee]["on_hand"]) == (8, 0, 9) and levels

        await wait_for(shipped_stock, what="on_hand to drop by the shipped quantity")

        # Replaying every message about this order changes nothing: each event is consumed once.
        bootstrap, _ = endpoints
        before = await _observable_state(ops, system, order_id, (mug, tee), printer)
        replayed = await _replay(bootstrap, needles=(order_id, mug, tee))
        assert replayed >= 8, f"expected the slice's messages on the topics, found {replayed}"
        await _wait_until_consumed(bootstrap)
        after = await _observable_state(ops, system, order_id, (mug, tee), printer)
        assert after == before


def _pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


async def _observable_state(ops, system, order_id: str, skus, printer) -> dict:
    """What a user could see change: the order, stock levels and ledgers, and the printer's jobs."""
    order = (await ops.get(f"{system.url('orders')}/orders/{order_id}")).json()
    stock = {sku: (await ops.get(f"{system.url('inventory')}/stock/{sku}")).json() for sku in skus}
    ledgers = {
        sku: len((await ops.get(f"{system.url('inventory')}/stock/{sku}/ledger", params={"limit": 500})).json()
                 .get("entries", []))
        for sku in skus
    }
    return {"order": order, "stock": stock, "ledger_sizes": ledgers, "printed": len(printer.jobs())}


async def _replay(bootstrap: str, *, needles) -> int:
    """Re-publish, to the same topic with the same key, every record that mentions one of `needles`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics.MAIN_TOPICS))
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    matching = []
    try:
        for topic in described:
            partitions = [TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]]
            ends = await consumer.end_offsets(partitions)
            next_offsets = await consumer.beginning_offsets(partitions)
            if not any(next_offsets[tp] < ends[tp] for tp in partitions):
                continue
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            deadline = time.monotonic() + 30
            while any(next_offsets[tp] < ends[tp] for tp in partitions):
                assert time.monotonic() < deadline, f"could not read {topic['topic']} to its end"
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, records in batch.items():
                    next_offsets[tp] = records[-1].offset + 1
                    matching.extend(r for r in records if r.offset < ends[tp] and any(n.encode() in r.value
                                                                                       for n in needles))
    finally:
        await consumer.stop()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for record in matching:
            await producer.send_and_wait(record.topic, record.value, key=record.key)
    finally:
        await producer.stop()
    return len(matching)


async def _wait_until_consumed(bootstrap: str, timeout: float = 90.0) -> None:
    """Wait until every consumer group has caught up with every topic and nothing new is being written."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    deadline = time.monotonic() + timeout
    previous_ends = None
    try:
        while time.monotonic() < deadline:
            groups = [g[0] for g in await admin.list_consumer_groups()]
            lag = 0
            ends_seen = {}
            for group in groups:
                committed = await admin.list_consumer_group_offsets(group)
                if not committed:
                    continue
                ends = await consumer.end_offsets(list(committed))
                ends_seen |= ends
                lag += sum(ends[tp] - meta.offset for tp, meta in committed.items() if meta.offset >= 0)
            if lag == 0 and ends_seen == previous_ends:
                return
            previous_ends = ends_seen if lag == 0 else None
            await asyncio.sleep(1.0)
        raise AssertionError("consumers did not catch up with the replayed messages")
    finally:
        await consumer.stop()
        await admin.close()
