"""A whole OMS started for measuring or breaking it, and the load that goes through it.

Used by `benchmarks/pipeline.py` and by the fault harness (`python -m oms_devtools.faults`). The system runs on the
infrastructure named by KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL, on its own API ports and its own databases
(`oms_<svc>_<run id>`), with a raw TCP 9100 printer of its own. Orders enter as signed Shopify webhooks.
"""

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from oms_contracts.orders.v1 import order_id_for
from pymongo import AsyncMongoClient

from oms_devtools.system import SERVICES, ServiceProcess, System

REPO = Path(__file__).resolve().parents[4]
SAMPLE = REPO / "services" / "ingest" / "tests" / "data" / "shopify" / "webhook-orders-create-1021.body.json"
SHOPIFY_ACCOUNT = "benchshop"


def sign(raw: bytes, secret: str) -> str:
    """The X-Shopify-Hmac-Sha256 header of a body."""
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Webhook:
    """One signed Shopify `orders/create` delivery."""

    channel_order_id: str
    order_number: str
    raw: bytes
    headers: dict[str, str]


class ShopifyOrders:
    """Makes Shopify order webhooks from the ingest sample, each a new order of a few of `skus`."""

    def __init__(self, *, secret: str, skus: list[str], prefix: str) -> None:
        self._template = json.loads(SAMPLE.read_bytes())
        self._secret = secret
        self.skus = skus
        self.prefix = prefix
        self._next = 0
        # Shopify order ids are 13-digit numbers; a random start keeps runs on one database apart.
        self._base = int.from_bytes(secrets.token_bytes(4), "big") * 1000 + 10**12

    def make(self) -> Webhook:
        """A new order: its own Shopify id, name (#<prefix>-<n>), webhook id and two lines of the SKUs."""
        n = self._next
        self._next += 1
        data = copy.deepcopy(self._template)
        data["id"] = self._base + n
        data["name"] = f"#{self.prefix}-{n:06d}"
        data["order_number"] = n
        line = data["line_items"][0]
        second = copy.deepcopy(line)
        line["sku"], second["sku"] = self.skus[n % len(self.skus)], self.skus[(n + 1) % len(self.skus)]
        second["id"] = line["id"] + 1
        data["line_items"] = [line, second] if line["sku"] != second["sku"] else [line]
        _set_totals(data)
        raw = json.dumps(data).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": f"{SHOPIFY_ACCOUNT}.myshopify.com",
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Hmac-Sha256": sign(raw, self._secret),
        }
        return Webhook(str(data["id"]), data["name"], raw, headers)


def _set_totals(data: dict) -> None:
    """Make the sample's money add up for its (changed) lines: ingest refuses an order whose totals do not."""
    lines = sum(float(item["price"]) * item["quantity"] for item in data["line_items"])
    shipping = float(data["total_shipping_price_set"]["shop_money"]["amount"])
    for name, value in (("subtotal_price", lines), ("current_subtotal_price", lines),
                        ("total_line_items_price", lines), ("total_price", lines + shipping),
                        ("current_total_price", lines + shipping)):
        data[name] = f"{value:.2f}"
        if f"{name}_set" in data:
            for money in data[f"{name}_set"].values():
                money["amount"] = f"{value:.2f}"


