"""The stock-items HTTP API (define, read, list, CSV import and export), through an in-process ASGI client."""

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts.inventory.v1 import DefineStockItem
from oms_platform.auth import ApiKeys
from inventory.entrypoints.api import items_router

OPS_KEY = "ops-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {OPS_KEY}"}
CSV_HEADERS = {**HEADERS, "Content-Type": "text/csv"}
COLUMNS = "sku,title,barcode,weight,default_location,default_bin,minimum_level,supplier\n"


@pytest.fixture
def bus(worker_bus):
    return worker_bus


@pytest.fixture
def client(repo, bus):
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY},packer:{PACKER_KEY}")
    app.include_router(items_router(repo=repo, bus=bus, keys=keys, command_timeout=0.2))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


MUG = {"title": "Blue mug", "barcode": "5012345678900", "weight": 0.35, "minimum_level": 5, "supplier": "Potteries"}


class TestDefineStockItem:
    async def test_a_new_item_is_created_through_a_command_keyed_by_sku_and_answered_201(self, client, bus):
        response = await client.put("/stock-items/MUG", json=MUG, headers=HEADERS)
        assert response.status_code == 201
        body = response.json()
        assert (body["sku"], body["title"], body["minimum_level"], body["defined_by"]) == (
            "MUG", "Blue mug", 5, "ops-key-1")
        [(envelope, key)] = bus.published
        assert key == "MUG" and isinstance(envelope.payload, DefineStockItem)

    async def test_putting_again_replaces_the_item_and_answers_200(self, client):
        await client.put("/stock-items/MUG", json=MUG, headers=HEADERS)
        response = await client.put("/stock-items/MUG", json={"title": "Mug"}, headers=HEADERS)
        assert response.status_code == 200
        assert (response.json()["title"], response.json()["minimum_level"], response.json()["supplier"]) == (
            "Mug", 0, None)

    async def test_the_default_location_and_bin_are_stored_and_read_back(self, client):
        body = {**MUG, "default_location": "main", "default_bin": "A-01.3"}
        assert (await client.put("/stock-items/MUG", json=body, headers=HEADERS)).status_code == 201
        item = (await client.get("/stock-items/MUG", headers=HEADERS)).json()
        assert (item["default_location"], item["default_bin"]) == ("main", "A-01.3")

    async def test_the_same_idempotency_key_is_one_command(self, client, bus, repo):
        headers = {**HEADERS, "Idempotency-Key": "k1"}
        first = await client.put("/stock-items/MUG", json=MUG, headers=headers)
        second = await client.put("/stock-items/MUG", json=MUG, headers=headers)
        assert (first.status_code, second.status_code) == (201, 200)
        assert len(bus.payloads(DefineStockItem)) == 1 and repo.items.docs["MUG"]["version"] == 1

    async def test_a_slow_worker_gets_202_with_the_command_id(self, client, bus):
        bus.running = False
        response = await client.put("/stock-items/MUG", json=MUG, headers=HEADERS)
        assert response.status_code == 202
        assert response.json()["command_id"] == str(bus.published[0][0].event_id)

    @pytest.mark.parametrize(("body", "field"), [
        ({**MUG, "colour": "blue"}, "colour"), ({"weight": 1}, "title"),
        ({**MUG, "minimum_level": -1}, "minimum_level"),
        ({**MUG, "default_location": "a.b"}, "default_location"),
        ({**MUG, "default_bin": "A 1"}, "default_bin"),
    ])
    async def test_a_bad_body_gets_422_naming_the_field_and_sends_nothing(self, client, bus, body, field):
        response = await client.put("/stock-items/MUG", json=body, headers=HEADERS)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", field]
        assert bus.published == []

    async def test_a_packer_may_not_define_items(self, client):
        headers = {"Authorization": f"Bearer {PACKER_KEY}"}
        assert (await client.put("/stock-items/MUG", json=MUG, headers=headers)).status_code == 403


class TestReadStockItems:
    async def test_an_unknown_sku_is_404(self, client):
        response = await client.get("/stock-items/NOPE", headers=HEADERS)
        assert response.status_code == 404 and "NOPE" in response.json()["detail"]

    async def test_items_list_in_sku_order_a_page_at_a_time(self, client):
        for sku in ("C", "A", "B"):
            await client.put(f"/stock-items/{sku}", json={"title": sku}, headers=HEADERS)
        first = (await client.get("/stock-items", params={"limit": 2}, headers=HEADERS)).json()
        assert [i["sku"] for i in first["items"]] == ["A", "B"] and first["next_after"] == "B"
        rest = (await client.get("/stock-items", params={"after": "B"}, headers=HEADERS)).json()
        assert [i["sku"] for i in rest["items"]] == ["C"] and rest["next_after"] is None

    async def test_reading_needs_a_key(self, client):
        assert (await client.get("/stock-items")).status_code == 401


class TestImportAndExport:
    async def test_valid_rows_are_sent_one_command_each_and_become_items(self, client, bus):
        csv = COLUMNS + "MUG,Blue mug,501,0.35,shelf-A,A-01.3,5,Potteries\nTEE,Tee,,,,,,\n"
        response = await client.post("/stock-items/import", content=csv, headers=CSV_HEADERS)
        assert response.status_code == 202 and response.json()["accepted"] == 2
        assert [(e.payload.sku, k) for e, k in bus.published] == [("MUG", "MUG"), ("TEE", "TEE")]
        mug = (await client.get("/stock-items/MUG", headers=HEADERS)).json()
        assert (mug["default_location"], mug["default_bin"], mug["weight"], mug["minimum_level"]) == (
            "shelf-A", "A-01.3", 0.35, 5)
        tee = (await client.get("/stock-items/TEE", headers=HEADERS)).json()
        assert tee["default_bin"] is None

    async def test_any_bad_row_is_422_with_row_numbers_and_reasons_and_nothing_is_sent(self, client, bus):
        csv = COLUMNS + "MUG,Blue mug,,,,,,\nTEE,,,heavy,,,,\nMUG,Again,,,,,,\n"
        response = await client.post("/stock-items/import", content=csv, headers=CSV_HEADERS)
        assert response.status_code == 422 and bus.published == []
        rows = response.json()["rows"]
        assert [r["row"] for r in rows] == [2, 3]
        assert rows[0]["errors"][0] == "title: Field required" and rows[0]["errors"][1].startswith("weight:")
        assert rows[1]["errors"] == ["sku: MUG already on row 1"]

    async def test_a_body_that_is_not_csv_is_415(self, client):
        response = await client.post("/stock-items/import", json={"sku": "A"}, headers=HEADERS)
        assert response.status_code == 415

    async def test_an_empty_file_is_422(self, client):
        response = await client.post("/stock-items/import", content=COLUMNS, headers=CSV_HEADERS)
        assert response.status_code == 422

    async def test_the_export_is_csv_that_imports_back_to_the_same_items(self, client, repo):
        csv = COLUMNS + 'MUG,"Mug, blue",501,0.35,shelf-A,B2,5,Potteries\nTEE,Tee,,,default,,0,\n'
        await client.post("/stock-items/import", content=csv, headers=CSV_HEADERS)
        exported = await client.get("/stock-items/export", headers=HEADERS)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        assert exported.text == csv
