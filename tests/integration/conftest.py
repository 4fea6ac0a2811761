"""Fixtures for the integration tests: the real broker and database, the five services, a raw printer.

Endpoints come from KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL (set by `make test` from the local infrastructure);
where a Docker engine answers, testcontainers starts Kafka and MongoDB instead; otherwise the tests fail and say
how to start the infrastructure. They never skip.
"""

import asyncio
import email
import email.policy
import os
import secrets
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from ingest.standin_mariadb import MariaDB
from oms_devtools.system import CONSOLE, SERVICES, System

REPO = Path(__file__).resolve().parents[2]
# OMS_IT_PORT_BASE moves the services' ports (base+1 .. base+5), so two test runs can share a machine.
_PORT_BASE = int(os.environ.get("OMS_IT_PORT_BASE", "18100"))
TEST_PORTS = {service: _PORT_BASE + n for n, service in enumerate((*SERVICES, CONSOLE), start=1)}
PAYPAL_STANDIN_PORT = _PORT_BASE + 40  # the PayPal stand-in of test_payments.py
CONSOLE_ADMIN_PASSWORD = secrets.token_hex(12)
# Webhook secret of the channel accounts named "writeback" (the write-back tests' Shopify and WooCommerce shops).
WRITEBACK_WEBHOOK_SECRET = "writeback-webhook-secret-0123456789"
START_INFRA = "make test (or: make infra-up, then export the variables from .oms/infra/infra.env)"


