"""Printing on the real broker and database, with real printer peers: the system's printing service (API +
worker), fed the print commands fulfilment publishes, printers registered through its API.

- a batch's pick list and an invoice reach a real IPP printer (`ippeveprinter`), the ZPL label a raw 9100
  listener, each printer chosen by the registry;
- a printer that drops the connection mid-job is retried then printed, or failed with the reason;
- templates: a broken one is refused 422 with its line, a channel's override is used and previews as PNG;
- a station agent receives exactly its own jobs, survives kill -9 mid-queue with no job lost or doubled, and a
  revoked station gets nothing.
"""

import asyncio
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from faststream.kafka import KafkaBroker

from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import PickListLine, PrintDocument, PrintPickList, print_job_id
from oms_platform.messaging import Bus

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
START_DNS_SD = REPO / "services/printing/tests/start-dns-sd.sh"


async def eventually(check, *, timeout: float = 30.0, what: str = ""):
    """Poll `check` until it returns something truthy, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DroppingProxy(socketserver.ThreadingTCPServer):
    """A printer that drops the connection mid-job: the first `drops` connections read part of the request and
    are reset; later ones are passed through to the real printer at `upstream`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: int, drops: int) -> None:
        self.drops = drops
        self.dropped = 0
        proxy = self

        class Connection(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if proxy.dropped < proxy.drops:
                    proxy.dropped += 1
                    self.request.recv(1500)  # the start of the job...
                    self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.request.close()  # ...then a reset
                    return
                with socket.create_connection(("127.0.0.1", upstream)) as up:
                    threading.Thread(target=_pipe, args=(up, self.request), daemon=True).start()
                    _pipe(self.request, up)
                    time.sleep(0.5)

        super().__init__(("127.0.0.1", 0), Connection)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}/ipp/print"


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class IppPrinter:
    """CUPS' ippeveprinter, keeping every job in `spool`."""

    def __init__(self, spool: Path) -> None:
        self.spool, self.port = spool, _free_port()
        if shutil.which("ippeveprinter") is None:
            pytest.fail("ippeveprinter is missing: install Debian's cups-ipp-utils (infra/system-deps.sh)")
        started = subprocess.run([str(START_DNS_SD)], capture_output=True, text=True)
        if started.returncode:
            pytest.fail(f"ippeveprinter needs DNS-SD: {started.stderr.strip()}")
        spool.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["ippeveprinter", "-p", str(self.port), "-d", str(spool), "-k", "-c", "/bin/true",
             "-f", "application/pdf,application/octet-stream", f"OMS IT {self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    pytest.fail("ippeveprinter did not start")
                time.sleep(0.05)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}/ipp/print"

    def documents(self) -> list[bytes]:
        return [f.read_bytes() for f in sorted(self.spool.iterdir()) if f.is_file() and f.suffix != ".prn"]


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


@pytest.fixture
def printing(system, printer) -> dict:
    """The printing service of the running system; its configured (fallback) printers are the session's raw
    printer."""
    return {"url": system.url("printing"), "fallback": printer}


@pytest.fixture
def keys(api_keys) -> dict[str, str]:
    return api_keys


@pytest.fixture
async def bus(endpoints):
    broker = KafkaBroker(endpoints[0])
    await broker.connect()
    yield Bus(broker, "fulfilment")
    await broker.stop()


def admin(keys) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=30)


def snapshot(number: str, *, channel: str = "phone", notes: str | None = None) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=uuid.uuid4(),
        details=OrderDetails(
            channel=channel, channel_order_id=number, order_number=number,
            buyer=Buyer(name="Grace Hopper", email="grace@example.org"),
            shipping_address=Address(name="Grace Hopper", line1="1 Harbour Way", city="Leeds", postcode="LS1 4AP",
                                     country="GB"),
            lines=[OrderLine(line_id="1", sku="MUG-BLUE", title="Enamel mug, navy", quantity=2,
                             unit_price=Decimal("7.50"))],
            shipping=Shipping(service="Tracked 48", cost=Decimal("3.95")), currency="GBP", paid=True, notes=notes,
        ),
        opened_at=datetime.now(UTC),
    )


