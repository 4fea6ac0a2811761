"""Reprinting a job a print station printed, on the real broker and database with a real station agent
(`python -m printing station`) printing to a raw 9100 printer peer at its bench:

- staff reprint the printed job through the API with a reason; it goes back into that station's queue as a reprint
  of its own, the station prints it exactly once and acknowledges it; the job stays printed, its history says
  "reprinted: <reason> by <who>" and its reprint count goes up;
- the same Idempotency-Key again is the same reprint: nothing more prints;
- reprints queued while the agent is down, and the agent killed again mid-queue, each print exactly once;
- a revoked station gets no reprint (its agent is refused; reprinting for it is refused 409).
"""

import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from faststream.kafka import KafkaBroker

from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import PrintDocument, print_job_id
from oms_platform.messaging import Bus

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus(endpoints):
    broker = KafkaBroker(endpoints[0])
    await broker.connect()
    yield Bus(broker, "fulfilment")
    await broker.stop()


def snapshot(number: str) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=uuid.uuid4(),
        details=OrderDetails(
            channel="phone", channel_order_id=number, order_number=number,
            buyer=Buyer(name="Ada Lovelace", email="ada@example.org"),
            shipping_address=Address(name="Ada Lovelace", line1="12 St James's Square", city="London",
                                     postcode="SW1Y 4JH", country="GB"),
            lines=[OrderLine(line_id="1", sku="MUG-BLUE", title="Enamel mug, navy", quantity=1,
                             unit_price=Decimal("7.50"))],
            shipping=Shipping(service="Tracked 48", cost=Decimal("3.95")), currency="GBP", paid=True,
        ),
        opened_at=datetime.now(UTC),
    )


async def print_at_station(bus: Bus, order: OrderSnapshot, station: str) -> uuid.UUID:
    """Issue an invoice print job for the station, as fulfilment does at the pack station."""
    job_id = print_job_id(order.order_id, "invoice", 1)
    command = PrintDocument(job_id=job_id, document_type="invoice", order=order, carrier="OMS Post",
                            tracking_number="OM123456785GB", station=station)
    await bus.publish(bus.envelope(command), key=str(job_id))
    return job_id


class Agent:
    """A station agent process, with its journal (kept across restarts) and log."""

    def __init__(self, url: str, name: str, key: str, tmp_path: Path) -> None:
        self.url, self.name, self.key, self.tmp_path = url, name, key, tmp_path
        self.journal = tmp_path / f"{name}.journal"
        self.out = tmp_path / f"{name}-out"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Agent":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "printing", "station", "--name", self.name, "--key", self.key, "--api", self.url,
             "--journal", str(self.journal), "--out", str(self.out), "--wait", "2"],
            stdout=(self.tmp_path / f"{self.name}.log").open("ab"), stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def journaled(self, reprint_id: str) -> bool:
        return self.journal.exists() and f":reprint:{reprint_id}" in self.journal.read_text()


