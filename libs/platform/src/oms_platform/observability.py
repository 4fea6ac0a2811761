"""Logs, correlation ids and Prometheus metrics, the same in every service.

- Every log line is one JSON object (OMS_LOG_FORMAT=json, the default) carrying the `correlation_id` of the
  request or message being handled: an order's webhook, its commands and events share one id end to end.
- APIs take `X-Correlation-Id` from the caller (or make one), answer with it, and count requests by route and
  status; workers count messages by topic, type and outcome, time their handlers, and count dead letters.
- `/metrics` on each API (and on OMS worker metrics ports when set) in Prometheus text format; the API also
  reports the consumer lag of its service's consumer groups, read from the broker at scrape time.
"""

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from contextvars import ContextVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_CORRELATION_HEADER = b"x-correlation-id"
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

HTTP_REQUESTS = Counter("oms_http_requests_total", "HTTP requests answered.", ["route", "method", "status"])
HTTP_SECONDS = Histogram("oms_http_request_seconds", "Time to answer an HTTP request.", ["route"])
MESSAGES = Counter("oms_messages_handled_total", "Messages a consumer finished with.",
                   ["topic", "type", "outcome"])
HANDLER_SECONDS = Histogram("oms_handler_seconds", "Time a handler took for one message (all tries).",
                            ["topic", "type"])
DEAD_LETTERS = Counter("oms_dead_letters_total", "Messages written to a dead-letter topic.", ["topic", "group"])
CONSUMER_LAG = Gauge("oms_consumer_lag", "Records not yet consumed, per consumer group and topic.",
                     ["group", "topic"])


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        return True


class RepeatFilter(logging.Filter):
    """At most one line per logger and message (as formatted: one naming another group or node is another line)
    every `every` s from loggers under `prefix`; the next one after the window says how many were left out.
    aiokafka logs each failed connect, fetch and coordinator lookup (every retry_backoff_ms, 100 ms, per
    consumer): with the broker away for 7 minutes the workers of one drill wrote 380 MB of those lines (about 600
    a second per process)."""

    def __init__(self, prefix: str = "aiokafka", *, every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefix, self.every, self.clock = prefix, every, clock
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # message -> (window start, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != self.prefix and not record.name.startswith(f"{self.prefix}."):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the handler's to report, not the filter's
            message = str(record.msg)
        key, now = (record.name, message), self.clock()
        started, left_out = self._windows.get(key, (None, 0))
        if started is not None and now - started < self.every:
            self._windows[key] = (started, left_out + 1)
            return False
        if len(self._windows) > 1000:  # messages naming offsets would otherwise pile up: keep the open windows
            self._windows = {k: w for k, w in self._windows.items() if now - w[0] < self.every}
        self._windows[key] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} [{left_out} more like this in {self.every:.0f} s not logged]"
        return True


def configure_logging(level: str, *, log_format: str = "json") -> None:
    """One handler on the root logger: JSON lines (or plain text) with the correlation id on every line, aiokafka's
    repeated complaints (a broker away) thinned to one line per kind every 10 s."""
    handler = logging.StreamHandler()
    handler.addFilter(_CorrelationFilter())
    handler.addFilter(RepeatFilter("aiokafka"))
    if log_format == "json":
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


@contextmanager
def handling(topic: str, message_type: str, correlation: str | None):
    """Around one message's handling: its correlation id in every log line, and its time."""
    token = correlation_id.set(correlation)
    started = time.perf_counter()
    try:
        yield
    finally:
        HANDLER_SECONDS.labels(topic, message_type).observe(time.perf_counter() - started)
        correlation_id.reset(token)


class CorrelationMiddleware:
    """ASGI: the request's correlation id (the caller's `X-Correlation-Id`, or a new one) in logs and the answer;
    requests counted and timed by route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(_CORRELATION_HEADER, b"").decode("latin-1")
        cid = given if _ACCEPTABLE_ID.match(given) else str(uuid.uuid4())
        token = correlation_id.set(cid)
        started = time.perf_counter()
        answered = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (_CORRELATION_HEADER, cid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(route, scope["method"], str(answered["status"])).inc()
            HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
            correlation_id.reset(token)


def metrics_router(
    *, service: str, bootstrap_servers: str, on_scrape: Callable[[], Awaitable[None]] | None = None
) -> APIRouter:
    """`GET /metrics`: this process's metrics, the lag of the service's consumer groups and whatever the service's
    `on_scrape` sets from its database (no key: scrape it from inside the network only)."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        try:
            await update_consumer_lag(service, bootstrap_servers)
        except Exception:  # noqa: BLE001 - a broker hiccup must not take the other metrics with it
            logging.getLogger(__name__).warning("consumer lag not read", exc_info=True)
        if on_scrape is not None:
            try:
                await on_scrape()
            except Exception:  # noqa: BLE001 - a database hiccup must not take the other metrics with it
                logging.getLogger(__name__).warning("service metrics not read", exc_info=True)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def update_consumer_lag(service: str, bootstrap_servers: str) -> None:
    """Set `oms_consumer_lag` for every consumer group of `service` (`<service>` and `<service>.*`)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    await admin.start()
    try:
        groups = [g for g, _ in await admin.list_consumer_groups() if g == service or g.startswith(f"{service}.")]
        committed = {g: await admin.list_consumer_group_offsets(g) for g in groups}
    finally:
        await admin.close()
    partitions = {tp for offsets in committed.values() for tp in offsets}
    if not partitions:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(list(partitions))
    finally:
        await consumer.stop()
    for group, offsets in committed.items():
        per_topic: dict[str, int] = {}
        for tp, meta in offsets.items():
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(0, ends.get(tp, 0) - max(meta.offset, 0))
        for topic, lag in per_topic.items():
            CONSUMER_LAG.labels(group, topic).set(lag)
