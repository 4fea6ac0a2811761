"""Counts, transfers, stock by location, oversold and low stock over HTTP, through an in-process ASGI client."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts.inventory.v1 import AllocateStock, CountStock, CreatePurchaseOrder, DefineStockItem, \
    PurchaseOrderLine, TransferStock
from oms_platform.auth import ApiKeys
from inventory.entrypoints.api import locations_router, stock_router

OPS_KEY = "ops-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {OPS_KEY}"}


@pytest.fixture
def bus(worker_bus):
    return worker_bus


@pytest.fixture
def client(repo, bus):
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY}")
    app.include_router(stock_router(repo=repo, bus=bus, keys=keys))
    app.include_router(locations_router(repo=repo, keys=keys))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def send(bus, command):
    async def run(payload):
        await bus.publish(command(payload), key=payload.sku if hasattr(payload, "sku") else str(payload.po_id))

    return run


async def stock_in(client, sku, delta, location="default"):
    response = await client.post(f"/stock/{sku}/adjustments", json={"delta": delta, "reason": "in",
                                                                     "location": location}, headers=HEADERS)
    assert response.status_code == 202, response.text


class TestCounts:
    async def test_a_count_is_a_command_keyed_by_sku_and_sets_on_hand(self, client, bus):
        await stock_in(client, "MUG", 10, "main")
        response = await client.post("/stock/MUG/counts", json={"location": "main", "counted": 6,
                                                                "reason": "stock take"}, headers=HEADERS)
        assert response.status_code == 202
        [(envelope, key)] = [(e, k) for e, k in bus.published if isinstance(e.payload, CountStock)]
        assert key == "MUG" and envelope.event_id == uuid.UUID(response.json()["command_id"])
        stock = (await client.get("/stock/MUG", headers=HEADERS)).json()
        assert stock["locations"]["main"]["on_hand"] == 6
        ledger = (await client.get("/stock/MUG/ledger", headers=HEADERS)).json()["entries"]
        assert ledger[-1]["on_hand_delta"] == -4 and "stock take" in ledger[-1]["reason"]

    @pytest.mark.parametrize("body", [{"counted": -1, "reason": "x"}, {"counted": 1}, {"counted": 1, "reason": "x",
                                                                                       "extra": 1}])
    async def test_a_bad_count_is_422_and_sends_nothing(self, client, bus, body):
        assert (await client.post("/stock/MUG/counts", json=body, headers=HEADERS)).status_code == 422
        assert bus.published == []

    async def test_the_same_idempotency_key_is_one_count(self, client, bus):
        headers = {**HEADERS, "Idempotency-Key": "take-1"}
        body = {"counted": 3, "reason": "take"}
        first = await client.post("/stock/MUG/counts", json=body, headers=headers)
        second = await client.post("/stock/MUG/counts", json=body, headers=headers)
        assert first.json()["command_id"] == second.json()["command_id"]


class TestTransfers:
    async def test_a_transfer_moves_stock_and_both_locations_list_it(self, client):
        await stock_in(client, "MUG", 10, "main")
        response = await client.post("/stock/MUG/transfers", json={"from_location": "main", "to_location": "shop",
                                                                   "quantity": 4, "reason": "shop"}, headers=HEADERS)
        assert response.status_code == 202
        stock = (await client.get("/stock/MUG", headers=HEADERS)).json()
        assert (stock["locations"]["main"]["on_hand"], stock["locations"]["shop"]["on_hand"], stock["on_hand"]) == (
            6, 4, 10)
        shop = (await client.get("/locations/shop/stock", headers=HEADERS)).json()
        assert shop["items"] == [{"sku": "MUG", "location": "shop", "on_hand": 4, "allocated": 0, "available": 4}]

    async def test_more_than_on_hand_is_409_with_the_reason_and_sends_nothing(self, client, bus):
        await stock_in(client, "MUG", 2, "main")
        response = await client.post("/stock/MUG/transfers", json={"from_location": "main", "to_location": "shop",
                                                                   "quantity": 3, "reason": "r"}, headers=HEADERS)
        assert response.status_code == 409 and "would leave on_hand at -1" in response.json()["detail"]
        assert not any(isinstance(e.payload, TransferStock) for e, _ in bus.published)

    async def test_the_same_location_twice_is_409(self, client):
        await stock_in(client, "MUG", 2, "main")
        response = await client.post("/stock/MUG/transfers", json={"from_location": "main", "to_location": "main",
                                                                   "quantity": 1, "reason": "r"}, headers=HEADERS)
        assert response.status_code == 409


class TestLocationStock:
    async def test_a_location_lists_its_skus_in_order_a_page_at_a_time(self, client):
        for sku in ("C", "A", "B"):
            await stock_in(client, sku, 1, "main")
        await stock_in(client, "D", 1, "other")
        first = (await client.get("/locations/main/stock", params={"limit": 2}, headers=HEADERS)).json()
        assert [i["sku"] for i in first["items"]] == ["A", "B"] and first["next_after"] == "B"
        rest = (await client.get("/locations/main/stock", params={"after": "B"}, headers=HEADERS)).json()
        assert [i["sku"] for i in rest["items"]] == ["C"] and rest["next_after"] is None

    async def test_a_bad_location_name_is_422(self, client):
        assert (await client.get("/locations/a.b/stock", headers=HEADERS)).status_code == 422


class TestOversold:
    async def test_oversold_skus_list_the_orders_allocated_beyond_on_hand(self, client, send):
        await stock_in(client, "MUG", 3)
        await stock_in(client, "TEE", 5)
        first, second = uuid.uuid4(), uuid.uuid4()
        await send(AllocateStock(order_id=first, sku="MUG", quantity=2))
        await send(AllocateStock(order_id=second, sku="MUG", quantity=3))
        await send(AllocateStock(order_id=uuid.uuid4(), sku="TEE", quantity=5))
        body = (await client.get("/stock/oversold", headers=HEADERS)).json()
        assert body["next_after"] is None
        [mug] = body["items"]
        assert (mug["sku"], mug["available"], mug["oversold_by"]) == ("MUG", -2, 2)
        assert mug["orders"] == [{"order_id": str(second), "allocated": 3, "short": 2}]


class TestLowStock:
    async def test_low_items_come_with_the_reorder_suggestion_counting_orders_and_due(self, client, send):
        await send(DefineStockItem(sku="MUG", title="Mug", minimum_level=5, supplier="Potteries", defined_by="o"))
        await send(DefineStockItem(sku="TEE", title="Tee", minimum_level=1, defined_by="o"))
        await send(DefineStockItem(sku="JUG", title="Jug", minimum_level=2, defined_by="o"))
        await stock_in(client, "MUG", 4)
        await stock_in(client, "TEE", 4)
        await send(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=3))
        await send(CreatePurchaseOrder(po_id=uuid.uuid4(), supplier="Potteries", created_by="o",
                                       lines=[PurchaseOrderLine(sku="MUG", quantity=2)]))
        body = (await client.get("/stock/low", headers=HEADERS)).json()
        assert [i["sku"] for i in body["items"]] == ["JUG", "MUG"] and body["next_after"] is None
        mug = body["items"][1]
        # minimum 5 + open orders 3 − available 1 − due 2
        assert (mug["available"], mug["allocated"], mug["due"], mug["suggested_reorder"]) == (1, 3, 2, 5)
        assert mug["supplier"] == "Potteries"
        page = (await client.get("/stock/low", params={"limit": 1}, headers=HEADERS)).json()
        assert [i["sku"] for i in page["items"]] == ["JUG"] and page["next_after"] == "JUG"
