"""The ingest HTTP API, through an in-process ASGI client with a fake intake log and a recording bus."""

import json
import uuid

import httpx
import pytest
from fastapi import FastAPI

from ingest.domain.model import IntakeStatus
from ingest.entrypoints.api import ingest_router
from oms_contracts import derived_id
from oms_contracts.ingest.v1 import OrderReceived
from oms_platform.auth import ApiKeys

OPS_KEY = "ops-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"
LIMIT = 50_000
URL = "/channels/demo_shop/orders"


@pytest.fixture
def client(store, bus, clock):
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY},packer:{PACKER_KEY}")
    app.include_router(ingest_router(store=store, bus=bus, keys=keys, clock=clock, max_body_bytes=LIMIT))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(key=OPS_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


class TestOrderIntake:
    async def test_without_a_key_it_is_refused_and_nothing_is_stored(self, client, store, order_payload):
        response = await client.post(URL, json=order_payload())
        assert response.status_code == 401
        assert store.intakes == {}

    async def test_a_packer_may_not_post_orders(self, client, order_payload):
        response = await client.post(URL, json=order_payload(), headers=auth(PACKER_KEY))
        assert response.status_code == 403

    async def test_a_valid_order_is_stored_then_published_and_accepted(self, client, store, bus, order_payload):
        body = order_payload(channel_order_id="ds-1001")
        raw = json.dumps(body, indent=2)
        statuses_at_publish = []
        bus.on_publish = lambda envelope: statuses_at_publish.append(store.only().status)
        response = await client.post(URL, content=raw, headers={**auth(), "content-type": "application/json"})
        assert response.status_code == 202
        intake_id = uuid.UUID(response.json()["intake_id"])
        assert response.json()["status"] == "published" and response.json()["status_url"] == f"/intake/{intake_id}"
        assert statuses_at_publish == [IntakeStatus.RECEIVED]
        [(envelope, key)] = bus.published
        assert envelope.event_id == derived_id(intake_id, "order-received") and key == "demo_shop:ds-1001"
        assert bus.payloads(OrderReceived)[0].order.channel_order_id == "ds-1001"
        stored = store.intakes[intake_id]
        assert stored.body == raw and stored.status is IntakeStatus.PUBLISHED and stored.channel == "demo_shop"
        assert ("content-type", "application/json") in stored.headers
        assert all(name.lower() != "authorization" for name, _ in stored.headers)

    async def test_an_invalid_order_is_stored_as_failed_and_gets_422_naming_the_field(
        self, client, store, bus, order_payload
    ):
        body = order_payload()
        body["lines"][0]["quantity"] = 0
        response = await client.post(URL, json=body, headers=auth())
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "lines", 0, "quantity"]
        stored = store.intakes[uuid.UUID(response.json()["intake_id"])]
        assert stored.status is IntakeStatus.FAILED and stored.error.startswith("lines.0.quantity:")
        assert json.loads(stored.body) == body
        assert bus.published == []

    async def test_a_body_for_another_channel_gets_422_with_the_reason(self, client, store, order_payload):
        response = await client.post(URL, json=order_payload(channel="ebay"), headers=auth())
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "channel"] and error["type"] == "channel_mismatch"
        assert "'ebay' in the body does not match channel 'demo_shop'" in error["msg"]
        assert store.only().status is IntakeStatus.FAILED

    async def test_a_body_that_is_not_json_is_kept_verbatim(self, client, store):
        response = await client.post(URL, content=b"<order>1</order>", headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body"]
        assert store.only().body == "<order>1</order>" and store.only().status is IntakeStatus.FAILED

    async def test_a_body_over_the_limit_gets_413_and_its_start_is_kept(self, client, store):
        response = await client.post(URL, content=b"[" + b"0," * LIMIT + b"0]", headers=auth())
        assert response.status_code == 413
        assert store.only().status is IntakeStatus.FAILED and store.only().body.startswith("[0,0,")

    async def test_an_invalid_channel_in_the_path_is_refused(self, client, store, order_payload):
        response = await client.post("/channels/Demo-Shop/orders", json=order_payload(), headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "channel"]

    async def test_when_kafka_is_down_the_order_is_still_accepted_and_stays_received(
        self, client, store, bus, order_payload
    ):
        bus.down = True
        response = await client.post(URL, json=order_payload(), headers=auth())
        assert response.status_code == 202 and response.json()["status"] == "received"
        assert store.only().status is IntakeStatus.RECEIVED


class TestIntakeLog:
    async def test_reading_the_log_needs_a_key(self, client):
        assert (await client.get("/intake")).status_code == 401
        assert (await client.get(f"/intake/{uuid.uuid4()}")).status_code == 401

    async def test_failed_payloads_can_be_listed_and_read(self, client, clock, order_payload):
        good = await client.post(URL, json=order_payload(), headers=auth())
        clock.advance(1)
        bad = await client.post(URL, content=b"{oops", headers=auth())
        listed = (await client.get("/intake", params={"status": "failed"}, headers=auth())).json()
        assert [item["intake_id"] for item in listed] == [bad.json()["intake_id"]]
        assert "body" not in listed[0] and listed[0]["error"].startswith("body: not JSON")
        everything = (await client.get("/intake", headers=auth())).json()
        assert [item["intake_id"] for item in everything] == [bad.json()["intake_id"], good.json()["intake_id"]]
        shown = (await client.get(f"/intake/{bad.json()['intake_id']}", headers=auth())).json()
        assert shown["body"] == "{oops" and shown["status"] == "failed" and shown["channel"] == "demo_shop"

    async def test_an_unknown_intake_is_404(self, client):
        assert (await client.get(f"/intake/{uuid.uuid4()}", headers=auth())).status_code == 404

    async def test_an_unknown_status_filter_is_422(self, client):
        response = await client.get("/intake", params={"status": "lost"}, headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "status"]

    async def test_the_order_body_is_documented(self, client):
        response = await client.get("/openapi.json")
        body = response.json()["paths"]["/channels/{channel}/orders"]["post"]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
        assert {"channel", "lines", "channel_updated_at"} <= set(schema["properties"])
        assert "$ref" not in json.dumps(schema)


class TestRetryingAFailedIntake:
    async def failed_intake(self, client, order_payload) -> uuid.UUID:
        body = order_payload(channel_order_id="ds-bad")
        body["lines"][0]["quantity"] = 0  # refused by the order contract
        response = await client.post(URL, json=body, headers=auth())
        assert response.status_code == 422
        return uuid.UUID(response.json()["intake_id"])

    async def test_a_failed_payload_goes_back_to_received_keeping_its_error(self, client, store, order_payload):
        intake_id = await self.failed_intake(client, order_payload)
        error = store.intakes[intake_id].error
        response = await client.post(f"/intake/{intake_id}/retry", headers=auth())
        assert response.status_code == 202 and response.json()["status"] == "received"
        shown = (await client.get(f"/intake/{intake_id}", headers=auth())).json()
        assert shown["status"] == "received" and shown["error"] is None
        assert [(r["by"], r["error"]) for r in shown["retries"]] == [("ops-key-1", error)]

    async def test_asking_twice_or_for_a_published_payload_is_refused(self, client, store, order_payload):
        intake_id = await self.failed_intake(client, order_payload)
        assert (await client.post(f"/intake/{intake_id}/retry", headers=auth())).status_code == 202
        again = await client.post(f"/intake/{intake_id}/retry", headers=auth())
        assert again.status_code == 409 and "only a failed one" in again.json()["detail"]
        ok = await client.post(URL, json=order_payload(channel_order_id="ds-ok"), headers=auth())
        published = await client.post(f"/intake/{ok.json()['intake_id']}/retry", headers=auth())
        assert published.status_code == 409

    async def test_an_unknown_intake_is_404_and_packers_may_not_retry(self, client, order_payload):
        assert (await client.post(f"/intake/{uuid.uuid4()}/retry", headers=auth())).status_code == 404
        intake_id = await self.failed_intake(client, order_payload)
        assert (await client.post(f"/intake/{intake_id}/retry", headers=auth(PACKER_KEY))).status_code == 403
