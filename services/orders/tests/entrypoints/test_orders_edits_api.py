"""Timeline, edits, batch processing, counts and the new list filters through the HTTP API (worker in-process)."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts import new_envelope
from oms_contracts.orders.v1 import OrderLinesChanged, RecordStockAllocation
from oms_platform.auth import ApiKeys
from orders.entrypoints.api import orders_router

OPS_KEY = "ops-key-0123456789abcdef"
KEYS = f"ops:{OPS_KEY}"


def asgi_client(router) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(idempotency_key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {OPS_KEY}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def phone_order() -> dict:
    return {
        "buyer": {"name": "Grace Hopper", "email": "grace@example.org"},
        "shipping_address": {"name": "Grace Hopper", "line1": "1 Navy Way", "city": "Arlington",
                             "postcode": "22202", "country": "US"},
        "lines": [{"line_id": "1", "sku": "MUG-BLUE", "title": "Blue mug", "quantity": 2, "unit_price": "7.50"}],
        "shipping": {"service": "Standard", "cost": "3.95"},
        "currency": "USD",
        "paid": True,
    }


@pytest.fixture
def client(repo, worker_bus):
    return asgi_client(orders_router(repo=repo, bus=worker_bus, keys=ApiKeys(KEYS), command_timeout=1.0))


@pytest.fixture
def create(client, worker_bus):
    async def make(*, paid: bool = True, allocated: bool = True) -> str:
        response = await client.post("/orders", json={**phone_order(), "paid": paid}, headers=auth())
        assert response.status_code == 201, response.text
        order_id = response.json()["order_id"]
        if allocated:
            allocation = RecordStockAllocation(order_id=order_id, sku="MUG-BLUE", requested=2, short=0)
            await worker_bus.publish(new_envelope(allocation, producer="test"), key=order_id)
        return order_id

    return make


class TestTimeline:
    async def test_every_action_is_an_entry_naming_who_did_it(self, client, create):
        order_id = await create()
        await client.post(f"/orders/{order_id}/park", json={"reason": "wait"}, headers=auth())
        await client.patch(f"/orders/{order_id}", json={"tags": ["vip"]}, headers=auth())
        response = await client.get(f"/orders/{order_id}/timeline", headers=auth())
        assert response.status_code == 200
        entries = response.json()["entries"]
        assert [e["what"] for e in entries] == ["opened", "stock allocated", "parked", "tags changed"]
        assert entries[2]["who"] == "ops-key-1" and entries[2]["detail"] == "wait" and entries[0]["at"]

    async def test_an_unknown_order_has_no_timeline(self, client):
        assert (await client.get(f"/orders/{uuid.uuid4()}/timeline", headers=auth())).status_code == 404


class TestEdits:
    async def test_notes_tags_folder_and_address_are_changed_and_shown(self, client, create):
        order_id = await create()
        noted = await client.post(f"/orders/{order_id}/notes", json={"text": "Gift", "internal": False},
                                  headers=auth())
        assert noted.status_code == 201 and noted.json()["notes"][0]["text"] == "Gift"
        address = {"name": "G H", "line1": "2 Yard", "city": "DC", "postcode": "20001", "country": "US"}
        edited = await client.patch(f"/orders/{order_id}", headers=auth(), json={
            "tags": ["vip"], "folder": "b2b", "shipping_address": address, "shipping_service": "Express"})
        body = edited.json()
        assert edited.status_code == 200 and body["tags"] == ["vip"] and body["folder"] == "b2b"
        assert body["details"]["shipping_address"]["line1"] == "2 Yard"
        assert body["details"]["shipping"]["service"] == "Express"
        note_id = body["notes"][0]["note_id"]
        removed = await client.delete(f"/orders/{order_id}/notes/{note_id}", headers=auth())
        assert removed.status_code == 200 and removed.json()["notes"] == []

    async def test_lines_change_answers_with_the_new_lines_and_publishes_the_delta(self, client, create, worker_bus):
        order_id = await create()
        response = await client.post(f"/orders/{order_id}/lines", headers=auth(), json={
            "quantities": [{"line_id": "1", "quantity": 5}],
            "add": [{"line_id": "2", "sku": "CAP", "title": "Cap", "quantity": 1, "unit_price": "3.00"}]})
        assert response.status_code == 200, response.text
        assert [line["quantity"] for line in response.json()["details"]["lines"]] == [5, 1]
        assert response.json()["unallocated_skus"] == ["MUG-BLUE", "CAP"]
        [event] = worker_bus.payloads(OrderLinesChanged)
        assert {d.sku: d.delta for d in event.deltas} == {"MUG-BLUE": 3, "CAP": 1}

    async def test_a_cancelled_order_refuses_edits_with_409_and_the_reason(self, client, create):
        order_id = await create()
        await client.post(f"/orders/{order_id}/cancel", json={"reason": "x"}, headers=auth())
        response = await client.patch(f"/orders/{order_id}", json={"tags": ["late"]}, headers=auth())
        assert response.status_code == 409 and "order is cancelled" in response.json()["detail"]
        lines = await client.post(f"/orders/{order_id}/lines", json={"remove": ["1"]}, headers=auth())
        assert lines.status_code == 409

    @pytest.mark.parametrize(("path", "body"), [
        ("", {"status": "processed"}),
        ("", {}),
        ("/lines", {}),
        ("/lines", {"quantities": [{"line_id": "1", "quantity": 0}]}),
        ("/notes", {"text": ""}),
    ])
    async def test_bad_input_is_a_422(self, client, create, path, body):
        order_id = await create()
        method = client.patch if path == "" else client.post
        assert (await method(f"/orders/{order_id}{path}", json=body, headers=auth())).status_code == 422

    async def test_editing_an_unknown_order_is_a_404(self, client):
        response = await client.patch(f"/orders/{uuid.uuid4()}", json={"tags": ["x"]}, headers=auth())
        assert response.status_code == 404


class TestBatchProcess:
    async def test_each_order_is_accepted_or_refused_naming_the_guard(self, client, create):
        ready = await create()
        unpaid = await create(paid=False)
        parked = await create()
        await client.post(f"/orders/{parked}/park", json={"reason": "wait"}, headers=auth())
        missing = str(uuid.uuid4())
        response = await client.post("/orders/process", headers=auth(),
                                     json={"order_ids": [ready, unpaid, parked, missing]})
        assert response.status_code == 200, response.text
        body = response.json()
        by_id = {r["order_id"]: r for r in body["results"]}
        assert by_id[ready]["outcome"] == "accepted"
        assert (by_id[unpaid]["outcome"], by_id[unpaid]["guard"]) == ("refused", "paid")
        assert (by_id[parked]["outcome"], by_id[parked]["guard"]) == ("refused", "parked")
        assert by_id[missing]["outcome"] == "not_found"
        assert (body["accepted"], body["refused"]) == (1, 2)

    async def test_a_repeated_batch_with_the_same_key_answers_the_same(self, client, create):
        order_id = await create()
        first = await client.post("/orders/process", json={"order_ids": [order_id]}, headers=auth(idempotency_key="b1"))
        again = await client.post("/orders/process", json={"order_ids": [order_id]}, headers=auth(idempotency_key="b1"))
        assert first.json() == again.json() and again.json()["results"][0]["outcome"] == "accepted"


class TestCountsAndFilters:
    async def test_counts_per_filter_value_of_open_orders(self, client, create):
        a = await create()
        await create(paid=False, allocated=False)
        await client.patch(f"/orders/{a}", json={"tags": ["vip", "gift"], "folder": "b2b"}, headers=auth())
        await client.post(f"/orders/{a}/park", json={"reason": "wait"}, headers=auth())
        counts = (await client.get("/orders/counts", headers=auth())).json()
        assert counts["total"] == 2 and counts["channel"] == {"phone": 2}
        assert counts["paid"] == {"true": 1, "false": 1} and counts["parked"] == {"true": 1, "false": 1}
        assert counts["tag"] == {"vip": 1, "gift": 1} and counts["folder"] == {"b2b": 1}

    async def test_list_filters_by_tag_folder_and_out_of_stock(self, client, create, worker_bus):
        a = await create()
        b = await create(allocated=False)
        short = RecordStockAllocation(order_id=b, sku="MUG-BLUE", requested=2, short=2)
        await worker_bus.publish(new_envelope(short, producer="test"), key=b)
        await client.patch(f"/orders/{a}", json={"tags": ["vip"], "folder": "b2b"}, headers=auth())
        ids = lambda r: [o["order_id"] for o in r.json()["items"]]  # noqa: E731
        assert ids(await client.get("/orders", params={"tag": "vip"}, headers=auth())) == [a]
        assert ids(await client.get("/orders", params={"folder": "b2b"}, headers=auth())) == [a]
        assert ids(await client.get("/orders", params={"out_of_stock": "true"}, headers=auth())) == [b]
        assert ids(await client.get("/orders", params={"shipping_service": "Standard", "tag": "vip"},
                                    headers=auth())) == [a]
        future = await client.get("/orders", params={"opened_from": "2999-01-01T00:00:00Z"}, headers=auth())
        assert future.json()["total"] == 0

    async def test_a_date_with_no_utc_time_is_a_422(self, client):
        response = await client.get("/orders", params={"opened_from": "0001-01-01T00:00:00+01:00"}, headers=auth())
        assert response.status_code == 422 and "out of range" in response.json()["detail"]
