"""The printers, templates and stations API, through an in-process ASGI client with fake stores."""

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from oms_platform.auth import ApiKeys
from printing.entrypoints.admin_api import admin_router
from printing.domain.printers import PrinterConfig

ADMIN, OPS = "admin-key-0123456789abcdef", "ops-key-0123456789abcdef"
THERMAL = {"name": "thermal-1", "protocol": "raw9100", "address": "10.0.0.6:9100", "paper": "4x6",
           "document_types": ["shipping_label"], "label_format": "zpl"}


def auth(key=ADMIN) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(stores):
    from datetime import timedelta

    app = FastAPI()
    app.include_router(admin_router(
        printers=stores.printers, printer_status=stores.printer_status, templates=stores.templates,
        stations=stores.stations, keys=ApiKeys(f"admin:{ADMIN},ops:{OPS}"), clock=lambda: datetime.now(UTC),
        seller_name="Acme", online_within=timedelta(seconds=30),
    ))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class TestPrinters:
    async def test_an_admin_registers_a_printer_and_staff_see_it_with_its_state(self, client, stores):
        answer = await client.put("/printers/thermal-1", json=THERMAL, headers=auth())
        assert answer.status_code == 200 and answer.json()["uri"] == "socket://10.0.0.6:9100"
        await stores.printer_status.record("socket://10.0.0.6:9100", ok=False, at=datetime.now(UTC), error="refused")
        [listed] = (await client.get("/printers", headers=auth(OPS))).json()
        assert listed["name"] == "thermal-1" and listed["online"] is False and listed["last_error"] == "refused"
        assert listed["last_failure_at"] and listed["last_success_at"] is None

    async def test_an_edit_replaces_the_printer(self, client, stores):
        await client.put("/printers/thermal-1", json=THERMAL, headers=auth())
        await client.put("/printers/thermal-1", json={**THERMAL, "label_format": "pdf"}, headers=auth())
        assert [p.label_format for p in stores.printers.configs] == ["pdf"]

    @pytest.mark.parametrize("change, field", [
        ({"protocol": "lpd"}, "protocol"), ({"address": "10.0.0.6:9100?x=1"}, "address"),
        ({"document_types": []}, "document_types"), ({"colour": True}, "colour"),
    ])
    async def test_a_bad_printer_gets_422_naming_the_field(self, client, change, field):
        answer = await client.put("/printers/thermal-1", json={**THERMAL, **change}, headers=auth())
        assert answer.status_code == 422 and field in answer.text

    async def test_the_path_and_the_body_must_name_the_same_printer(self, client):
        assert (await client.put("/printers/other", json=THERMAL, headers=auth())).status_code == 422

    async def test_ops_may_read_but_not_edit_printers(self, client):
        assert (await client.put("/printers/thermal-1", json=THERMAL, headers=auth(OPS))).status_code == 403
        assert (await client.get("/printers", headers=auth(OPS))).status_code == 200

    async def test_a_printer_is_removed(self, client, stores):
        stores.printers.configs.append(PrinterConfig(**THERMAL))
        assert (await client.delete("/printers/thermal-1", headers=auth())).status_code == 204
        assert (await client.delete("/printers/thermal-1", headers=auth())).status_code == 404


class TestTemplates:
    async def test_a_template_that_fails_to_render_is_refused_with_the_line_and_reason(self, client, stores):
        source = "<h1>{{ order.order_number }}</h1>\n\n<p>{{ order.lines[0].colour.name }}</p>"
        answer = await client.put("/templates/invoice", json={"source": source}, headers=auth())
        assert answer.status_code == 422
        detail = answer.json()["detail"]
        assert detail["line"] == 3 and "colour" in detail["reason"] and stores.templates.docs == {}

    async def test_a_syntax_error_is_refused_with_its_line(self, client):
        answer = await client.put("/templates/pick_list", json={"source": "ok\n{% for x in lines %}"},
                                  headers=auth())
        assert answer.status_code == 422 and answer.json()["detail"]["line"] == 2

    async def test_a_good_template_is_saved_per_channel_and_country(self, client, stores):
        answer = await client.put("/templates/shipping_label_zpl", params={"channel": "ebay", "country": "DE"},
                                  json={"source": "^XA^FD{{ tracking_number }}^FS^XZ"}, headers=auth())
        assert answer.status_code == 200 and answer.json()["key"] == "shipping_label_zpl@ebay@DE"
        assert list(await stores.templates.overrides()) == ["shipping_label_zpl@ebay@DE"]
        listed = (await client.get("/templates", headers=auth(OPS))).json()
        assert [t["key"] for t in listed] == ["shipping_label_zpl@ebay@DE"]

    async def test_an_unknown_template_is_422_and_ops_may_not_edit(self, client):
        assert (await client.put("/templates/receipt", json={"source": "x"}, headers=auth())).status_code == 422
        assert (await client.put("/templates/invoice", json={"source": "x"}, headers=auth(OPS))).status_code == 403

    async def test_a_preview_is_a_pdf_or_a_png_of_the_template_in_use(self, client):
        await client.put("/templates/invoice", params={"channel": "amazon"},
                         json={"source": "<h1>AMAZON {{ order.order_number }}</h1>"}, headers=auth())
        pdf = await client.post("/templates/invoice/preview", json={"channel": "amazon"}, headers=auth(OPS))
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        png = await client.post("/templates/invoice/preview", json={"format": "png"}, headers=auth(OPS))
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")

    async def test_a_candidate_previews_without_being_saved_and_a_zpl_label_previews_as_text(self, client, stores):
        zpl = await client.post("/templates/shipping_label_zpl/preview", headers=auth(OPS),
                                json={"source": "^XA^FD{{ tracking_number }}^FS^XZ"})
        assert zpl.text == "^XA^FDOM123456785GB^FS^XZ" and stores.templates.docs == {}

    async def test_the_default_source_is_served(self, client):
        answer = await client.get("/templates/pick_list/default", headers=auth(OPS))
        assert answer.status_code == 200 and "Totals per SKU" in answer.text


class TestStations:
    async def test_a_station_is_registered_with_a_key_shown_once_and_revoked(self, client, stores):
        created = await client.post("/stations", json={"name": "bench-1"}, headers=auth())
        assert created.status_code == 201
        key = created.json()["key"]
        assert await stores.stations.authenticate("bench-1", key) == "ok"
        assert key not in str(stores.stations.docs)  # only its hash is kept
        revoked = await client.post("/stations/bench-1/revoke", headers=auth())
        assert revoked.json() == {"name": "bench-1", "revoked": True, "last_seen_at": None, "online": False}
        assert await stores.stations.authenticate("bench-1", key) == "revoked"

    async def test_a_station_seen_lately_is_online(self, client, stores):
        await client.post("/stations", json={"name": "bench-2"}, headers=auth())
        await stores.stations.seen("bench-2", at=datetime.now(UTC))
        [station] = (await client.get("/stations", headers=auth(OPS))).json()
        assert station["online"] is True

    async def test_only_an_admin_registers_stations(self, client):
        assert (await client.post("/stations", json={"name": "bench-3"}, headers=auth(OPS))).status_code == 403
        assert (await client.post("/stations/none/revoke", headers=auth())).status_code == 404
