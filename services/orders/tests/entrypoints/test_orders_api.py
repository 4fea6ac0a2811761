"""The orders HTTP API, through an in-process ASGI client wired to the orders command handler."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts import new_envelope
from oms_contracts.orders.v1 import (
    CancelOrder,
    OrderCancelled,
    OrderLocked,
    OrderParked,
    OrderProcessingStarted,
    OrderUnlocked,
    PlaceOrder,
    ProcessOrder,
    RecordStockAllocation,
)
from oms_platform.auth import ApiKeys
from orders.entrypoints.api import orders_router

OPS_KEY = "ops-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"
KEYS = f"ops:{OPS_KEY},packer:{PACKER_KEY}"


def asgi_client(router) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def client(repo, worker_bus):
    """The API with the orders worker handling its commands in-process."""
    return asgi_client(orders_router(repo=repo, bus=worker_bus, keys=ApiKeys(KEYS), command_timeout=1.0))


@pytest.fixture
def client_without_worker(repo, bus):
    """The API with nobody consuming its commands."""
    return asgi_client(orders_router(repo=repo, bus=bus, keys=ApiKeys(KEYS), command_timeout=0.05))


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


def auth(key=OPS_KEY, idempotency_key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


@pytest.fixture
def open_order(client, worker_bus):
    """Create a phone order through the API; allocated=True also records inventory's allocation of its stock."""

    async def create(allocated: bool = True) -> str:
        response = await client.post("/orders", json=phone_order(), headers=auth())
        assert response.status_code == 201, response.text
        order_id = response.json()["order_id"]
        if allocated:
            allocation = RecordStockAllocation(order_id=order_id, sku="MUG-BLUE", requested=2, short=0)
            await worker_bus.publish(new_envelope(allocation, producer="test"), key=order_id)
        return order_id

    return create


