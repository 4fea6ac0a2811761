"""Correlation ids in logs, answers and envelopes; request metrics by route template."""

import json
import logging
import uuid

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from oms_contracts.orders.v1 import ProcessOrder
from oms_platform.messaging import Bus
from oms_platform.observability import CorrelationMiddleware, configure_logging, correlation_id


@pytest.fixture
def app():
    app = FastAPI()
    app.add_middleware(CorrelationMiddleware)
    seen = {}

    @app.get("/things/{thing_id}")
    def thing(thing_id: str) -> dict:
        seen["cid"] = correlation_id.get()
        seen["envelope"] = Bus(broker=None, producer="test").envelope(
            ProcessOrder(order_id=uuid.uuid4(), requested_by="t"))
        return {"id": thing_id}

    app.state.seen = seen
    return app


def client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_callers_correlation_id_is_used_answered_and_put_on_commands(app):
    given = str(uuid.uuid4())
    answer = await client(app).get("/things/1", headers={"X-Correlation-Id": given})
    assert answer.headers["x-correlation-id"] == given
    assert app.state.seen["cid"] == given
    assert str(app.state.seen["envelope"].correlation_id) == given


async def test_without_one_or_with_junk_a_fresh_id_is_made(app):
    answer = await client(app).get("/things/1", headers={"X-Correlation-Id": "bad id\n with spaces"})
    made = answer.headers["x-correlation-id"]
    assert uuid.UUID(made) and made != "bad id\n with spaces"


async def test_requests_are_counted_by_route_template_not_by_path(app):
    def count():
        return REGISTRY.get_sample_value(
            "oms_http_requests_total", {"route": "/things/{thing_id}", "method": "GET", "status": "200"}) or 0

    before = count()
    for n in range(3):
        await client(app).get(f"/things/{n}")
    assert count() == before + 3


def test_log_lines_are_json_with_the_correlation_id(capsys):
    configure_logging("INFO", log_format="json")
    token = correlation_id.set("abc-123")
    try:
        logging.getLogger("oms.test").info("order %s opened", "1001")
    finally:
        correlation_id.reset(token)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "order 1001 opened"
    assert line["correlation_id"] == "abc-123"
    assert line["level"] == "INFO" and line["logger"] == "oms.test"
