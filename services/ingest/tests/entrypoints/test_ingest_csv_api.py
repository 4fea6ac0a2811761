"""POST /imports/csv through an in-process ASGI client, with a fake intake log and a recording bus."""

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
URL = "/imports/csv"
CSV = {"content-type": "text/csv; charset=utf-8"}


@pytest.fixture
def client(store, bus, clock):
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY},packer:{PACKER_KEY}")
    app.include_router(ingest_router(store=store, bus=bus, keys=keys, clock=clock, max_body_bytes=LIMIT))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(key=OPS_KEY) -> dict:
    return {"Authorization": f"Bearer {key}", **CSV}


class TestCsvImportAccess:
    async def test_without_a_key_it_is_refused_and_nothing_is_stored(self, client, store, sample_csv):
        response = await client.post(URL, content=sample_csv, headers=CSV)
        assert response.status_code == 401 and store.intakes == {}

    async def test_a_packer_may_not_import(self, client, store, sample_csv):
        response = await client.post(URL, content=sample_csv, headers=auth(PACKER_KEY))
        assert response.status_code == 403 and store.intakes == {}


class TestAGoodFile:
    async def test_it_is_stored_first_then_each_order_is_published_and_202_counts_them(
        self, client, store, bus, sample_csv
    ):
        statuses_at_publish = []
        bus.on_publish = lambda envelope: statuses_at_publish.append(store.only().status)
        response = await client.post(URL, content=sample_csv.encode("utf-8"), headers=auth())
        assert response.status_code == 202, response.text
        body = response.json()
        intake_id = uuid.UUID(body["intake_id"])
        assert body["orders"] == 2 and body["skipped"] == [] and body["status"] == "published"
        assert body["status_url"] == f"/intake/{intake_id}"
        assert statuses_at_publish == [IntakeStatus.RECEIVED, IntakeStatus.RECEIVED]
        assert [key for _, key in bus.published] == ["csv:PHONE-10001", "csv:PHONE-10002"]
        assert bus.event_ids() == [derived_id(intake_id, "order-received", ref) for ref in ("PHONE-10001",
                                                                                            "PHONE-10002")]
        assert [str(p.order.total()) for p in bus.payloads(OrderReceived)] == ["36.50", "66.10"]
        stored = store.intakes[intake_id]
        assert stored.body == sample_csv and stored.channel == "csv"
        assert all(name.lower() != "authorization" for name, _ in stored.headers)

    async def test_the_intake_log_shows_the_file_as_received(self, client, sample_csv):
        response = await client.post(URL, content=sample_csv, headers=auth())
        shown = await client.get(response.json()["status_url"], headers=auth())
        assert shown.status_code == 200 and shown.json()["body"] == sample_csv
        assert shown.json()["kind"] == "csv_orders" and shown.json()["status"] == "published"

    async def test_the_same_file_twice_sends_the_same_orders_under_the_same_keys(self, client, bus, sample_csv):
        first = await client.post(URL, content=sample_csv, headers=auth())
        second = await client.post(URL, content=sample_csv, headers=auth())
        assert first.status_code == second.status_code == 202
        keys = [key for _, key in bus.published]
        assert keys[:2] == keys[2:]
        orders = [p.order for p in bus.payloads(OrderReceived)]
        assert orders[:2] == orders[2:]

    async def test_a_mapping_in_the_query_reads_another_layout(self, client, bus, csv_file):
        header = ["Ref" if column == "order_ref" else column for column in csv_file.base]
        row = {("Ref" if c == "order_ref" else c): v for c, v in csv_file.base.items()}
        response = await client.post(URL, params={"mapping": json.dumps({"Ref": "order_ref"})},
                                     content=csv_file(row, header=header, base_row=False), headers=auth())
        assert response.status_code == 202, response.text
        assert [key for _, key in bus.published] == ["csv:PHONE-10001"]


class TestABadFile:
    async def test_422_names_every_bad_row_and_nothing_is_published(self, client, store, bus, csv_file):
        text = csv_file({"order_ref": "A-1"}, {"order_ref": "A-2", "quantity": "-1"},
                        {"order_ref": "A-3", "ship_country": "UK1"})
        response = await client.post(URL, content=text, headers=auth())
        assert response.status_code == 422
        errors = [(e["row"], e["column"]) for e in response.json()["detail"]]
        assert errors == [(3, "quantity"), (4, "ship_country")]
        assert bus.published == []
        stored = store.intakes[uuid.UUID(response.json()["intake_id"])]
        assert stored.status is IntakeStatus.FAILED and stored.body == text
        assert "row 3, quantity" in stored.error and "row 4, ship_country" in stored.error

    async def test_a_missing_column_is_named_on_the_header_row(self, client, bus, csv_file):
        header = [c for c in csv_file.base if c != "grand_total"]
        response = await client.post(URL, content=csv_file({}, header=header), headers=auth())
        assert response.status_code == 422 and bus.published == []
        [error] = response.json()["detail"]
        assert error["row"] == 1 and "grand_total" in error["msg"]

    async def test_an_empty_file_is_422(self, client, store, bus):
        response = await client.post(URL, content=b"", headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["type"] == "empty_file"
        assert bus.published == [] and store.only().status is IntakeStatus.FAILED

    async def test_an_oversized_file_is_413_and_nothing_is_published(self, client, store, bus, sample_csv):
        response = await client.post(URL, content=sample_csv * 100, headers=auth())
        assert response.status_code == 413 and bus.published == []
        assert store.only().status is IntakeStatus.FAILED

    async def test_a_file_that_is_not_utf8_is_422(self, client, bus, sample_csv):
        response = await client.post(URL, content=sample_csv.encode("latin-1"), headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["type"] == "unicode_invalid"
        assert bus.published == []

    async def test_an_unknown_mapping_is_422_naming_the_query(self, client, bus, sample_csv):
        response = await client.post(URL, params={"mapping": "nonsense"}, content=sample_csv, headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "mapping"]
        assert bus.published == []
