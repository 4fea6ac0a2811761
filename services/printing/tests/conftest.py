"""Fakes and sample data for the printing tests (fixtures only: test modules import nothing from here)."""

from __future__ import annotations

import asyncio
import copy
import shutil
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

from oms_contracts import new_envelope
from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import (
    JobFailed, JobPrinted, PickListLine, PrintDocument, PrintPickList, RecordDelivery, print_job_id,
)
from oms_platform.documents import save_document
from oms_platform.testing import RecordingBus, SteppingClock
from printing.adapters.printers import PrinterError
from printing.service_layer.delivery import DeliveryLoop
from printing.service_layer.handlers import Directory, SendPolicy, handle_print_document, handle_record_delivery

START_DNS_SD = Path(__file__).parent / "start-dns-sd.sh"
INVOICE_PRINTER = "socket://invoices.test:9100"
LABEL_PRINTER = "socket://labels.test:9100"


class FakeRepository:
    """Print job documents in a dict, with the same version rule as MongoDB's save."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}

    async def get(self, job_id: uuid.UUID) -> dict | None:
        doc = self.docs.get(str(job_id))
        return None if doc is None else copy.deepcopy(doc)

    async def save(self, doc: dict) -> None:
        await save_document(_DictCollection(self.docs), doc)

    async def list(self, *, order_id: uuid.UUID | None, limit: int, state=None, printer=None, station=None):
        wanted = {"order_id": str(order_id) if order_id else None, "state": state, "printer": printer,
                  "station": station}
        docs = [d for d in self.docs.values() if all(v is None or d[k] == v for k, v in wanted.items())]
        return sorted(docs, key=lambda d: d["created_at"], reverse=True)[:limit]

    async def awaiting(self, *, printer=None, station=None, limit: int = 20) -> list[dict]:
        docs = [
            d for d in self.docs.values()
            if (d["state"] == "rendered" or d.get("reprints_waiting", 0) > 0)
            and (d["station"] == station if station is not None else (d["printer"] == printer and d["station"] is None))
        ]
        return copy.deepcopy(sorted(docs, key=lambda d: d["created_at"])[:limit])

    async def printers_with_work(self) -> list[str]:
        return sorted({d["printer"] for d in self.docs.values()
                       if (d["state"] == "rendered" or d.get("reprints_waiting", 0) > 0) and d["station"] is None})


class _DictCollection:
    """Just enough of a collection for save_document."""

    def __init__(self, docs: dict[str, dict]) -> None:
        self.docs = docs

    async def insert_one(self, doc: dict) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate", code=11000)
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def replace_one(self, query: dict, doc: dict):
        current = self.docs.get(query["_id"])
        matched = current is not None and current["version"] == query["version"]
        if matched:
            self.docs[query["_id"]] = copy.deepcopy(doc)
        return type("Result", (), {"matched_count": int(matched)})()


class FakePrinter:
    """A printer that keeps every document it took; it refuses the first `failures` sends."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.tries = 0
        self.received: list[bytes] = []

    async def send(self, data: bytes) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise PrinterError(f"printer offline (try {self.tries})")
        self.received.append(data)