async def print_document(bus: Bus, document_type: str, order: OrderSnapshot, *, station: str | None = None,
                         tracking: str = "OM123456785GB") -> uuid.UUID:
    job_id = print_job_id(order.order_id, document_type, 1)
    command = PrintDocument(job_id=job_id, document_type=document_type, order=order, carrier="OMS Post",
                            tracking_number=tracking, station=station)
    await bus.publish(bus.envelope(command), key=str(job_id))
    return job_id


async def settled(client: httpx.AsyncClient, url: str, job_id: uuid.UUID, timeout: float = 90) -> dict:
    async def check():
        answer = await client.get(f"{url}/print-jobs/{job_id}")
        return answer.json() if answer.status_code == 200 and answer.json()["state"] in ("printed", "failed") else None

    return await eventually(check, timeout=timeout, what=f"print job {job_id} settled")


class TestRegistryAndRealPrinters:
    async def test_a_batch_pick_list_invoice_and_label_reach_the_printers_the_registry_names(
        self, printing, keys, bus, tmp_path, raw_spool
    ):
        url, ipp, thermal = printing["url"], IppPrinter(tmp_path / "ipp"), raw_spool()
        try:
            async with admin(keys) as client:
                for name, protocol, address, types in (
                    ("office", "ipp", ipp.address, ["invoice", "pick_list"]),
                    ("thermal", "raw9100", thermal.address, ["shipping_label"]),
                ):
                    body = {"name": name, "protocol": protocol, "address": address, "document_types": types}
                    assert (await client.put(f"{url}/printers/{name}", json=body)).status_code == 200
                batch = uuid.uuid4()
                pick = PrintPickList(
                    job_id=print_job_id(batch, "pick_list", 1), batch_id=batch,
                    lines=[PickListLine(sku="MUG-BLUE", title="Enamel mug, navy", location="A", bin="A-01",
                                        quantity=2, order_numbers=["IT-7001"]),
                           PickListLine(sku="MUG-BLUE", title="Enamel mug, navy", location="B", bin="B-02",
                                        quantity=3, order_numbers=["IT-7002"])],
                )
                await bus.publish(bus.envelope(pick), key=str(pick.job_id))
                order = snapshot("IT-7001", notes="Fragile: double box")
                invoice = await print_document(bus, "invoice", order)
                label = await print_document(bus, "shipping_label", order, tracking="OM987654321GB")
                jobs = [await settled(client, url, job) for job in (pick.job_id, invoice, label)]
                assert [job["state"] for job in jobs] == ["printed"] * 3
                assert jobs[0]["order_id"] == str(batch) and jobs[0]["document_type"] == "pick_list"
                assert [h["state"] for h in jobs[1]["history"]] == ["queued", "rendered", "sent", "printed"]
                texts = [pdf_text(document) for document in ipp.documents()]
                assert len(texts) == 2
                pick_text = next(t for t in texts if "Pick list" in t)
                assert str(batch) in pick_text and "IT-7001, IT-7002" in pick_text
                assert any(row.split()[:1] == ["MUG-BLUE"] and row.split()[-1] == "5" for row in pick_text.splitlines())
                invoice_text = next(t for t in texts if "Invoice" in t)
                assert "IT-7001" in invoice_text and "1 Harbour Way" in invoice_text and "£18.95" in invoice_text
                assert "Fragile: double box" in invoice_text
                [zpl] = thermal.jobs
                assert zpl.startswith(b"^XA") and b"^BC" in zpl and b"OM987654321GB" in zpl
                printers = {p["name"]: p for p in (await client.get(f"{url}/printers")).json()}
                assert printers["office"]["online"] is True and printers["office"]["last_success_at"]
        finally:
            ipp.process.terminate()
            async with admin(keys) as client:
                for name in ("office", "thermal"):
                    await client.delete(f"{url}/printers/{name}")

    async def test_a_printer_that_drops_the_connection_mid_job_is_retried_then_printed_or_failed_with_the_reason(
        self, printing, keys, bus, tmp_path
    ):
        url, ipp = printing["url"], IppPrinter(tmp_path / "ipp")
        flaky, dead = DroppingProxy(ipp.port, drops=2), DroppingProxy(ipp.port, drops=99)
        body = {"name": "slips", "protocol": "ipp", "address": flaky.address, "document_types": ["packing_slip"]}
        try:
            async with admin(keys) as client:
                assert (await client.put(f"{url}/printers/slips", json=body)).status_code == 200
                job = await settled(client, url, await print_document(bus, "packing_slip", snapshot("IT-7101")))
                assert job["state"] == "printed" and flaky.dropped == 2
                sent = next(h for h in job["history"] if h["state"] == "sent")
                assert sent["note"] == "after 3 tries"
                assert len(ipp.documents()) == 1

                assert (await client.put(f"{url}/printers/slips", json={**body, "address": dead.address})).is_success
                job = await settled(client, url, await print_document(bus, "packing_slip", snapshot("IT-7102")))
                assert job["state"] == "failed" and "after 3 attempt(s)" in job["reason"]
                assert [h["state"] for h in job["history"]] == ["queued", "rendered", "failed"]
                [slips] = [p for p in (await client.get(f"{url}/printers")).json() if p["name"] == "slips"]
                assert slips["online"] is False and "after 3 attempt(s)" in slips["last_error"]
        finally:
            ipp.process.terminate()
            async with admin(keys) as client:
                await client.delete(f"{url}/printers/slips")