@dataclass
class Sent:
    """One webhook delivery and its answer."""

    webhook: Webhook
    sent_at: float  # time.time()
    status: int | None = None
    answered_in: float | None = None  # seconds
    error: str | None = None
    outcome: str | None = None  # ingest's answer: published, received, duplicate, failed, skipped

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Harness:
    """The five services, a raw printer and the clients to drive and inspect them."""

    work_dir: Path
    port_base: int
    extra_env: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    # Print jobs on their way (rendered, not settled) when a fault stopped the printing worker: the fault drill's
    # invariant lets each of them print twice (the printer may have taken it before the crash), none other.
    in_flight_jobs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        self.mongo_url = os.environ.get("MONGODB_URL")
        if not (self.kafka and self.mongo_url):
            raise SystemExit("KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL must name a running Kafka and MongoDB "
                             "(make infra-up, then export the variables of .oms/infra/infra.env)")
        self.keys = {role: secrets.token_hex(16) for role in ("admin", "ops", "packer")}
        self.webhook_secret = secrets.token_hex(16)
        self.databases = {s: f"oms_{s}_bench_{self.run_id}" for s in SERVICES}
        self.spool = self.work_dir / "printed"
        self.printer_port = free_port()
        self.printer: subprocess.Popen | None = None
        self.extras: list[ServiceProcess] = []
        ports = {service: self.port_base + n for n, service in enumerate(SERVICES, start=1)}
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "MONGODB_URL": self.mongo_url,
            "OMS_API_KEYS": ",".join(f"{role}:{key}" for role, key in self.keys.items()),
            "OMS_LOG_LEVEL": "WARNING",
            "OMS_RATE_LIMIT_PER_MINUTE": "0",  # the load is one client; the limit would throttle the drill
            "PRINTING_INVOICE_PRINTER": f"socket://127.0.0.1:{self.printer_port}",
            "PRINTING_LABEL_PRINTER": f"socket://127.0.0.1:{self.printer_port}",
            "INGEST_WEBHOOK_SECRETS": f"shopify:{SHOPIFY_ACCOUNT}:{self.webhook_secret}",
            **{f"{s.upper()}_DATABASE": db for s, db in self.databases.items()},
            **self.extra_env,
        }
        self.system = System(env=env, log_dir=self.work_dir / "logs", ports=ports)
        self.client: AsyncMongoClient | None = None

    # -- lifetime ---------------------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> None:
        """Start the printer and every service; wait until each API is healthy."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.start_printer()
        try:
            self.system.start()
            self.system.wait_healthy(timeout=timeout)
        except BaseException:
            # The services run in sessions of their own: nothing else would stop them.
            self.system.stop()
            self.printer.terminate()
            raise
        self.client = AsyncMongoClient(self.mongo_url)

    async def close(self, *, drop: bool = True) -> None:
        """Stop everything this harness started; drop its databases unless asked to keep them."""
        self.stop_extras()
        self.system.stop()
        if self.printer is not None:
            self.printer.terminate()
            self.printer.wait(timeout=10)
        if self.client is not None:
            if drop:
                for db in self.databases.values():
                    await self.client.drop_database(db)
            await self.client.close()

    def db(self, service: str):
        """The service's database (for reading; the harness never writes the services' documents)."""
        return self.client[self.databases[service]]

    def url(self, service: str) -> str:
        return self.system.url(service)

    def ops_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys['ops']}"}

    def process_of(self, service: str, role: str) -> ServiceProcess:
        """The running process of a service role."""
        return next(p for p in self.system.processes if p.service == service and p.role == role)

    def service_env(self, **extra: str) -> dict[str, str]:
        """The environment `System.start` gives a service process, plus `extra`."""
        env = {**os.environ, **self.system.env,
               **{f"{s.upper()}_API_PORT": str(port) for s, port in self.system.ports.items()}}
        env.setdefault("FULFILMENT_INVENTORY_URL", self.system.url("inventory"))
        return {**env, **extra}

    def _popen(self, service: str, role: str, log_path: Path, env: dict[str, str]) -> subprocess.Popen:
        with log_path.open("ab") as log:
            return subprocess.Popen([self.system.python, "-m", service, role], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def restart(self, service: str, role: str, **extra_env: str) -> ServiceProcess:
        """Start a service role again (after it was killed), with the environment `System.start` gave it."""
        old = self.process_of(service, role)
        process = self._popen(service, role, old.log_path, self.service_env(**extra_env))
        new = ServiceProcess(service, role, process, old.log_path)
        self.system.processes[self.system.processes.index(old)] = new
        return new

    def start_extra(self, service: str, role: str = "worker") -> ServiceProcess:
        """One more process of a service role (another consumer in its group: a rebalance)."""
        log_path = self.system.log_dir / f"{service}-{role}-extra.log"
        extra = ServiceProcess(service, role, self._popen(service, role, log_path, self.service_env()), log_path)
        self.extras.append(extra)
        return extra

    def stop_extras(self, timeout: float = 20.0) -> None:
        """Stop every extra process (SIGTERM, then SIGKILL after `timeout`)."""
        for extra in self.extras:
            if extra.process.poll() is None:
                extra.process.terminate()
        for extra in self.extras:
            try:
                extra.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                extra.process.kill()
                extra.process.wait()
        self.extras.clear()

    def start_printer(self, *, drop_every: int = 0) -> None:
        """(Re)start the raw printer on its port; with drop_every it resets every n-th job mid-way."""
        if self.printer is not None and self.printer.poll() is None:
            self.printer.terminate()
            self.printer.wait(timeout=10)
        log = (self.work_dir / "printer.log").open("ab")
        self.printer = subprocess.Popen(
            [sys.executable, "-m", "oms_devtools.raw_printer", "--port", str(self.printer_port),
             "--dir", str(self.spool), "--drop-every", str(drop_every)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    # -- driving ----------------------------------------------------------------------------------------------

    def orders_source(self, *, skus: list[str], prefix: str) -> ShopifyOrders:
        return ShopifyOrders(secret=self.webhook_secret, skus=skus, prefix=prefix)

    def webhook_url(self) -> str:
        return f"{self.url('ingest')}/webhooks/shopify/{SHOPIFY_ACCOUNT}"

    async def seed_stock(self, skus: list[str], quantity: int, *, timeout: float = 120.0) -> None:
        """Give each SKU `quantity` on hand through the inventory API and wait until the stock shows it."""
        async with httpx.AsyncClient(headers=self.ops_headers(), timeout=30) as http:
            for sku in skus:
                answer = await http.post(f"{self.url('inventory')}/stock/{sku}/adjustments",
                                         json={"delta": quantity, "reason": "bench opening stock"},
                                         headers={"Idempotency-Key": f"bench-seed-{self.run_id}-{sku}"})
                answer.raise_for_status()
        stock = self.db("inventory")["stock"]
        deadline = time.monotonic() + timeout
        while await stock.count_documents({"_id": {"$in": skus}, "on_hand": {"$gte": quantity}}) < len(skus):
            if time.monotonic() > deadline:
                raise RuntimeError(f"opening stock of {len(skus)} SKUs not recorded within {timeout:.0f}s")
            await asyncio.sleep(0.5)

    async def post(self, http: httpx.AsyncClient, webhook: Webhook, *, timeout: float = 30.0) -> Sent:
        """Deliver one webhook and time the answer."""
        sent = Sent(webhook, time.time())
        began = time.perf_counter()
        try:
            answer = await http.post(self.webhook_url(), content=webhook.raw, headers=webhook.headers, timeout=timeout)
            sent.status = answer.status_code
            if sent.accepted:
                sent.outcome = answer.json().get("status")
                if sent.outcome not in ("published", "received", "duplicate"):
                    sent.error = f"{sent.outcome}: {answer.json().get('reason')}"[:200]
            else:
                sent.error = answer.text[:200]
        except httpx.HTTPError as exc:
            sent.error = f"{type(exc).__name__}: {exc}"
        sent.answered_in = time.perf_counter() - began
        return sent

    async def drive(self, source: ShopifyOrders, *, rate: float, seconds: float, copies: int = 1,
                    max_in_flight: int = 256, results: list[Sent] | None = None) -> list[Sent]:
        """Open-loop load: a new order every 1/rate s for `seconds` (each delivered `copies` times in a row).

        Open loop means a slow answer does not slow the schedule, so answer latency is measured honestly;
        at most `max_in_flight` requests are outstanding (beyond that the schedule does slip, and it shows).
        Deliveries are appended to `results` as they are answered (pass a list to watch them live).
        """
        count = max(1, round(rate * seconds))
        gate = asyncio.Semaphore(max_in_flight)
        limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
        results = [] if results is None else results

        async def deliver(webhook: Webhook) -> None:
            try:
                for _ in range(copies):
                    results.append(await self.post(http, webhook))
            finally:
                gate.release()

        async with httpx.AsyncClient(limits=limits) as http:
            tasks = []
            start = time.perf_counter()
            for n in range(count):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await gate.acquire()
                tasks.append(asyncio.create_task(deliver(source.make())))
            await asyncio.gather(*tasks)
        return results

    # -- observing --------------------------------------------------------------------------------------------

    async def allocated_at(self, order_ids: list[str]) -> dict[str, float]:
        """For each order that is open with all its stock allocated: when the orders worker recorded that."""
        found: dict[str, float] = {}
        orders = self.db("orders")["orders"]
        for start in range(0, len(order_ids), 500):
            chunk = order_ids[start:start + 500]
            async for doc in orders.find({"_id": {"$in": chunk}}, {"order.timeline": 1, "status": 1}):
                for entry in doc.get("order", {}).get("timeline", []):
                    if entry.get("what") == "stock allocated":
                        found[doc["_id"]] = _epoch(entry["at"])
                        break
        return found

    async def wait_allocated(self, order_ids: list[str], *, timeout: float,
                             progress=None) -> dict[str, float]:
        """Poll until every order is allocated or the deadline passes; returns what was found.

        Each poll reads only the orders not yet found: reading every order every second was, in the pipeline
        benchmark, a large share of the database's CPU while the services worked through their backlog."""
        deadline = time.monotonic() + timeout
        found: dict[str, float] = {}
        while True:
            found |= await self.allocated_at([oid for oid in order_ids if oid not in found])
            if progress:
                progress(len(found), len(order_ids))
            if len(found) == len(order_ids) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(1.0)


def _epoch(value) -> float:
    """Seconds since the epoch of an ISO timestamp (or a datetime)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp()


def order_id(channel_order_id: str) -> str:
    """The order id the orders service gives a Shopify order."""
    return str(order_id_for("shopify", channel_order_id))
