"""The printing HTTP API, through an in-process ASGI client."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_platform.auth import ApiKeys
from printing.entrypoints.api import print_jobs_router
from printing.service_layer.handlers import handle_print_document

OPS_KEY = "ops-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"


@pytest.fixture
def client(repo):
    app = FastAPI()
    app.include_router(print_jobs_router(repo=repo, keys=ApiKeys(f"ops:{OPS_KEY},packer:{PACKER_KEY}")))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def printed(repo, bus, clock, renderer, printer, make_printers, fast_policy):
    """Handle a print command with the fakes, as the worker would."""

    async def run(envelope):
        await handle_print_document(
            envelope, repo=repo, bus=bus, renderer=renderer, printers=make_printers(printer), clock=clock,
            policy=fast_policy,
        )
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
