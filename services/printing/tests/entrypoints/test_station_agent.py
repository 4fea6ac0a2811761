"""The station agent against the station API (in-process ASGI) and the real print handlers with fakes: it gets
only its station's jobs, prints each once across restarts (its journal), and a refused key stops it."""

import base64
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from printing.entrypoints.station_api import station_router
from printing.station import Journal, Refused, StationAgent


@pytest.fixture
async def keys(stores) -> dict[str, str]:
    await stores.stations.create("bench-1", "key-one-0123456789", at=datetime.now(UTC))
    await stores.stations.create("bench-2", "key-two-0123456789", at=datetime.now(UTC))
    return {"bench-1": "key-one-0123456789", "bench-2": "key-two-0123456789"}


@pytest.fixture
def transport(repo, stores, loopback_bus, clock) -> httpx.ASGITransport:
    app = FastAPI()
    app.include_router(station_router(repo=repo, stations=stores.stations, bus=loopback_bus, clock=clock,
                                      max_wait_seconds=0.2, ack_wait_seconds=1))
    return httpx.ASGITransport(app=app)


@pytest.fixture
def make_agent(transport, tmp_path):
    def build(name: str, key: str, journal=None) -> StationAgent:
        return StationAgent(api="http://test", name=name, key=key, journal=journal or Journal(tmp_path / f"{name}.j"),
                            out=tmp_path / name, default_printer=None, wait=0, transport=transport)

    return build


@pytest.fixture
async def queued(make_printing, make_printers, printer, print_command, make_order):
    """Issue print commands for stations (the consumer renders and queues them); the job ids."""
    printing = make_printing(make_printers(printer))

    async def issue(station: str, document_type: str = "invoice"):
        command = print_command(document_type, order=make_order(), station=station)
        await printing.issue(command)
        return str(command.payload.job_id)

    return issue


class TestTheAgent:
    async def test_it_prints_exactly_its_own_jobs_and_acknowledges_each(
        self, make_agent, keys, queued, repo, tmp_path, loopback_bus
    ):
        mine = [await queued("bench-1"), await queued("bench-1", "shipping_label")]
        theirs = await queued("bench-2")
        (tmp_path / "bench-1").mkdir()
        agent = make_agent("bench-1", keys["bench-1"])
        assert await agent.poll_once() == 2
        files = sorted(p.name for p in (tmp_path / "bench-1").iterdir())
        assert len(files) == 2 and all(any(j in f for j in mine) for f in files)
        assert [repo.docs[j]["state"] for j in mine] == ["printed", "printed"]
        assert repo.docs[theirs]["state"] == "rendered"
        assert await agent.poll_once() == 0  # nothing left for this station
        printed = [p for p in loopback_bus.payloads() if type(p).__name__ == "JobPrinted"]
        assert len(printed) == 2 and {p.printer for p in printed} == {f"folder:{tmp_path / 'bench-1'}"}

    async def test_after_a_crash_between_printing_and_acknowledging_it_acknowledges_without_printing_again(
        self, make_agent, keys, queued, repo, tmp_path, transport
    ):
        job_id = await queued("bench-1")
        journal = Journal(tmp_path / "bench-1.j")
        journal.record(f"{job_id}:1", {"printed": True, "printer": "folder:elsewhere"})  # printed, then it died
        restarted = make_agent("bench-1", keys["bench-1"], journal=Journal(tmp_path / "bench-1.j"))
        assert await restarted.poll_once() == 1
        assert not (tmp_path / "bench-1").exists() or not any((tmp_path / "bench-1").iterdir())
        assert repo.docs[job_id]["state"] == "printed"

    async def test_an_acknowledgement_sent_twice_is_recorded_once(
        self, make_agent, keys, queued, repo, tmp_path, loopback_bus, transport
    ):
        job_id = await queued("bench-1")
        (tmp_path / "bench-1").mkdir()
        await make_agent("bench-1", keys["bench-1"]).poll_once()
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            again = await client.post(f"/stations/bench-1/jobs/{job_id}/ack",
                                      json={"attempt": 1, "printed": True, "printer": "x"},
                                      headers={"Authorization": f"Bearer {keys['bench-1']}"})
        assert again.status_code == 200 and again.json()["state"] == "printed"
        assert len([p for p in loopback_bus.payloads() if type(p).__name__ == "JobPrinted"]) == 1

    async def test_a_station_cannot_acknowledge_another_stations_job(self, keys, queued, transport):
        theirs = await queued("bench-2")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post(f"/stations/bench-1/jobs/{theirs}/ack",
                                       json={"attempt": 1, "printed": True, "printer": "x"},
                                       headers={"Authorization": f"Bearer {keys['bench-1']}"})
        assert answer.status_code == 404

    async def test_a_revoked_key_gets_403_and_stops_the_agent_and_an_unknown_one_401(
        self, make_agent, keys, queued, stores, repo
    ):
        job_id = await queued("bench-1")
        await stores.stations.revoke("bench-1", at=datetime.now(UTC))
        with pytest.raises(Refused, match="403"):
            await make_agent("bench-1", keys["bench-1"]).poll_once()
        with pytest.raises(Refused, match="401"):
            await make_agent("bench-2", keys["bench-1"]).poll_once()
        with pytest.raises(Refused, match="401"):
            await make_agent("bench-9", "no-such-key-0123").poll_once()
        assert repo.docs[job_id]["state"] == "rendered"

    async def test_a_job_the_station_cannot_print_fails_with_its_reason(
        self, keys, queued, repo, transport, tmp_path
    ):
        job_id = await queued("bench-1")
        agent = StationAgent(api="http://test", name="bench-1", key=keys["bench-1"], journal=Journal(tmp_path / "j"),
                             out=None, default_printer="socket://127.0.0.1:1", wait=0, transport=transport,
                             printer_timeout=1)
        await agent.poll_once()
        job = repo.docs[job_id]["job"]
        assert job["state"] == "failed" and "socket://127.0.0.1:1" in job["reason"]

    async def test_a_poll_is_the_stations_heartbeat(self, make_agent, keys, stores):
        await make_agent("bench-1", keys["bench-1"]).poll_once()
        assert "bench-1" in stores.stations.seen_at