def _docker_answers() -> bool:
    """True when a Docker engine responds (never on our own machines)."""
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.fixture(scope="session")
def endpoints():
    """(kafka bootstrap servers, mongodb url) of real servers."""
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URL")
    if kafka and mongo:
        yield kafka, mongo
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mongodb import MongoDbContainer

        with KafkaContainer("apache/kafka:4.1.0").with_kraft() as k, MongoDbContainer("mongo:8") as m:
            yield k.get_bootstrap_server(), m.get_connection_url()
        return
    pytest.fail(
        "integration tests need a real Kafka and MongoDB-compatible server: KAFKA_BOOTSTRAP_SERVERS and "
        f"MONGODB_URL are not set and no Docker engine answers. Run: {START_INFRA}",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrinterSpool:
    """A real raw TCP 9100 printer peer running as its own process; jobs land in `directory`."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.uri = f"socket://127.0.0.1:{port}"

    def jobs(self) -> list[Path]:
        return sorted(self.directory.glob("job-*"))


@pytest.fixture(scope="session")
def printer(tmp_path_factory) -> PrinterSpool:
    """The printer every document of the session goes to."""
    spool = PrinterSpool(tmp_path_factory.mktemp("printed"), _free_port())
    process = subprocess.Popen(
        [sys.executable, "-m", "oms_devtools.raw_printer", "--port", str(spool.port), "--dir", str(spool.directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", spool.port), timeout=1).close()  # an empty job is ignored
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("the raw printer did not start", pytrace=False)
            time.sleep(0.1)
    yield spool
    process.terminate()
    process.wait(timeout=10)


class RawSpool(socketserver.ThreadingTCPServer):
    """A raw 9100 printer peer in this process: each connection is one printed job, its bytes kept in `jobs`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.jobs: list[bytes] = []
        spool = self

        class Job(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                chunks = []
                while chunk := self.request.recv(65536):
                    chunks.append(chunk)
                if chunks:
                    spool.jobs.append(b"".join(chunks))

        super().__init__(("127.0.0.1", 0), Job)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def raw_spool():
    """Start raw 9100 printer peers in this process (`raw_spool()`, e.g. a station's bench printer); each is
    closed after the test."""
    started: list[RawSpool] = []

    def start() -> RawSpool:
        started.append(RawSpool())
        return started[-1]

    yield start
    for spool in started:
        spool.shutdown()
        spool.server_close()


@pytest.fixture(scope="session")
def api_keys() -> dict[str, str]:
    """Fresh keys for this session."""
    return {role: secrets.token_hex(16) for role in ("admin", "ops", "packer", "console")}


class Mailbox:
    """A real SMTP server (aiosmtpd) the services send follow-up emails to; `messages` holds what arrived."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.port = _free_port()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def mailbox() -> Mailbox:
    """The SMTP server of the session (INGEST_SMTP_HOST/PORT point at it)."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def system(endpoints, printer, api_keys, mailbox, tmp_path_factory) -> System:
    """All five services (API + worker each) and the console on the real infrastructure, with databases of their own."""
    kafka, mongo = endpoints
    run_id = uuid.uuid4().hex[:8]
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URL": mongo,
        "OMS_API_KEYS": ",".join(f"{role}:{key}" for role, key in api_keys.items()),
        "OMS_MAX_ATTEMPTS": "3",
        # APIs wait this long for their worker before answering 202: a busy 2-core machine needs some margin, but
        # it must stay below the tests' HTTP clients' 60 s timeout.
        "ORDERS_COMMAND_TIMEOUT_SECONDS": "30",
        "INVENTORY_COMMAND_TIMEOUT_SECONDS": "30",
        "FULFILMENT_COMMAND_TIMEOUT_SECONDS": "30",
        "PRINTING_COMMAND_TIMEOUT_SECONDS": "30",
        "CONSOLE_SERVICE_KEY": api_keys["console"],
        "CONSOLE_SESSION_SECRET": secrets.token_hex(32),
        "CONSOLE_ADMIN_PASSWORD": CONSOLE_ADMIN_PASSWORD,
        "CONSOLE_LIVE_POLL_SECONDS": "0.5",
        "CONSOLE_DATABASE": f"oms_console_it_{run_id}",
        "PRINTING_INVOICE_PRINTER": printer.uri,
        "PRINTING_LABEL_PRINTER": printer.uri,
        # PayPal stand-in (test_payments.py runs it on PAYPAL_STANDIN_PORT); unpaid orders of channel
        # `oscommerce_it` are parked on arrival; payments to button@... open orders (PayPal as a sales channel)
        "INGEST_PAYPAL_IPN_VERIFY_URL": f"http://127.0.0.1:{PAYPAL_STANDIN_PORT}/cgi-bin/webscr",
        "INGEST_PAYPAL_API_URL": f"http://127.0.0.1:{PAYPAL_STANDIN_PORT}",
        "INGEST_PAYPAL_CLIENT_ID": "it-client",
        "INGEST_PAYPAL_CLIENT_SECRET": "it-secret",
        "INGEST_PAYPAL_WEBHOOK_ID": "WH-IT",
        "INGEST_PAYPAL_ORDER_ACCOUNTS": "button@fernbrook.example",
        "ORDERS_PARK_UNPAID_CHANNELS": "oscommerce_it",
        "INGEST_WEBHOOK_SECRETS": (
            "shopify:fernbrook:sample-shopify-client-secret-A,woocommerce:shop:sample-woo-webhook-secret-A,"
            f"shopify:writeback:{WRITEBACK_WEBHOOK_SECRET},woocommerce:writeback:{WRITEBACK_WEBHOOK_SECRET}"
        ),
        "INGEST_SMTP_HOST": "127.0.0.1",
        "INGEST_SMTP_PORT": str(mailbox.port),
        "INGEST_SMTP_FROM": "orders@oms.test",
        # Write-backs retry quickly here: 0.5 s, then 1 s; failed after three attempts.
        "INGEST_WRITEBACK_BACKOFF_SECONDS": "0.5",
        "INGEST_WRITEBACK_MAX_ATTEMPTS": "3",
        "INGEST_WRITEBACK_TICK_SECONDS": "0.2",
        "INGEST_STOCK_PUSH_DEBOUNCE_SECONDS": "1.5",
        **{f"{s.upper()}_DATABASE": f"oms_{s}_it_{run_id}" for s in SERVICES},
    }
    log_dir = tmp_path_factory.mktemp("service-logs")
    running = System(env=env, log_dir=log_dir, ports=dict(TEST_PORTS), own_session=False)
    running.start()
    try:
        running.wait_healthy(timeout=120)
        yield running
    finally:
        running.stop()
        print(f"service logs: {log_dir}")


@pytest.fixture(scope="session")
def writeback_webhook_secret() -> str:
    """The webhook secret of the Shopify and WooCommerce accounts named "writeback"."""
    return WRITEBACK_WEBHOOK_SECRET


@pytest.fixture(scope="session")
def console_admin_password() -> str:
    """The password of the console's first user, `admin`."""
    return CONSOLE_ADMIN_PASSWORD


@pytest.fixture
def admin(api_keys) -> httpx.AsyncClient:
    """An HTTP client with the admin key (channels, printers, settings)."""
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {api_keys['admin']}"}, timeout=60)


@pytest.fixture(scope="module")
def mariadb():
    """A real MariaDB (Debian's mariadb-server) for the database channels' shops, one per test module."""
    with MariaDB() as server:
        yield server


@pytest.fixture
def ops(system, api_keys) -> httpx.AsyncClient:
    """An HTTP client with the ops key; use `ops.get(system.url('orders') + ...)`."""
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {api_keys['ops']}"}, timeout=60)


async def eventually(check: Callable[[], Awaitable], *, timeout: float = 60.0, interval: float = 0.3, what: str = ""):
    """Poll `check` until it returns a truthy value (returned) or the deadline passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check.__name__}; last: {last!r}")


@pytest.fixture
def wait_for():
    return eventually