class TestReprintOnANetworkPrinter:
    async def test_a_reprint_is_sent_by_the_delivery_loop_once_and_answered_with_what_became_of_it(
        self, printing, keys, bus, raw_spool
    ):
        url, thermal = printing["url"], raw_spool()
        body = {"name": "reprint-thermal", "protocol": "raw9100", "address": thermal.address,
                "document_types": ["shipping_label"]}
        try:
            async with admin(keys) as client:
                assert (await client.put(f"{url}/printers/reprint-thermal", json=body)).status_code == 200
                order = snapshot("IT-7301")
                job_id = await print_document(bus, "shipping_label", order, tracking="OM555000111GB")
                assert (await settled(client, url, job_id))["state"] == "printed"
                headers = {"Idempotency-Key": f"reprint-{job_id}"}
                for _ in range(2):  # the same key again: the same reprint, printed once
                    answer = await client.post(f"{url}/print-jobs/{job_id}/reprint", json={"reason": "torn"},
                                               headers=headers)
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["state"] == "printed" and answer.json()["job"]["reprints"] == 1
                first, again = thermal.jobs
                assert again == first and b"OM555000111GB" in first
                waiting, printed = [h["note"] for h in answer.json()["job"]["history"]][-2:]
                assert waiting.startswith("reprint waiting for printer ") and ": torn by " in waiting
                assert printed.startswith("reprinted: torn by ")
        finally:
            async with admin(keys) as client:
                await client.delete(f"{url}/printers/reprint-thermal")


class TestTemplates:
    async def test_a_broken_template_is_refused_and_a_channels_override_prints_and_previews(
        self, printing, keys, bus
    ):
        url = printing["url"]
        async with admin(keys) as client:
            broken = await client.put(f"{url}/templates/invoice", params={"channel": "itshop"},
                                      json={"source": "<p>{{ order.order_number }}</p>\n<p>{{ order.nope() }}</p>"})
            assert broken.status_code == 422
            assert broken.json()["detail"]["line"] == 2 and "nope" in broken.json()["detail"]["reason"]
            source = "<h1>ITSHOP INVOICE {{ order.order_number }}</h1>"
            saved = await client.put(f"{url}/templates/invoice", params={"channel": "itshop"}, json={"source": source})
            assert saved.status_code == 200 and saved.json()["key"] == "invoice@itshop@*"
            png = await client.post(f"{url}/templates/invoice/preview", json={"channel": "itshop", "format": "png"})
            assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
            pdf = await client.post(f"{url}/templates/invoice/preview", json={"channel": "itshop"})
            assert "ITSHOP INVOICE SAMPLE-1001" in pdf_text(pdf.content)
            job = await settled(client, url, await print_document(bus, "invoice", snapshot("IT-7201", channel="itshop")))
            assert job["state"] == "printed"
            other = await settled(client, url, await print_document(bus, "invoice", snapshot("IT-7202")))
            assert other["state"] == "printed"
            documents = [path.read_bytes() for path in printing["fallback"].jobs()]
            texts = [pdf_text(d) for d in documents if d.startswith(b"%PDF")]
            assert any("ITSHOP INVOICE IT-7201" in t for t in texts)
            [plain] = [t for t in texts if "IT-7202" in t]
            assert "ITSHOP" not in plain and "Invoice" in plain
            await client.delete(f"{url}/templates/invoice", params={"channel": "itshop"})