class RawListener:
    """A real raw-port printer peer on 127.0.0.1: each connection is one job, read until the sender's EOF."""

    def __init__(self, *, read: bool = True) -> None:
        self.read = read
        self.jobs: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> "RawListener":
        self._server = await asyncio.start_server(self._job, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()

    async def wait_for_jobs(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """The jobs received, once there are `count` of them."""
        async with asyncio.timeout(timeout):
            while len(self.jobs) < count:
                await asyncio.sleep(0.01)
        return self.jobs

    async def _job(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if not self.read:
            return  # a jammed printer: accepts the connection, never reads
        self.jobs.append(await reader.read(-1))
        writer.close()


class FakeRenderer:
    """Renders a recognisable stand-in document quickly; `broken` makes it raise like a bad template."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.rendered: list[uuid.UUID] = []

    def use_overrides(self, overrides) -> None:
        pass

    def render(self, command, *, label_format: str = "zpl") -> bytes:
        if self.broken:
            raise ValueError("template exploded")
        self.rendered.append(command.job_id)
        if isinstance(command, PrintPickList):
            return f"pick_list of {command.batch_id}".encode()
        suffix = " (pdf)" if command.document_type == "shipping_label" and label_format == "pdf" else ""
        return f"{command.document_type} of {command.order.details.order_number}{suffix}".encode()


class FakeRegistry:
    """The printer registry in a list."""

    def __init__(self, printers=()) -> None:
        self.configs = list(printers)

    async def printers(self):
        return list(self.configs)


class FakePrinterStatus:
    """Each printer's last outcomes, as the delivery loop records them."""

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[bool, str | None]]] = {}
        self.started: set[tuple[str, str]] = set()
        self.outcomes: dict[tuple[str, str], dict] = {}

    async def record(self, printer: str, *, ok: bool, at, error: str | None) -> None:
        self.seen.setdefault(printer, []).append((ok, error))

    async def begin(self, job_id: str, delivery: str, *, at) -> bool:
        first = (job_id, delivery) not in self.started
        self.started.add((job_id, delivery))
        return first

    async def keep_outcome(self, job_id: str, delivery: str, outcome: dict) -> None:
        self.outcomes[(job_id, delivery)] = outcome

    async def kept_outcome(self, job_id: str, delivery: str) -> dict | None:
        return self.outcomes.get((job_id, delivery))


class Printing:
    """The printing worker in memory: the command consumer, the delivery loop, and RecordDelivery fed back."""

    def __init__(self, *, repo, bus, clock, renderer, printers: dict, policy, registry=None) -> None:
        self.repo, self.bus, self.clock, self.renderer, self.policy = repo, bus, clock, renderer, policy
        self.printers = printers  # URI -> fake printer
        self.registry = registry or FakeRegistry()
        self.status = FakePrinterStatus()
        self.fed = 0
        self.loop = DeliveryLoop(repo=repo, bus=bus, connect=self.connect, status=self.status, policy=policy,
                                 clock=clock)

    def connect(self, uri: str):
        return self.printers[uri]

    @property
    def directory(self) -> Directory:
        return Directory(self.registry, {
            "invoice": INVOICE_PRINTER, "packing_slip": INVOICE_PRINTER, "pick_list": INVOICE_PRINTER,
            "shipping_label": LABEL_PRINTER,
        })

    async def issue(self, envelope, renderer=None) -> None:
        """The consumer handles a print command (renders and queues it)."""
        await handle_print_document(envelope, repo=self.repo, bus=self.bus, renderer=renderer or self.renderer,
                                    directory=self.directory, clock=self.clock)

    async def deliver(self) -> None:
        """The delivery loop sends what waits; the consumer records each RecordDelivery it published."""
        await self.loop.tick()
        await self.loop.wait_idle()
        await self.record_deliveries()

    async def record_deliveries(self) -> None:
        while self.fed < len(self.bus.published):
            envelope, _ = self.bus.published[self.fed]
            self.fed += 1
            if isinstance(envelope.payload, RecordDelivery):
                await handle_record_delivery(envelope, repo=self.repo, bus=self.bus, clock=self.clock)

    async def run(self, envelope, renderer=None) -> None:
        await self.issue(envelope, renderer)
        await self.deliver()

    async def die_after_first_send(self, printer) -> None:
        """Start the delivery loop and kill its tasks (the process dies) once `printer` has taken a document."""
        await self.loop.tick()
        for _ in range(200):
            if printer.received:
                break
            await asyncio.sleep(0.01)
        for task in self.loop._tasks.values():
            task.cancel()
        await self.loop.wait_idle()

    def outcomes(self) -> list:
        return [p for p in self.bus.payloads() if isinstance(p, (JobPrinted, JobFailed))]


def make_order(**overrides) -> OrderSnapshot:
    """An order with two lines, as fulfilment sends it to print; keyword overrides change its details."""
    values = dict(
        channel="phone",
        channel_order_id=uuid.uuid4().hex,
        order_number="PH-1001",
        buyer=Buyer(name="Ada Lovelace", email="ada@example.org"),
        shipping_address=Address(
            name="Ada Lovelace", line1="12 St James's Square", city="London", postcode="SW1Y 4JH", country="GB"
        ),
        billing_address=Address(
            name="Lord Byron", line1="Newstead Abbey", city="Ravenshead", postcode="NG15 8NA", country="GB"
        ),
        lines=[
            OrderLine(line_id="1", sku="MUG-BLUE", title="Enamel mug, navy", quantity=2, unit_price=Decimal("7.50")),
            OrderLine(line_id="2", sku="TEE-L", title="Organic T-shirt, L", quantity=1, unit_price=Decimal("15.00")),
        ],
        shipping=Shipping(service="Standard", cost=Decimal("3.95")),
        currency="GBP",
        discount=Decimal("1.00"),
        paid=True,
        placed_at="2026-11-28T08:30:00+00:00",
    )
    values.update(overrides)
    return OrderSnapshot(
        order_id=uuid.uuid4(), details=OrderDetails(**values), opened_at=datetime(2026, 11, 28, 8, 31, tzinfo=UTC)
    )


def print_command(
    document_type: str = "shipping_label", order: OrderSnapshot | None = None, revision: int = 1,
    station: str | None = None,
):
    """A print_document command envelope, as fulfilment publishes it."""
    order = order or make_order()
    payload = PrintDocument(
        job_id=print_job_id(order.order_id, document_type, revision),
        document_type=document_type,
        revision=revision,
        order=order,
        carrier="OMS Post",
        tracking_number="OM123456785GB",
        station=station,
    )
    return new_envelope(payload, producer="fulfilment")


def pick_list_command(batch_id: uuid.UUID | None = None, revision: int = 1, station: str | None = None):
    """A print_pick_list command envelope, as fulfilment publishes it."""
    batch_id = batch_id or uuid.uuid4()
    payload = PrintPickList(
        job_id=print_job_id(batch_id, "pick_list", revision),
        batch_id=batch_id,
        revision=revision,
        station=station,
        lines=[
            PickListLine(sku="MUG-BLUE", title="Enamel mug, navy", location="A", bin="A-01", quantity=3,
                         order_numbers=["PH-1001", "PH-1002"]),
            PickListLine(sku="TEE-L", title="Organic T-shirt, L", location="B", bin="B-07", quantity=1,
                         order_numbers=["PH-1002"]),
        ],
    )
    return new_envelope(payload, producer="fulfilment")


@pytest.fixture(name="pick_list_command")
def pick_list_command_fixture():
    """Build a print_pick_list envelope: pick_list_command(batch_id=None, revision=1, station=None)."""
    return pick_list_command


@pytest.fixture
def make_registry():
    """A printer registry holding the given PrinterConfigs: make_registry([config, ...])."""
    return FakeRegistry


@pytest.fixture
def make_printing(repo, bus, clock, renderer, fast_policy):
    """The printing worker in memory: make_printing(printers={uri: fake}, registry=None, policy=None)."""

    def build(printers: dict, registry=None, policy=None) -> Printing:
        return Printing(repo=repo, bus=bus, clock=clock, renderer=renderer, printers=printers,
                        policy=policy or fast_policy, registry=registry)

    return build


@pytest.fixture(name="make_order")
def make_order_fixture():
    """Build an OrderSnapshot; keyword overrides change its details."""
    return make_order


@pytest.fixture(name="print_command")
def print_command_fixture():
    """Build a print_document command envelope: print_command(document_type, order=None, revision=1)."""
    return print_command


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus("printing")


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def printer() -> FakePrinter:
    return FakePrinter()


@pytest.fixture
def renderer() -> FakeRenderer:
    return FakeRenderer()


@pytest.fixture
def make_printers():
    """The fakes behind the configured printer URIs (invoices, packing slips and pick lists on one, labels on the
    other): make_printers(invoice_printer, label_printer=None) -> {uri: printer}."""

    def build(invoice_printer, label_printer=None) -> dict:
        return {INVOICE_PRINTER: invoice_printer, LABEL_PRINTER: label_printer or invoice_printer}

    return build


@pytest.fixture
def fast_policy() -> SendPolicy:
    """Three tries with no waiting, so failure tests run instantly."""
    return SendPolicy(attempts=3, max_backoff_seconds=0)


@pytest.fixture
async def start_listener():
    """Start a RawListener on an ephemeral port: await start_listener(read=False) for a jammed printer."""
    started: list[RawListener] = []

    async def start(read: bool = True) -> RawListener:
        listener = await RawListener(read=read).start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        await listener.stop()


@pytest.fixture
def make_printer():
    """Build a FakePrinter: make_printer(failures=n) refuses its first n sends."""
    return FakePrinter


@pytest.fixture
def make_renderer():
    """Build a FakeRenderer: make_renderer(broken=True) fails like a bad template."""
    return FakeRenderer


class IppEvePrinter:
    """A real IPP Everywhere printer (CUPS' `ippeveprinter`) on 127.0.0.1 that keeps every job in `spool`."""

    def __init__(self, spool: Path, formats: str, instant: bool = True, command: str = "/bin/true") -> None:
        self.spool = spool
        self.formats = formats
        self.instant = instant
        self.command = command
        self.port = _free_port()
        self.log = spool.parent / f"ippeveprinter-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"ipp://127.0.0.1:{self.port}/ipp/print"

    def start(self) -> "IppEvePrinter":
        if shutil.which("ippeveprinter") is None:
            pytest.fail("ippeveprinter is missing: install Debian's cups-ipp-utils (infra/system-deps.sh, as root)")
        dns_sd = subprocess.run([str(START_DNS_SD)], capture_output=True, text=True, check=False)
        if dns_sd.returncode != 0:
            pytest.fail(f"ippeveprinter needs DNS-SD, and {START_DNS_SD.name} failed: {dns_sd.stderr.strip()}")
        self.spool.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                # -c /bin/true "prints" each job at once (the built-in simulation takes ~10 s a job, answering
                # server-error-busy meanwhile); -k keeps every document in the spool directory.
                ["ippeveprinter", "-p", str(self.port), "-d", str(self.spool), "-k",
                 *(["-c", self.command] if self.instant else []), "-f", self.formats, f"OMS Test {self.port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"ippeveprinter exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"ippeveprinter did not listen on port {self.port} within 10 s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    async def wait_for_files(self, count: int, timeout: float = 10.0) -> list[Path]:
        """The documents the printer kept, oldest job first, once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            # "<job id>-<job name>.<ext>"; the .prn files are what the -c command printed, not what we sent.
            files = sorted(
                (f for f in self.spool.iterdir() if f.is_file() and f.suffix != ".prn"),
                key=lambda f: int(f.name.split("-", 1)[0]),
            )
            if len(files) >= count or time.monotonic() > deadline:
                return files
            await asyncio.sleep(0.05)


def _free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def start_ipp_printer(tmp_path):
    """Start a real IPP printer: start_ipp_printer(formats=..., instant=True) -> IppEvePrinter. It fails, never
    skips, when it cannot start. instant=False keeps ippeveprinter's ~10 s simulated printing of each job."""
    started: list[IppEvePrinter] = []

    def start(
        formats: str = "application/pdf,application/octet-stream", instant: bool = True, command: str = "/bin/true"
    ) -> IppEvePrinter:
        printer = IppEvePrinter(tmp_path / f"spool-{len(started)}", formats, instant, command).start()
        started.append(printer)
        return printer

    yield start
    for printer in started:
        printer.stop()


class FakePrinterStore(FakeRegistry):
    """The printer registry as the admin API edits it."""

    async def put(self, printer) -> None:
        self.configs = [p for p in self.configs if p.name != printer.name] + [printer]

    async def delete(self, name: str) -> bool:
        before = len(self.configs)
        self.configs = [p for p in self.configs if p.name != name]
        return len(self.configs) < before


class FakePrinterStatusStore(FakePrinterStatus):
    """Printer states as the admin API reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.state: dict[str, dict] = {}

    async def record(self, printer: str, *, ok: bool, at, error: str | None) -> None:
        await super().record(printer, ok=ok, at=at, error=error)
        entry = self.state.setdefault(printer, {"_id": printer})
        entry.update(online=ok, last_seen_at=at)
        entry.update({"last_success_at": at} if ok else {"last_failure_at": at, "last_error": error})

    async def all(self) -> dict[str, dict]:
        return copy.deepcopy(self.state)


class FakeTemplateStore:
    """Template overrides in a dict."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}

    async def overrides(self) -> dict[str, str]:
        return {key: doc["source"] for key, doc in self.docs.items()}

    async def list(self) -> list[dict]:
        return [{"_id": key, **doc} for key, doc in sorted(self.docs.items())]

    async def put(self, key: str, fields: dict) -> None:
        self.docs[key] = dict(fields)

    async def delete(self, key: str) -> bool:
        return self.docs.pop(key, None) is not None


class FakeStationStore:
    """Stations with hashed keys, and when each was last seen."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}
        self.seen_at: dict[str, object] = {}

    async def create(self, name: str, key: str, *, at) -> None:
        from printing.adapters.registry import key_hash

        self.docs[name] = {"_id": name, "key_sha256": key_hash(key), "revoked": False, "created_at": at}

    async def revoke(self, name: str, *, at) -> bool:
        if name not in self.docs:
            return False
        self.docs[name]["revoked"] = True
        return True

    async def get(self, name: str):
        return copy.deepcopy(self.docs.get(name))

    async def list(self) -> list[dict]:
        return [{**doc, **({"last_seen_at": self.seen_at[n]} if n in self.seen_at else {})}
                for n, doc in sorted(self.docs.items())]

    async def authenticate(self, name: str, key: str) -> str:
        from printing.adapters.registry import key_hash

        doc = self.docs.get(name)
        if doc is None or doc["key_sha256"] != key_hash(key):
            return "unknown"
        return "revoked" if doc["revoked"] else "ok"

    async def seen(self, name: str, *, at) -> None:
        self.seen_at[name] = at


class LoopbackBus(RecordingBus):
    """Records what it publishes and, like the worker, records each RecordDelivery on the job at once."""

    def __init__(self, repo, clock) -> None:
        super().__init__("printing")
        self.repo, self.clock = repo, clock

    async def publish(self, envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        if isinstance(envelope.payload, RecordDelivery):
            await handle_record_delivery(envelope, repo=self.repo, bus=self, clock=self.clock)


@pytest.fixture
def stores():
    """Fakes of printing's configuration stores: printers, printer_status, templates, stations."""
    from types import SimpleNamespace

    return SimpleNamespace(printers=FakePrinterStore(), printer_status=FakePrinterStatusStore(),
                           templates=FakeTemplateStore(), stations=FakeStationStore())


@pytest.fixture
def loopback_bus(repo, clock) -> LoopbackBus:
    return LoopbackBus(repo, clock)
