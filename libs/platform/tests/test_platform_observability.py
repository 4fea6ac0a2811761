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
from oms_platform.observability import CorrelationMiddleware, RepeatFilter, configure_logging, correlation_id


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


class TestABrokerAwayDoesNotFloodTheLogs:
    @staticmethod
    def record(name: str, msg: str, *args) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)

    def test_the_same_complaint_is_logged_once_per_window_then_with_how_many_were_left_out(self):
        now = [0.0]
        thin = RepeatFilter("aiokafka", every=10.0, clock=lambda: now[0])
        passed = []
        for n in range(25):  # every 100 ms for 2.5 s, then again after the window
            now[0] = n * 0.1
            record = self.record("aiokafka", "Unable connect to node with id %s: %s", 1, "refused")
            if thin.filter(record):
                passed.append(record)
        now[0] = 11.0
        late = self.record("aiokafka", "Unable connect to node with id %s: %s", 1, "refused")
        assert thin.filter(late)
        assert len(passed) == 1
        assert late.getMessage() == "Unable connect to node with id 1: refused [24 more like this in 10 s not logged]"

    def test_other_complaints_other_groups_and_other_loggers_are_not_held_back(self):
        thin = RepeatFilter("aiokafka", every=10.0, clock=lambda: 0.0)
        assert thin.filter(self.record("aiokafka", "Unable connect to node with id %s", 1))
        assert thin.filter(self.record("aiokafka.consumer.fetcher", "Unable connect to node with id %s", 1))
        assert thin.filter(self.record("aiokafka", "Unable to update metadata from %s", [1]))
        assert thin.filter(self.record("aiokafka", "OffsetCommit failed for group %s", "orders"))
        assert thin.filter(self.record("aiokafka", "OffsetCommit failed for group %s", "inventory"))
        assert not thin.filter(self.record("aiokafka", "OffsetCommit failed for group %s", "orders"))
        for _ in range(3):
            assert thin.filter(self.record("oms_platform.messaging", "infrastructure error (attempt %d)", 2))
            assert thin.filter(self.record("aiokafkaesque", "not aiokafka's"))

    def test_configured_logging_thins_aiokafka(self, capsys):
        configure_logging("INFO", log_format="json")
        for _ in range(50):
            logging.getLogger("aiokafka.consumer.group_coordinator").error("Heartbeat session expired")
        lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
        assert [line["message"] for line in lines] == ["Heartbeat session expired"]