class TestCreateOrder:
    async def test_without_a_key_it_is_refused(self, client):
        response = await client.post("/orders", json=phone_order())
        assert response.status_code == 401

    async def test_a_packer_may_not_take_orders(self, client):
        response = await client.post("/orders", json=phone_order(), headers=auth(PACKER_KEY))
        assert response.status_code == 403

    async def test_a_valid_order_is_placed_and_answered_with_the_open_order(self, client, worker_bus):
        response = await client.post("/orders", json=phone_order(), headers=auth())
        assert response.status_code == 201
        body = response.json()
        assert body["status"] == "open" and body["channel"] == "phone" and body["order_number"].startswith("PH-")
        [command] = worker_bus.payloads(PlaceOrder)
        assert str(command.order_id) == body["order_id"] and command.placed_by == "ops-key-1"
        assert body["timeline"][0]["what"] == "opened" and body["timeline"][0]["by"] == "ops-key-1"

    async def test_a_bad_order_gets_422_naming_the_field(self, client, worker_bus):
        order = phone_order()
        order["lines"][0]["quantity"] = 0
        response = await client.post("/orders", json=order, headers=auth())
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "lines", 0, "quantity"]
        assert worker_bus.published == []

    async def test_a_status_sent_with_the_order_is_refused_not_assigned(self, client, worker_bus):
        response = await client.post("/orders", json={**phone_order(), "status": "processed"}, headers=auth())
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "status"]
        assert worker_bus.published == []

    async def test_the_same_idempotency_key_gives_the_same_order_placed_once(self, client, worker_bus):
        headers = auth(idempotency_key="call-42")
        first = await client.post("/orders", json=phone_order(), headers=headers)
        second = await client.post("/orders", json=phone_order(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json()["order_id"] == second.json()["order_id"]
        assert len(worker_bus.payloads(PlaceOrder)) == 1
        assert [e["what"] for e in second.json()["timeline"]] == ["opened"]

    async def test_when_the_worker_does_not_answer_in_time_it_is_202_with_the_command_id(
        self, client_without_worker, bus
    ):
        response = await client_without_worker.post("/orders", json=phone_order(), headers=auth())
        assert response.status_code == 202
        [(envelope, _)] = bus.published
        assert response.json()["command_id"] == str(envelope.event_id)
        assert response.json()["status_url"] == f"/orders/{envelope.payload.order_id}"


class TestReadAndProcess:
    async def test_an_unknown_order_is_404(self, client):
        response = await client.get(f"/orders/{uuid.uuid4()}", headers=auth())
        assert response.status_code == 404

    async def test_processing_an_unknown_order_is_404_and_sends_nothing(self, client, worker_bus):
        response = await client.post(f"/orders/{uuid.uuid4()}/process", headers=auth())
        assert response.status_code == 404
        assert worker_bus.published == []

    async def test_processing_an_order_without_stock_is_409_with_the_reason(self, client, open_order):
        order_id = await open_order(allocated=False)
        response = await client.post(f"/orders/{order_id}/process", headers=auth())
        assert response.status_code == 409
        assert "stock is not allocated for: MUG-BLUE" in response.json()["detail"]
        shown = await client.get(f"/orders/{order_id}", headers=auth())
        assert shown.json()["status"] == "open" and shown.json()["unallocated_skus"] == ["MUG-BLUE"]

    async def test_processing_an_allocated_order_answers_with_the_order_in_processing(
        self, client, open_order, worker_bus
    ):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/process", headers=auth())
        assert response.status_code == 200
        assert response.json()["status"] == "processing"
        [started] = worker_bus.payloads(OrderProcessingStarted)
        assert str(started.order.order_id) == order_id

    async def test_a_replay_with_the_same_key_answers_the_first_result(self, client, open_order, worker_bus):
        order_id = await open_order()
        headers = auth(idempotency_key="process-1")
        first = await client.post(f"/orders/{order_id}/process", headers=headers)
        again = await client.post(f"/orders/{order_id}/process", headers=headers)
        assert first.status_code == again.status_code == 200
        assert len(worker_bus.payloads(ProcessOrder)) == 1
        another = await client.post(f"/orders/{order_id}/process", headers=auth(idempotency_key="process-2"))
        assert another.status_code == 409 and "order is processing" in another.json()["detail"]

    async def test_a_parked_order_is_not_processed(self, client, open_order):
        order_id = await open_order()
        await client.post(f"/orders/{order_id}/park", json={"reason": "buyer asked to wait"}, headers=auth())
        response = await client.post(f"/orders/{order_id}/process", headers=auth())
        assert response.status_code == 409
        assert response.json()["detail"] == "order is parked (buyer asked to wait); unpark it first"

    async def test_a_locked_order_is_not_processed(self, client, open_order):
        order_id = await open_order()
        await client.post(f"/orders/{order_id}/lock", json={"reason": "fraud check"}, headers=auth())
        response = await client.post(f"/orders/{order_id}/process", headers=auth())
        assert response.status_code == 409 and "order is locked (fraud check)" in response.json()["detail"]


class TestParkAndUnpark:
    async def test_parking_holds_the_order_and_keeps_its_stock(self, client, open_order, worker_bus):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/park", json={"reason": "awaiting call"}, headers=auth())
        assert response.status_code == 200
        body = response.json()
        assert body["parked"] and body["hold_reason"] == "awaiting call" and body["stock_allocated"]
        assert body["timeline"][-1] | {"at": None} == {"at": None, "what": "parked", "by": "ops-key-1",
                                                     "detail": "awaiting call", "event_id": None}
        assert [p.reason for p in worker_bus.payloads(OrderParked)] == ["awaiting call"]

    async def test_unparking_takes_it_off_hold(self, client, open_order):
        order_id = await open_order()
        await client.post(f"/orders/{order_id}/park", json={"reason": "awaiting call"}, headers=auth())
        response = await client.post(f"/orders/{order_id}/unpark", json={"reason": "called"}, headers=auth())
        assert response.status_code == 200 and not response.json()["parked"]
        assert response.json()["hold_reason"] is None

    async def test_unparking_an_order_that_is_not_parked_is_409(self, client, open_order):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/unpark", json={"reason": "x"}, headers=auth())
        assert response.status_code == 409 and response.json()["detail"] == "order is not parked"


class TestLockAndUnlock:
    async def test_locking_freezes_the_order_and_releases_its_stock(self, client, open_order, worker_bus):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/lock", json={"reason": "fraud check"}, headers=auth())
        assert response.status_code == 200
        assert response.json()["locked"] and not response.json()["stock_allocated"]
        [locked] = worker_bus.payloads(OrderLocked)
        assert str(locked.order.order_id) == order_id and locked.reason == "fraud check"

    async def test_unlocking_asks_for_the_stock_again(self, client, open_order, worker_bus):
        order_id = await open_order()
        await client.post(f"/orders/{order_id}/lock", json={"reason": "fraud check"}, headers=auth())
        response = await client.post(f"/orders/{order_id}/unlock", json={"reason": "checked"}, headers=auth())
        assert response.status_code == 200 and not response.json()["locked"]
        assert [p.reason for p in worker_bus.payloads(OrderUnlocked)] == ["checked"]

    async def test_locking_twice_is_409(self, client, open_order):
        order_id = await open_order()
        await client.post(f"/orders/{order_id}/lock", json={"reason": "fraud check"}, headers=auth())
        response = await client.post(f"/orders/{order_id}/lock", json={"reason": "again"}, headers=auth())
        assert response.status_code == 409 and response.json()["detail"] == "order is already locked"


class TestCancel:
    async def test_cancelling_an_open_order_is_final_and_releases_its_stock(self, client, open_order, worker_bus):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/cancel", json={"reason": "buyer cancelled"},
                                     headers=auth())
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled" and response.json()["cancelled_at"]
        [cancelled] = worker_bus.payloads(OrderCancelled)
        assert cancelled.stock_held and cancelled.reason == "buyer cancelled"

    async def test_a_cancelled_order_refuses_everything_with_409(self, client, open_order):
        order_id = await open_order()
        await client.post(f"/orders/{order_id}/cancel", json={"reason": "buyer cancelled"}, headers=auth())
        for action in ("cancel", "park", "lock"):
            response = await client.post(f"/orders/{order_id}/{action}", json={"reason": "x"}, headers=auth())
            assert response.status_code == 409
            assert response.json()["detail"].startswith("order is cancelled, only an open order can be")
        response = await client.post(f"/orders/{order_id}/process", headers=auth())
        assert response.status_code == 409 and "order is cancelled" in response.json()["detail"]

    async def test_a_replayed_cancel_answers_the_first_result(self, client, open_order, worker_bus):
        order_id = await open_order()
        headers = auth(idempotency_key="cancel-1")
        first = await client.post(f"/orders/{order_id}/cancel", json={"reason": "buyer"}, headers=headers)
        again = await client.post(f"/orders/{order_id}/cancel", json={"reason": "buyer"}, headers=headers)
        assert first.status_code == again.status_code == 200
        assert len(worker_bus.payloads(CancelOrder)) == 1

    async def test_a_cancel_without_a_reason_is_422_naming_the_field(self, client, open_order):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/cancel", json={}, headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "reason"]

    async def test_unknown_fields_in_a_hold_request_are_refused(self, client, open_order):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/cancel", json={"reason": "x", "status": "open"},
                                     headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "status"]

    async def test_cancelling_an_unknown_order_is_404(self, client):
        response = await client.post(f"/orders/{uuid.uuid4()}/cancel", json={"reason": "x"}, headers=auth())
        assert response.status_code == 404

    async def test_a_packer_may_not_cancel(self, client, open_order):
        order_id = await open_order()
        response = await client.post(f"/orders/{order_id}/cancel", json={"reason": "x"}, headers=auth(PACKER_KEY))
        assert response.status_code == 403


