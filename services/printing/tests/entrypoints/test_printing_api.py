"""The printing HTTP API, through an in-process ASGI client."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts.printing.v1 import ReprintJob
from oms_platform.auth import ApiKeys
from oms_platform.testing import RecordingBus
from printing.entrypoints.api import print_jobs_router

OPS_KEY = "ops-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"


@pytest.fixture
def api_bus() -> RecordingBus:
    """What the API publishes (apart from what the handler publishes on `bus`)."""
    return RecordingBus("printing")


@pytest.fixture
def client(repo, api_bus, stores):
    """The API with no worker behind it: a reprint is answered 202 `pending` after a short wait."""
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY},packer:{PACKER_KEY}")
    app.include_router(print_jobs_router(repo=repo, keys=keys, bus=api_bus, stations=stores.stations,
                                         command_timeout=0.05))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def printed(make_printing, printer, make_printers):
    """Print a command with the fakes, as the worker would."""

    async def run(envelope):
        await make_printing(make_printers(printer)).run(envelope)
        return envelope.payload

    return run


def auth(key=OPS_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


class TestReadingAJob:
    async def test_without_a_key_it_is_refused(self, client):
        response = await client.get(f"/print-jobs/{uuid.uuid4()}")
        assert response.status_code == 401

    async def test_an_unknown_key_is_refused(self, client):
        response = await client.get(f"/print-jobs/{uuid.uuid4()}", headers=auth("not-a-key-0123456789"))
        assert response.status_code == 401

    async def test_a_packer_may_not_read_print_jobs(self, client):
        response = await client.get(f"/print-jobs/{uuid.uuid4()}", headers=auth(PACKER_KEY))
        assert response.status_code == 403

    async def test_an_unknown_job_is_404(self, client):
        response = await client.get(f"/print-jobs/{uuid.uuid4()}", headers=auth())
        assert response.status_code == 404

    async def test_a_job_id_that_is_not_a_uuid_gets_422_naming_it(self, client):
        response = await client.get("/print-jobs/nope", headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "job_id"]

    async def test_a_printed_job_shows_its_state_and_history(self, client, printed, print_command):
        job = await printed(print_command("shipping_label"))
        response = await client.get(f"/print-jobs/{job.job_id}", headers=auth())
        assert response.status_code == 200
        body = response.json()
        assert body["state"] == "printed" and body["document_type"] == "shipping_label"
        assert body["order_id"] == str(job.order.order_id) and body["order_number"] == "PH-1001"
        assert body["printer"] == "socket://labels.test:9100" and body["size_bytes"] > 0 and body["reason"] is None
        assert [h["state"] for h in body["history"]] == ["queued", "rendered", "sent", "printed"]
        assert "handled" not in body


class TestDownloadingTheDocument:
    async def test_the_document_comes_back_exactly_as_it_was_printed(self, client, printed, print_command):
        job = await printed(print_command("invoice"))
        response = await client.get(f"/print-jobs/{job.job_id}/document", headers=auth())
        assert response.status_code == 200
        assert response.content == b"invoice of PH-1001"  # what the (fake) renderer made and the printer took
        assert response.headers["content-type"].startswith("text/plain")  # not a PDF: served as text
        assert f"invoice-{job.job_id}.zpl" in response.headers["content-disposition"]

    async def test_an_unknown_job_has_no_document(self, client):
        response = await client.get(f"/print-jobs/{uuid.uuid4()}/document", headers=auth())
        assert response.status_code == 404

    async def test_a_packer_may_not_download_documents(self, client, printed, print_command):
        job = await printed(print_command("invoice"))
        response = await client.get(f"/print-jobs/{job.job_id}/document", headers=auth(PACKER_KEY))
        assert response.status_code == 403


class TestListingJobs:
    async def test_the_jobs_of_an_order_are_listed(self, client, printed, print_command, make_order):
        order = make_order()
        invoice = await printed(print_command("invoice", order=order))
        label = await printed(print_command("shipping_label", order=order))
        await printed(print_command("invoice"))  # another order's job
        response = await client.get("/print-jobs", params={"order_id": str(order.order_id)}, headers=auth())
        assert response.status_code == 200
        assert {j["job_id"] for j in response.json()} == {str(invoice.job_id), str(label.job_id)}

    async def test_listing_needs_a_key(self, client):
        response = await client.get("/print-jobs")
        assert response.status_code == 401


    async def test_the_queue_of_a_station_and_the_failed_jobs_are_listed(
        self, client, make_printing, make_printer, make_printers, print_command
    ):
        printing = make_printing(make_printers(make_printer(failures=99)))
        waiting = print_command("invoice", station="bench-1")
        failing = print_command("invoice")
        await printing.run(waiting)
        await printing.run(failing)
        queue = (await client.get("/print-jobs", params={"station": "bench-1", "state": "rendered"},
                                  headers=auth())).json()
        assert [j["job_id"] for j in queue] == [str(waiting.payload.job_id)] and queue[0]["station"] == "bench-1"
        failed = (await client.get("/print-jobs", params={"state": "failed"}, headers=auth())).json()
        assert [j["job_id"] for j in failed] == [str(failing.payload.job_id)]
        assert (await client.get("/print-jobs", params={"state": "lost"}, headers=auth())).status_code == 422

class TestReprintingAJob:
    async def test_a_printed_job_is_sent_to_reprint_keyed_by_job_id_naming_who_asked(
        self, client, printed, print_command, api_bus
    ):
        job = await printed(print_command("shipping_label"))
        response = await client.post(
            f"/print-jobs/{job.job_id}/reprint", json={"reason": "  label smudged "}, headers=auth()
        )
        assert response.status_code == 202
        [(envelope, key)] = api_bus.published
        assert key == str(job.job_id) and response.json() == {
            "job_id": str(job.job_id), "command_id": str(envelope.event_id), "state": "pending", "station": None,
            "error": None, "job": None,
        }
        assert envelope.payload == ReprintJob(job_id=job.job_id, reason="label smudged", requested_by="ops-key-1")

    async def test_the_same_idempotency_key_asks_for_the_same_reprint(self, client, printed, print_command, api_bus):
        job = await printed(print_command("invoice"))
        for _ in range(2):
            response = await client.post(
                f"/print-jobs/{job.job_id}/reprint", json={"reason": "jammed"},
                headers=auth() | {"Idempotency-Key": "bench-3-0001"},
            )
            assert response.status_code == 202
        first, second = api_bus.event_ids()
        assert first == second

    async def test_without_a_key_each_request_is_another_reprint(self, client, printed, print_command, api_bus):
        job = await printed(print_command("invoice"))
        for _ in range(2):
            await client.post(f"/print-jobs/{job.job_id}/reprint", json={"reason": "two copies"}, headers=auth())
        first, second = api_bus.event_ids()
        assert first != second

    async def test_an_unknown_job_is_404(self, client, api_bus):
        response = await client.post(f"/print-jobs/{uuid.uuid4()}/reprint", json={"reason": "x"}, headers=auth())
        assert response.status_code == 404 and api_bus.published == []

    async def test_a_job_that_never_printed_is_409_saying_why(
        self, client, make_printing, make_printer, make_printers, print_command, api_bus
    ):
        command = print_command("shipping_label")
        await make_printing(make_printers(make_printer(failures=99))).run(command)
        response = await client.post(
            f"/print-jobs/{command.payload.job_id}/reprint", json={"reason": "again"}, headers=auth()
        )
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert "has never printed" in detail and "nothing to reprint" in detail and "printer offline" in detail
        assert api_bus.published == []

    @pytest.mark.parametrize(
        "body, field",
        [({}, "reason"), ({"reason": "   "}, "reason"), ({"reason": "x", "copies": 2}, "copies")],
    )
    async def test_a_bad_body_gets_422_naming_the_field(self, client, printed, print_command, body, field):
        job = await printed(print_command("invoice"))
        response = await client.post(f"/print-jobs/{job.job_id}/reprint", json=body, headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == field

    async def test_a_packer_may_not_reprint(self, client, printed, print_command, api_bus):
        job = await printed(print_command("invoice"))
        response = await client.post(
            f"/print-jobs/{job.job_id}/reprint", json={"reason": "x"}, headers=auth(PACKER_KEY)
        )
        assert response.status_code == 403 and api_bus.published == []

    async def test_reprinting_needs_a_key(self, client):
        response = await client.post(f"/print-jobs/{uuid.uuid4()}/reprint", json={"reason": "x"})
        assert response.status_code == 401


class WorkerBus(RecordingBus):
    """Records what the API publishes and, like the worker, handles each reprint command at once."""

    def __init__(self, handle) -> None:
        super().__init__("printing")
        self.handle = handle

    async def publish(self, envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        await self.handle(envelope)


@pytest.fixture
def worker_client(repo, stores, clock, fast_policy, make_printing, make_printers, printer):
    """The API with the worker behind it (the fakes): it answers with what became of the reprint."""
    from printing.service_layer.handlers import handle_reprint_job

    printing = make_printing(make_printers(printer))

    async def work(envelope) -> None:
        """The consumer queues the reprint; the delivery loop sends it and the consumer records its outcome."""
        await handle_reprint_job(envelope, repo=repo, clock=clock, directory=printing.directory)
        printing.fed = len(printing.bus.published)  # earlier outcomes were recorded already
        await printing.deliver()

    bus = WorkerBus(work)
    app = FastAPI()
    app.include_router(print_jobs_router(repo=repo, keys=ApiKeys(f"ops:{OPS_KEY}"), bus=bus,
                                         stations=stores.stations, command_timeout=1))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"), bus


@pytest.fixture
def station_printed(make_printing, make_printers, printer, repo, bus, clock, print_command):
    """An invoice printed at station bench-1 (its acknowledgement recorded); its job id."""
    from datetime import UTC, datetime

    from oms_contracts.printing.v1 import RecordDelivery
    from printing.service_layer.handlers import delivery_envelope, handle_record_delivery

    async def run(stores):
        await stores.stations.create("bench-1", "key-one-0123456789", at=datetime.now(UTC))
        command = print_command("invoice", station="bench-1")
        await make_printing(make_printers(printer)).issue(command)
        job_id = command.payload.job_id
        ack = RecordDelivery(job_id=job_id, attempt=1, printed=True, printer="folder:/out", station="bench-1")
        await handle_record_delivery(delivery_envelope(bus, ack, repo.docs[str(job_id)]), repo=repo, bus=bus,
                                     clock=clock)
        return job_id

    return run


class TestWhatBecameOfAReprint:
    async def test_a_network_printers_job_is_printed_at_once_and_answered_200(
        self, worker_client, printed, print_command, printer
    ):
        client, _ = worker_client
        job = await printed(print_command("invoice"))
        response = await client.post(f"/print-jobs/{job.job_id}/reprint", json={"reason": "torn"}, headers=auth())
        assert response.status_code == 200
        body = response.json()
        assert body["state"] == "printed" and body["job"]["reprints"] == 1 and len(printer.received) == 2
        assert body["job"]["history"][-1]["note"] == "reprinted: torn by ops-key-1"

    async def test_a_station_job_waits_for_its_station_and_the_same_key_asks_for_the_same_reprint(
        self, worker_client, station_printed, stores, repo
    ):
        client, bus = worker_client
        job_id = await station_printed(stores)
        for _ in range(2):
            response = await client.post(f"/print-jobs/{job_id}/reprint", json={"reason": "label smudged"},
                                         headers=auth() | {"Idempotency-Key": "bench-1-r1"})
            assert response.status_code == 202
            body = response.json()
            assert body["state"] == "waiting" and body["station"] == "bench-1"
            assert body["job"]["state"] == "printed" and body["job"]["reprints"] == 0
            note = body["job"]["history"][-1]["note"]
            assert note == "reprint waiting for station bench-1: label smudged by ops-key-1"
        assert len(bus.published) == 1  # the second request found the first one's outcome: nothing published
        assert repo.docs[str(job_id)]["reprints_waiting"] == 1

    async def test_a_revoked_stations_job_is_refused_409_and_nothing_is_queued(
        self, worker_client, station_printed, stores, repo
    ):
        from datetime import UTC, datetime

        client, bus = worker_client
        job_id = await station_printed(stores)
        await stores.stations.revoke("bench-1", at=datetime.now(UTC))
        response = await client.post(f"/print-jobs/{job_id}/reprint", json={"reason": "x"}, headers=auth())
        assert response.status_code == 409 and "revoked" in response.json()["detail"]
        assert bus.published == [] and repo.docs[str(job_id)]["reprints_waiting"] == 0