class TestReprintingAStationsJob:
    async def test_it_prints_once_at_the_station_across_restarts_and_a_revoked_station_gets_none(
        self, system, api_keys, bus, tmp_path, raw_spool, wait_for
    ):
        url = system.url("printing")
        admin = {"Authorization": f"Bearer {api_keys['admin']}"}
        bench = raw_spool()
        name = f"rp-{uuid.uuid4().hex[:6]}"
        async with httpx.AsyncClient(headers=admin, timeout=60) as client:
            created = await client.post(f"{url}/stations", json={"name": name})
            assert created.status_code == 201
            body = {"name": name, "protocol": "raw9100", "address": bench.address, "station": name,
                    "document_types": ["invoice"]}
            assert (await client.put(f"{url}/printers/{name}", json=body)).status_code == 200

            async def job(job_id) -> dict:
                return (await client.get(f"{url}/print-jobs/{job_id}")).json()

            async def reprint(job_id, reason: str, key: str | None = None) -> httpx.Response:
                headers = {"Idempotency-Key": key} if key else {}
                return await client.post(f"{url}/print-jobs/{job_id}/reprint", json={"reason": reason},
                                         headers=headers)

            async def polled_since(moment: datetime) -> bool:
                """The agent asked for its jobs after `moment` (so it saw any reprint queued before it)."""
                stations = {s["name"]: s for s in (await client.get(f"{url}/stations")).json()}
                seen = stations[name]["last_seen_at"]
                return seen is not None and datetime.fromisoformat(seen) > moment

            job_id = await print_at_station(bus, snapshot(f"RP-{uuid.uuid4().hex[:6]}"), name)
            agent = Agent(url, name, created.json()["key"], tmp_path).start()
            try:
                await wait_for(lambda: _printed(job, job_id), what="the job printed at the station")
                assert len(bench.jobs) == 1

                # A reprint with a reason: back into the station's queue, printed there once.
                first = await reprint(job_id, "label smudged", key="rp-key-1")
                assert first.status_code == 202 and first.json()["state"] in ("waiting", "pending")
                reprint_id = first.json()["command_id"]
                done = await wait_for(lambda: _reprints(job, job_id, 1), what="the reprint printed")
                assert bench.jobs == [bench.jobs[0]] * 2  # the very document that printed first
                assert done["state"] == "printed" and done["attempts"] == 1
                who = "admin-key-1"  # the name the API gives the caller's admin key
                notes = [h["note"] for h in done["history"]]
                assert notes[-2:] == [f"reprint waiting for station {name}: label smudged by {who}",
                                      f"reprinted: label smudged by {who}"]
                asked, printed = (datetime.fromisoformat(h["at"]) for h in done["history"][-2:])
                assert asked <= printed
                [record] = done["reprint_requests"]
                assert record["reprint_id"] == reprint_id and record["state"] == "printed"
                assert record["printer"] == f"socket://{bench.address}"

                # The same Idempotency-Key asks for the same reprint: answered with it, nothing more prints.
                again = await reprint(job_id, "label smudged", key="rp-key-1")
                assert again.status_code == 200 and again.json()["command_id"] == reprint_id
                assert again.json()["state"] == "printed"
                asked_again = datetime.now(UTC)
                await wait_for(lambda: polled_since(asked_again), what="the agent polling after the repeat")
                assert len(bench.jobs) == 2 and (await job(job_id))["reprints"] == 1

                # Reprints queued while the agent is down wait for it; killed again mid-queue, each prints once.
                agent.kill()
                queued = []
                for n in range(3):
                    answer = await reprint(job_id, f"copy {n} for the courier")
                    assert answer.status_code == 202
                    queued.append(answer.json()["command_id"])
                waiting = await job(job_id)
                assert waiting["state"] == "printed" and waiting["reprints"] == 1
                assert [r["state"] for r in waiting["reprint_requests"][1:]] == ["waiting"] * 3
                agent.start()
                await wait_for(lambda: _true(agent.journaled(queued[0])), interval=0.01,
                                 what="the first queued reprint journaled")
                agent.kill()  # mid-queue: the other two are still to print (or to acknowledge)
                agent.start()
                done = await wait_for(lambda: _reprints(job, job_id, 4), what="every queued reprint printed")
                restarted = datetime.now(UTC)
                await wait_for(lambda: polled_since(restarted), what="the agent polling again")
                assert len(bench.jobs) == 5  # the first print and four reprints: none lost, none doubled
                notes = [h["note"] or "" for h in done["history"]]
                assert sum(note.startswith("reprinted: copy ") for note in notes) == 3
                assert [r["state"] for r in done["reprint_requests"]] == ["printed"] * 4
                assert done["state"] == "printed" and done["attempts"] == 1
            finally:
                agent.kill()

            # A revoked station gets no reprint: a reprint waiting for it stays waiting, and new ones are refused.
            waiting = await reprint(job_id, "smudged")
            assert waiting.status_code == 202
            assert (await client.post(f"{url}/stations/{name}/revoke")).json()["revoked"] is True
            agent.start()
            try:
                assert agent.process.wait(timeout=60) == 3  # the agent stops: its key was revoked
            finally:
                agent.kill()
            after = await wait_for(lambda: _reprints_asked(job, job_id, 5), what="the fifth reprint recorded")
            assert after["reprint_requests"][-1]["state"] == "waiting" and after["reprints"] == 4
            assert len(bench.jobs) == 5
            again = await reprint(job_id, "smudged again")
            assert again.status_code == 409 and "revoked" in again.json()["detail"]


async def _printed(job, job_id) -> dict | None:
    found = await job(job_id)
    return found if found.get("state") == "printed" else None


async def _reprints(job, job_id, count: int) -> dict | None:
    found = await job(job_id)
    return found if found.get("reprints") == count else None


async def _reprints_asked(job, job_id, count: int) -> dict | None:
    found = await job(job_id)
    return found if len(found.get("reprint_requests", [])) == count else None


async def _true(value: bool) -> bool:
    return value
