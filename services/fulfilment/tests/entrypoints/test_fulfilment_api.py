"""The fulfilment HTTP API, through an in-process ASGI client."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts import new_envelope
from oms_contracts.fulfilment.v1 import CreateShipment
from oms_platform.auth import ApiKeys
from fulfilment.entrypoints.api import shipments_router
from fulfilment.service_layer.handlers import handle_command

OPS_KEY = "ops-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"


@pytest.fixture
def client(repo):
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY},admin:{ADMIN_KEY},packer:{PACKER_KEY}")
    app.include_router(shipments_router(repo=repo, keys=keys))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(key=OPS_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


class TestGetShipment:
    async def test_without_a_key_it_is_refused(self, client):
        response = await client.get(f"/shipments/{uuid.uuid4()}")
        assert response.status_code == 401

    async def test_an_unknown_key_is_refused(self, client):
        response = await client.get(f"/shipments/{uuid.uuid4()}", headers=auth("not-a-key-0123456789"))
        assert response.status_code == 401

    async def test_a_packer_may_not_read_shipments(self, client):
        response = await client.get(f"/shipments/{uuid.uuid4()}", headers=auth(PACKER_KEY))
        assert response.status_code == 403

    async def test_an_order_without_shipment_is_404_with_the_reason(self, client):
        order_id = uuid.uuid4()
        response = await client.get(f"/shipments/{order_id}", headers=auth())
        assert response.status_code == 404
        assert response.json()["detail"] == (
            f"order {order_id} has no shipment: it is unknown or has not been processed yet"
        )

    async def test_a_malformed_order_id_is_422_naming_it(self, client):
        response = await client.get("/shipments/not-a-uuid", headers=auth())
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["path", "order_id"]

    async def test_a_shipment_shows_its_tracking_number_and_documents(
        self, client, repo, bus, carrier, policy, clock, make_order
    ):
        order = make_order(order_number="PH-2002")
        await handle_command(new_envelope(CreateShipment(order=order), producer="test"),
                             repo=repo, bus=bus, carrier=carrier, policy=policy, clock=clock)
        for key in (OPS_KEY, ADMIN_KEY):
            response = await client.get(f"/shipments/{order.order_id}", headers=auth(key))
            assert response.status_code == 200
        shown = response.json()
        assert shown["order_number"] == "PH-2002" and shown["status"] == "printing"
        assert shown["carrier"] == "OMS Post" and shown["service"] == "Standard"
        assert shown["tracking_number"] == repo.docs[str(order.order_id)]["tracking_number"]
        assert [(d["document_type"], d["status"]) for d in shown["documents"]] == [
            ("invoice", "sent"), ("shipping_label", "sent")
        ]
        assert shown["timeline"][0]["what"] == "created"
