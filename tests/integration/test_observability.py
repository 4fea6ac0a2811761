"""Observability of the running services: readiness, Prometheus metrics, and one correlation id from the HTTP
request to the events it causes."""

import uuid

import pytest
from pymongo import AsyncMongoClient

from oms_contracts import decode
from oms_devtools.system import SERVICES

pytestmark = pytest.mark.integration


async def test_every_service_is_ready_and_serves_metrics(system, ops):
    for service in SERVICES:
        ready = await ops.get(f"{system.url(service)}/ready")
        assert ready.status_code == 200, f"{service}: {ready.text}"
        metrics = await ops.get(f"{system.url(service)}/metrics")
        assert metrics.status_code == 200
        assert "oms_http_requests_total" in metrics.text, service
        assert 'route="/ready"' in metrics.text, service


async def test_consumer_lag_of_the_services_groups_is_reported(system, ops, wait_for):
    async def lag_reported():
        text = (await ops.get(f"{system.url('orders')}/metrics")).text
        return 'oms_consumer_lag{group="orders",topic="oms.orders.commands"}' in text

    await wait_for(lag_reported, what="the orders group's lag in /metrics")


async def test_print_jobs_by_state_are_reported_from_the_database(system, ops, endpoints):
    client = AsyncMongoClient(endpoints[1], tz_aware=True)
    jobs = client[system.env["PRINTING_DATABASE"]]["print_jobs"]
    marker = f"metrics-{uuid.uuid4().hex[:8]}"
    try:
        # A job in a state no worker moves it out of (failed), written as the printing worker would leave it:
        # the gauge must count it, whatever other tests' jobs are doing meanwhile.
        before = await jobs.count_documents({"state": "failed"})
        await jobs.insert_one({"_id": marker, "state": "failed", "printer": marker, "station": None,
                               "order_id": None, "created_at": None, "version": 1})

        def reported(text: str) -> dict[str, float]:
            return {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                    if line.startswith("oms_print_jobs{")}

        text = (await ops.get(f"{system.url('printing')}/metrics")).text
        states = reported(text)
        assert set(states) == {"queued", "rendered", "sent", "printed", "failed"}, text
        # Other tests' jobs can fail meanwhile (failed is final, so the count only grows while ours is there).
        assert before + 1 <= states["failed"] <= await jobs.count_documents({"state": "failed"})
    finally:
        await jobs.delete_one({"_id": marker})
        await client.close()


async def test_the_callers_correlation_id_reaches_the_events_an_order_causes(system, ops, endpoints, wait_for):
    cid = str(uuid.uuid4())
    order = {
        "buyer": {"name": "Ida Tracer"},
        "shipping_address": {"name": "Ida Tracer", "line1": "1 Log Lane", "city": "Leeds", "postcode": "LS1 1AA",
                             "country": "GB"},
        "lines": [{"line_id": "1", "sku": f"TRACE-{cid[:6]}", "title": "Trace", "quantity": 1, "unit_price": "1.00"}],
        "shipping": {"service": "Standard"}, "currency": "GBP",
    }
    placed = await ops.post(f"{system.url('orders')}/orders", json=order, headers={"X-Correlation-Id": cid})
    assert placed.status_code in (201, 202), placed.text
    assert placed.headers["x-correlation-id"] == cid
    order_id = placed.json()["order_id"]

    client = AsyncMongoClient(endpoints[1], tz_aware=True)
    try:
        orders = client[system.env["ORDERS_DATABASE"]]["orders"]

        async def published():
            doc = await orders.find_one({"_id": order_id})
            envelopes = [decode(item["envelope"]) for entry in (doc or {}).get("handled", {}).values()
                         for item in entry]
            return [e for e in envelopes if e.type == "orders.order_opened"]

        [opened] = await wait_for(published, what="the order_opened event in the order's document")
        assert str(opened.correlation_id) == cid
    finally:
        await client.close()