class TestStations:
    async def test_a_station_gets_exactly_its_own_jobs_across_a_kill_and_a_revoked_one_gets_none(
        self, printing, keys, bus, tmp_path, raw_spool
    ):
        url = printing["url"]
        bench = raw_spool()
        name, other = f"bench-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
        async with admin(keys) as client:
            key = (await client.post(f"{url}/stations", json={"name": name})).json()["key"]
            other_key = (await client.post(f"{url}/stations", json={"name": other})).json()["key"]
            body = {"name": name, "protocol": "raw9100", "address": bench.address, "station": name,
                    "document_types": ["invoice", "shipping_label"], "label_format": "pdf"}
            assert (await client.put(f"{url}/printers/{name}", json=body)).status_code == 200
            journal = tmp_path / "station.journal"

            def agent(station: str, station_key: str) -> subprocess.Popen:
                return subprocess.Popen(
                    [sys.executable, "-m", "printing", "station", "--name", station, "--key", station_key,
                     "--api", url, "--journal", str(journal if station == name else tmp_path / "other.journal"),
                     "--wait", "2"],
                    stdout=(tmp_path / f"{station}.log").open("ab"), stderr=subprocess.STDOUT,
                )

            orders = [snapshot(f"IT-73{n:02d}") for n in range(5)]
            first = [await print_document(bus, "invoice", o, station=name) for o in orders[:2]]
            foreign = await print_document(bus, "invoice", orders[4], station=other)
            running = agent(name, key)
            try:
                await eventually(lambda: _count(bench, 2), timeout=90, what="the first two jobs at the bench")
                # Killed once both are journaled: a kill between the printer taking a job and its journal line is
                # the agent's one documented window of a second copy (on a loaded machine it is wide enough to hit).
                await eventually(lambda: _journaled(journal, 2), timeout=30, what="both jobs journaled")
                running.send_signal(signal.SIGKILL)  # mid-queue: more jobs are coming while it is down
                running.wait()
                later = [await print_document(bus, "invoice", orders[2], station=name),
                         await print_document(bus, "shipping_label", orders[3], station=name)]
                waiting = await eventually(
                    lambda: _states(client, url, later, {"rendered"}), timeout=90, what="jobs waiting for the station")
                assert waiting
                running = agent(name, key)
                for job_id in first + later:
                    assert (await settled(client, url, job_id))["state"] == "printed"
            finally:
                running.kill()
                running.wait()
            assert len(bench.jobs) == 4  # none lost, none doubled
            numbers = sorted(o.details.order_number for o in orders[:4])
            assert sorted(n for n in numbers if any(n.encode() in job or _in_pdf(n, job) for job in bench.jobs)) == numbers
            assert (await client.get(f"{url}/print-jobs/{foreign}")).json()["state"] == "rendered"
            stations = {s["name"]: s for s in (await client.get(f"{url}/stations")).json()}
            assert stations[name]["last_seen_at"] is not None

            revoked = await client.post(f"{url}/stations/{other}/revoke")
            assert revoked.status_code == 200 and revoked.json()["revoked"] is True
            refused = await httpx.AsyncClient().get(f"{url}/stations/{other}/jobs",
                                                    headers={"Authorization": f"Bearer {other_key}"})
            assert refused.status_code == 403
            wrong = await httpx.AsyncClient().get(f"{url}/stations/{name}/jobs",
                                                  headers={"Authorization": f"Bearer {other_key}"})
            assert wrong.status_code == 401
            gone = agent(other, other_key)
            assert gone.wait(timeout=90) == 3
            assert (await client.get(f"{url}/print-jobs/{foreign}")).json()["state"] == "rendered"


async def _count(spool, n: int) -> bool:
    return len(spool.jobs) >= n


async def _journaled(journal: Path, n: int) -> bool:
    return journal.exists() and len(journal.read_text().splitlines()) >= n


async def _states(client, url, job_ids, states) -> bool:
    answers = [await client.get(f"{url}/print-jobs/{job_id}") for job_id in job_ids]
    return all(a.status_code == 200 and a.json()["state"] in states for a in answers)


def _in_pdf(number: str, document: bytes) -> bool:
    return document.startswith(b"%PDF") and number in pdf_text(document)
