"""Bad input gets a clear answer, and nothing bad blocks what comes after it."""

import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from oms_contracts import encode, new_envelope, topics
from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_contracts.orders.v1 import PlaceOrder, order_id_for

pytestmark = pytest.mark.integration


class TestBadRequests:
    async def test_a_bad_order_gets_422_naming_the_field(self, system, ops):
        order = {
            "buyer": {"name": "No Address"},
            "shipping_address": {"name": "X", "line1": "1 Road", "city": "Town", "postcode": "AB1", "country": "Narnia"},
            "lines": [{"line_id": "1", "sku": "A", "title": "A", "quantity": 1, "unit_price": "1.00"}],
            "shipping": {"service": "Standard"},
            "currency": "GBP",
        }
        response = await ops.post(f"{system.url('orders')}/orders", json=order)
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "shipping_address", "country"]

    async def test_no_key_is_401_and_health_needs_none(self, system):
        import httpx

        async with httpx.AsyncClient(timeout=10) as anonymous:
            for service in ("ingest", "orders", "inventory", "fulfilment", "printing"):
                assert (await anonymous.get(f"{system.url(service)}/health")).status_code == 200
            assert (await anonymous.get(f"{system.url('orders')}/orders")).status_code == 401


class TestPoisonMessages:
    async def test_a_malformed_message_goes_to_the_dlq_and_the_next_one_still_flows(
        self, system, ops, endpoints, wait_for
    ):
        bootstrap, _ = endpoints
        marker = f"poison-{uuid.uuid4().hex}"
        details = OrderDetails(
            channel="phone", channel_order_id=uuid.uuid4().hex, order_number=f"IT-{marker[-6:]}",
            buyer=Buyer(name="After Poison"),
            shipping_address=Address(name="After Poison", line1="2 Road", city="Town", postcode="AB1", country="GB"),
            lines=[OrderLine(line_id="1", sku="ANY-SKU", title="Thing", quantity=1, unit_price="2.00")],
            shipping=Shipping(service="Standard"), currency="GBP", paid=True,
        )
        order_id = order_id_for(details.channel, details.channel_order_id)
        good = encode(new_envelope(PlaceOrder(order_id=order_id, order=details, source="staff", placed_by="it"),
                                   producer="it"))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            # Same key, so the same partition: the good message waits behind the poison one.
            key = str(order_id).encode()
            await producer.send_and_wait(topics.ORDERS_COMMANDS, f'{{"garbage": "{marker}"'.encode(), key=key)
            await producer.send_and_wait(topics.ORDERS_COMMANDS, good, key=key)
        finally:
            await producer.stop()

        async def order_opened():
            response = await ops.get(f"{system.url('orders')}/orders/{order_id}")
            return response.status_code == 200 and response.json()["status"] == "open"

        await wait_for(order_opened, what="the message after the poison one to be handled")
        letter = await _find_dead_letter(bootstrap, topics.dlq(topics.ORDERS_COMMANDS), marker)
        assert letter["reason"].startswith("not JSON")
        assert letter["topic"] == topics.ORDERS_COMMANDS and letter["consumer_group"] == "orders"


async def _find_dead_letter(bootstrap: str, topic: str, marker: str) -> dict:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
        while batch:
            for records in batch.values():
                for record in records:
                    letter = json.loads(record.value)
                    if marker in letter["value"]:
                        return letter
            batch = await consumer.getmany(timeout_ms=2000)
    finally:
        await consumer.stop()
    raise AssertionError(f"no dead letter mentioning {marker} in {topic}")


class TestRetryingAFailedPayload:
    async def test_a_failed_payload_is_read_again_by_the_worker_and_its_history_kept(self, system, ops, wait_for):
        ingest = system.url("ingest")
        body = {"channel": "retry_shop", "channel_order_id": uuid.uuid4().hex[:10], "order_number": "R-1",
                "buyer": {"name": "Ada"},
                "shipping_address": {"name": "Ada", "line1": "1 Road", "city": "Town", "postcode": "AB1",
                                     "country": "GB"},
                "lines": [{"line_id": "1", "sku": "R-SKU", "title": "R", "quantity": 0, "unit_price": "1.00"}],
                "shipping": {"service": "Standard"}, "currency": "GBP"}
        refused = await ops.post(f"{ingest}/channels/retry_shop/orders", json=body)
        assert refused.status_code == 422
        intake_id = refused.json()["intake_id"]
        first_error = (await ops.get(f"{ingest}/intake/{intake_id}")).json()["error"]

        retried = await ops.post(f"{ingest}/intake/{intake_id}/retry")
        assert retried.status_code == 202, retried.text

        async def read_again():
            intake = (await ops.get(f"{ingest}/intake/{intake_id}")).json()
            return intake["status"] == "failed" and intake

        intake = await wait_for(read_again, what="the worker to read the payload again")
        assert intake["error"] and [r["error"] for r in intake["retries"]] == [first_error]