class TestListOrders:
    @pytest.fixture
    async def three_orders(self, client) -> dict[str, str]:
        """Three open orders: Grace (US, paid, MUG-BLUE), Alan (GB, unpaid, TEE-L), Ada (GB, paid, parked)."""
        grace = phone_order()
        alan = {**phone_order(), "paid": False, "order_number": "PH-ALAN",
                "buyer": {"name": "Alan Turing", "email": "alan@example.org"},
                "shipping_address": {"name": "Alan Turing", "line1": "1 Bletchley Park", "city": "Milton Keynes",
                                     "postcode": "MK3 6EB", "country": "GB"},
                "lines": [{"line_id": "1", "sku": "TEE-L", "title": "T-shirt", "quantity": 1, "unit_price": "15"}]}
        ada = {**alan, "paid": True, "order_number": "PH-ADA",
               "buyer": {"name": "Ada Lovelace", "email": "ada@example.org"}}
        ids = {}
        for name, body in (("grace", grace), ("alan", alan), ("ada", ada)):
            response = await client.post("/orders", json=body, headers=auth())
            ids[name] = response.json()["order_id"]
        await client.post(f"/orders/{ids['ada']}/park", json={"reason": "call back"}, headers=auth())
        return ids

    async def list_names(self, client, ids, **params) -> tuple[list[str], int]:
        response = await client.get("/orders", params=params, headers=auth())
        assert response.status_code == 200, response.text
        by_id = {v: k for k, v in ids.items()}
        return [by_id[o["order_id"]] for o in response.json()["items"]], response.json()["total"]

    async def test_newest_first_with_the_count(self, client, three_orders):
        assert await self.list_names(client, three_orders) == (["ada", "alan", "grace"], 3)

    async def test_each_filter_narrows_the_list_and_its_count(self, client, three_orders):
        ids = three_orders
        assert await self.list_names(client, ids, paid="false") == (["alan"], 1)
        assert await self.list_names(client, ids, parked="true") == (["ada"], 1)
        assert await self.list_names(client, ids, country="gb", paid="true") == (["ada"], 1)
        assert await self.list_names(client, ids, sku="MUG-BLUE") == (["grace"], 1)
        assert await self.list_names(client, ids, channel="phone", locked="false") == (["ada", "alan", "grace"], 3)
        assert await self.list_names(client, ids, status="cancelled") == ([], 0)

    async def test_free_text_finds_order_number_name_email_or_postcode_in_any_case(self, client, three_orders):
        ids = three_orders
        assert await self.list_names(client, ids, q="ph-ada") == (["ada"], 1)
        assert await self.list_names(client, ids, q="TURING") == (["alan"], 1)
        assert await self.list_names(client, ids, q="grace@example") == (["grace"], 1)
        assert await self.list_names(client, ids, q="mk3 6") == (["ada", "alan"], 2)
        assert await self.list_names(client, ids, q="(.*)") == ([], 0)  # text, not a pattern

    async def test_cursor_paging_walks_every_order_once_in_the_chosen_order(self, client, three_orders):
        seen, cursor = [], None
        while True:
            params = {"limit": 2, "sort": "oldest", **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/orders", params=params, headers=auth())).json()
            seen += [o["order_id"] for o in page["items"]]
            assert page["total"] == 3
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [three_orders["grace"], three_orders["alan"], three_orders["ada"]]

    async def test_sorting_by_order_number(self, client, three_orders):
        # Grace's generated number is PH-<date>-..., and digits sort before letters
        assert await self.list_names(client, three_orders, sort="order_number") == (["grace", "ada", "alan"], 3)

    async def test_a_cursor_that_is_not_ours_is_422(self, client):
        response = await client.get("/orders", params={"cursor": "nonsense"}, headers=auth())
        assert response.status_code == 422 and "cursor" in response.json()["detail"]

    async def test_an_unknown_sort_is_422_naming_it(self, client):
        response = await client.get("/orders", params={"sort": "total"}, headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "sort"]


class TestAuditOfOnePerson:
    """`actor=<user>`: the orders a person changed, latest change first, paged (the console's audit page)."""

    CONSOLE_KEY = "console-key-0123456789abcdef"

    @pytest.fixture
    def audited(self, repo, worker_bus):
        keys = ApiKeys(f"{KEYS},console:{self.CONSOLE_KEY}")
        return asgi_client(orders_router(repo=repo, bus=worker_bus, keys=keys, command_timeout=1.0))

    def as_user(self, name: str) -> dict:
        return {"Authorization": f"Bearer {self.CONSOLE_KEY}", "X-OMS-User": name, "X-OMS-Role": "ops"}

    async def test_only_the_orders_the_user_changed_latest_change_first_and_paged(self, audited):
        ids = []
        for _ in range(3):
            ids.append((await audited.post("/orders", json=phone_order(), headers=auth())).json()["order_id"])
        first, untouched, second = ids
        for order_id in (first, second):
            parked = await audited.post(f"/orders/{order_id}/park", json={"reason": "call"},
                                        headers=self.as_user("sam"))
            assert parked.status_code == 200, parked.text
        await audited.post(f"/orders/{untouched}/park", json={"reason": "x"}, headers=self.as_user("kim"))

        seen, cursor = [], None
        while True:
            params = {"actor": "sam", "sort": "changed_newest", "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await audited.get("/orders", params=params, headers=auth())).json()
            assert page["total"] == 2
            seen += [o["order_id"] for o in page["items"]]
            assert all(any(e["by"] == "sam" for e in o["timeline"]) for o in page["items"])
            if not (cursor := page["next_cursor"]):
                break
        assert seen == [second, first]
        nobody = await audited.get("/orders", params={"actor": "nobody"}, headers=auth())
        assert nobody.json() == {"items": [], "total": 0, "next_cursor": None}