class TestTheJobAStationReceives:
    async def test_it_carries_the_rendered_document_and_its_type(self, keys, queued, repo, transport):
        job_id = await queued("bench-1", "shipping_label")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            [job] = (await client.get("/stations/bench-1/jobs",
                                      headers={"Authorization": f"Bearer {keys['bench-1']}"})).json()
        assert job["job_id"] == job_id and job["attempt"] == 1 and job["printer"] is None
        assert base64.b64decode(job["document_base64"]) == b"shipping_label of PH-1001 (pdf)"


@pytest.fixture
def reprint(repo, clock, fast_policy, make_printing, make_printers, printer):
    """The worker handles a reprint command for a job; the command (its id is the reprint's id)."""
    from oms_contracts import new_envelope
    from oms_contracts.printing.v1 import ReprintJob
    from printing.service_layer.handlers import handle_reprint_job

    printing = make_printing(make_printers(printer))

    async def run(job_id: str, reason: str = "label smudged"):
        command = new_envelope(ReprintJob(job_id=job_id, reason=reason, requested_by="ops-key-1"), producer="api")
        await handle_reprint_job(command, repo=repo, clock=clock,
                                 directory=printing.directory)
        return command.event_id

    return run


class TestReprints:
    async def test_a_reprint_comes_as_a_delivery_of_its_own_and_prints_once(
        self, make_agent, keys, queued, reprint, repo, tmp_path
    ):
        job_id = await queued("bench-1")
        (tmp_path / "bench-1").mkdir()
        agent = make_agent("bench-1", keys["bench-1"])
        assert await agent.poll_once() == 1
        reprint_id = await reprint(job_id)
        assert await agent.poll_once() == 1
        assert await agent.poll_once() == 0
        files = sorted(p.name for p in (tmp_path / "bench-1").iterdir())
        assert files == sorted([f"invoice-{job_id}-1.zpl", f"invoice-{job_id}-reprint-{reprint_id}.zpl"])
        job = repo.docs[job_id]["job"]
        assert job["state"] == "printed" and job["reprints"] == 1 and job["attempts"] == 1
        assert job["history"][-1]["note"] == "reprinted: label smudged by ops-key-1"
        assert job["reprint_requests"][0]["printer"] == f"folder:{tmp_path / 'bench-1'}"

    async def test_a_restarted_agent_acknowledges_a_journaled_reprint_without_printing_it_again(
        self, make_agent, keys, queued, reprint, repo, tmp_path
    ):
        job_id = await queued("bench-1")
        (tmp_path / "bench-1").mkdir()
        await make_agent("bench-1", keys["bench-1"]).poll_once()
        reprint_id = await reprint(job_id)
        journal = Journal(tmp_path / "bench-1.j")
        journal.record(f"{job_id}:reprint:{reprint_id}", {"printed": True, "printer": "folder:x"})  # then it died
        restarted = make_agent("bench-1", keys["bench-1"], journal=Journal(tmp_path / "bench-1.j"))
        assert await restarted.poll_once() == 1
        assert [p.name for p in (tmp_path / "bench-1").iterdir()] == [f"invoice-{job_id}-1.zpl"]
        assert repo.docs[job_id]["job"]["reprints"] == 1

    async def test_a_reprint_acknowledged_twice_counts_once_and_an_unknown_one_is_404(
        self, make_agent, keys, queued, reprint, repo, transport, tmp_path
    ):
        job_id = await queued("bench-1")
        (tmp_path / "bench-1").mkdir()
        await make_agent("bench-1", keys["bench-1"]).poll_once()
        reprint_id = await reprint(job_id)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"Authorization": f"Bearer {keys['bench-1']}"}
            for _ in range(2):
                answer = await client.post(f"/stations/bench-1/jobs/{job_id}/ack", headers=headers, json={
                    "attempt": 1, "printed": True, "printer": "x", "reprint": str(reprint_id)})
                assert answer.status_code == 200 and answer.json()["reprints"] == 1
            unknown = await client.post(f"/stations/bench-1/jobs/{job_id}/ack", headers=headers, json={
                "attempt": 1, "printed": True, "printer": "x", "reprint": str(reprint_id).replace("-", "")[::-1]})
            assert unknown.status_code == 404

    async def test_a_revoked_station_gets_no_reprint(self, make_agent, keys, queued, reprint, repo, stores, tmp_path):
        job_id = await queued("bench-1")
        (tmp_path / "bench-1").mkdir()
        await make_agent("bench-1", keys["bench-1"]).poll_once()
        await reprint(job_id)
        await stores.stations.revoke("bench-1", at=datetime.now(UTC))
        with pytest.raises(Refused, match="403"):
            await make_agent("bench-1", keys["bench-1"]).poll_once()
        assert repo.docs[job_id]["job"]["reprints"] == 0 and repo.docs[job_id]["reprints_waiting"] == 1
        assert [p.name for p in (tmp_path / "bench-1").iterdir()] == [f"invoice-{job_id}-1.zpl"]

    async def test_a_reprint_the_station_cannot_print_is_recorded_failed_with_its_reason(
        self, make_agent, keys, queued, reprint, repo, transport, tmp_path
    ):
        job_id = await queued("bench-1")
        (tmp_path / "bench-1").mkdir()
        await make_agent("bench-1", keys["bench-1"]).poll_once()
        reprint_id = await reprint(job_id, reason="torn")
        broken = StationAgent(api="http://test", name="bench-1", key=keys["bench-1"], journal=Journal(tmp_path / "j"),
                              out=None, default_printer="socket://127.0.0.1:1", wait=0, transport=transport,
                              printer_timeout=1)
        assert await broken.poll_once() == 1
        job = repo.docs[job_id]["job"]
        assert job["state"] == "printed" and job["reprints"] == 0
        assert job["history"][-1]["note"].startswith("reprint failed: ")
        assert job["history"][-1]["note"].endswith("(asked: torn by ops-key-1)")
        [failed] = job["reprint_requests"]
        assert failed["reprint_id"] == str(reprint_id) and failed["state"] == "failed"
        assert "socket://127.0.0.1:1" in failed["printer"] and failed["settled_at"] is not None
        assert await broken.poll_once() == 0  # settled: not offered again
