"""The fulfilment HTTP API, through an in-process ASGI client, with the command handler run as each command is
published (as the worker would, only at once)."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from oms_contracts import topics
from oms_contracts.fulfilment.v1 import CreateShipment, ShippingDefault
from oms_contracts.printing.v1 import PrintPickList
from oms_platform.auth import ApiKeys
from oms_platform.testing import RecordingBus
from fulfilment.adapters.carriers import s10_tracking_number
from fulfilment.domain.rules import ChannelSettings
from fulfilment.entrypoints.api import fulfilment_router
from fulfilment.service_layer.handlers import handle_command

OPS_KEY = "ops-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
PACKER_KEY = "packer-key-0123456789abcdef"


class InlineBus(RecordingBus):
    """Records what is published and handles fulfilment commands on the spot."""

    ctx = None
    paused = False

    async def publish(self, envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        if envelope.payload.TOPIC == topics.FULFILMENT_COMMANDS and not self.paused:
            await handle_command(envelope, ctx=self.ctx)


@pytest.fixture
def bus() -> InlineBus:
    return InlineBus("fulfilment")


@pytest.fixture
def client(ctx, bus):
    bus.ctx = ctx
    app = FastAPI()
    keys = ApiKeys(f"ops:{OPS_KEY},admin:{ADMIN_KEY},packer:{PACKER_KEY}")
    app.include_router(fulfilment_router(
        shipments=ctx.shipments, batches=ctx.batches, settings_store=ctx.settings, bus=bus, keys=keys,
        range_carrier="OMS Post", default_channel=ChannelSettings(), default_shipping=ShippingDefault(carrier="OMS Post"),
        command_timeout=0.2,
    ))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(key=OPS_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def ship(bus, make_order, **overrides):
    order = make_order(**overrides)
    await bus.publish(bus.envelope(CreateShipment(order=order)), key=str(order.order_id))
    return order


class TestGetShipment:
    async def test_without_a_key_or_with_an_unknown_one_it_is_refused(self, client):
        assert (await client.get(f"/shipments/{uuid.uuid4()}")).status_code == 401
        response = await client.get(f"/shipments/{uuid.uuid4()}", headers=auth("not-a-key-0123456789"))
        assert response.status_code == 401

    async def test_an_order_without_shipment_is_404_with_the_reason(self, client):
        order_id = uuid.uuid4()
        response = await client.get(f"/shipments/{order_id}", headers=auth())
        assert response.status_code == 404
        assert response.json()["detail"] == (
            f"order {order_id} has no shipment: it is unknown or has not been processed yet"
        )

    async def test_a_malformed_order_id_is_422_naming_it(self, client):
        response = await client.get("/shipments/not-a-uuid", headers=auth())
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "order_id"]

    async def test_a_shipment_shows_its_tracking_number_documents_and_items(self, client, bus, make_order):
        order = await ship(bus, make_order, order_number="PH-2002")
        for key in (OPS_KEY, ADMIN_KEY, PACKER_KEY):
            response = await client.get(f"/shipments/{order.order_id}", headers=auth(key))
            assert response.status_code == 200
        shown = response.json()
        assert shown["order_number"] == "PH-2002" and shown["status"] == "printing"
        assert (shown["carrier"], shown["service"], shown["tracking_number"]) == ("OMS Post", "Standard",
                                                                                  s10_tracking_number("OM", 100, "GB"))
        assert [(d["document_type"], d["status"]) for d in shown["documents"]] == [
            ("invoice", "sent"), ("shipping_label", "sent")]
        assert [(i["sku"], i["quantity"], i["barcode"]) for i in shown["items"]] == [
            ("MUG-BLUE", 2, "5012345678900"), ("TEE-L", 1, "5098765432109")]


class TestStaffCommands:
    async def test_void_answers_with_the_voided_shipment_and_409_after_confirmation(self, client, bus, make_order):
        order = await ship(bus, make_order)
        response = await client.post(f"/shipments/{order.order_id}/void", json={"reason": "wrong address"},
                                     headers=auth())
        assert response.status_code == 200 and response.json()["status"] == "voided"
        assert response.json()["void_reason"] == "wrong address"

    async def test_a_request_with_unknown_fields_is_422(self, client, bus, make_order):
        order = await ship(bus, make_order)
        response = await client.post(f"/shipments/{order.order_id}/void", json={"reason": "x", "force": True},
                                     headers=auth())
        assert response.status_code == 422

    async def test_a_slow_worker_gets_202_with_the_command_id(self, client, bus, make_order):
        order = await ship(bus, make_order)
        bus.paused = True
        response = await client.post(f"/shipments/{order.order_id}/void", json={"reason": "x"}, headers=auth())
        assert response.status_code == 202 and response.json()["status_url"] == f"/shipments/{order.order_id}"

    async def test_a_wrong_scan_is_409_with_the_reason(self, client, bus, make_order):
        put = await client.put("/channels/bench/settings", json={"flow": "pack", "documents": ["shipping_label"]},
                               headers=auth(ADMIN_KEY))
        assert put.status_code == 200 and put.json()["configured"]
        order = await ship(bus, make_order, channel="bench", order_number="B-9")
        scan = {"code": "SOCK", "station": "bench-1"}
        response = await client.post(f"/pack/{order.order_id}/scan", json=scan, headers=auth(PACKER_KEY))
        assert response.status_code == 409 and response.json()["detail"] == "wrong item: SOCK is not in order B-9"
        for code in ("MUG-BLUE", "MUG-BLUE"):
            response = await client.post(f"/pack/{order.order_id}/scan", json={**scan, "code": code},
                                         headers=auth(PACKER_KEY))
            assert response.status_code == 200 and response.json()["status"] == "packing"
        response = await client.post(f"/pack/{order.order_id}/scan", json={**scan, "code": "TEE-L"},
                                     headers=auth(PACKER_KEY))
        assert response.status_code == 200 and response.json()["status"] == "confirmed"
        assert response.json()["documents"][0]["station"] == "bench-1"

    async def test_shipments_waiting_for_a_typed_number_are_listed(self, client, bus, make_order):
        rules = {"rules": [{"name": "dpd", "channels": ["trade"], "service": "Next Day", "carrier": "DPD",
                            "manual_tracking": True}], "default": {"carrier": "OMS Post"}}
        assert (await client.put("/shipping-rules", json=rules, headers=auth(ADMIN_KEY))).status_code == 200
        waiting = await ship(bus, make_order, channel="trade")
        await ship(bus, make_order)
        listed = await client.get("/shipments", params={"status": "awaiting_tracking"}, headers=auth())
        assert [s["order_id"] for s in listed.json()] == [str(waiting.order_id)]
        assert len((await client.get("/shipments", headers=auth())).json()) == 2
        assert (await client.get("/shipments", params={"status": "lost"}, headers=auth())).status_code == 422

    async def test_typing_a_tracking_number_for_a_manual_carrier(self, client, bus, make_order):
        rules = {"rules": [{"name": "dpd", "service": "Next Day", "carrier": "DPD", "manual_tracking": True}],
                 "default": {"carrier": "OMS Post"}}
        assert (await client.put("/shipping-rules", json=rules, headers=auth(ADMIN_KEY))).status_code == 200
        order = await ship(bus, make_order)
        assert (await client.get(f"/shipments/{order.order_id}", headers=auth())).json()["status"] == (
            "awaiting_tracking")
        response = await client.post(f"/shipments/{order.order_id}/tracking",
                                     json={"tracking_number": "15501234567890"}, headers=auth())
        assert response.status_code == 200 and response.json()["tracking_number"] == "15501234567890"
        again = await client.post(f"/shipments/{order.order_id}/tracking",
                                  json={"tracking_number": "15501234567891"}, headers=auth())
        assert again.status_code == 409


class TestSettings:
    async def test_only_admin_may_change_rules_and_a_range_rule_must_name_the_built_in_carrier(self, client):
        rules = {"rules": [{"name": "x", "service": "Express", "carrier": "UPS"}], "default": {"carrier": "OMS Post"}}
        assert (await client.put("/shipping-rules", json=rules, headers=auth())).status_code == 403
        response = await client.put("/shipping-rules", json=rules, headers=auth(ADMIN_KEY))
        assert response.status_code == 422 and "rule 'x': carrier 'UPS' has no tracking range" in response.text
        shown = await client.get("/shipping-rules", headers=auth())
        assert shown.json() == {"rules": [], "default": {"service": None, "carrier": "OMS Post",
                                                         "manual_tracking": False}}

    async def test_a_rule_that_could_never_match_is_refused(self, client):
        rules = {"rules": [{"name": "odd", "min_weight_kg": 5, "max_weight_kg": 2, "service": "S",
                            "carrier": "OMS Post"}], "default": {"carrier": "OMS Post"}}
        response = await client.put("/shipping-rules", json=rules, headers=auth(ADMIN_KEY))
        assert response.status_code == 422 and "min_weight_kg (5.0) must be below max_weight_kg" in response.text

    async def test_channel_settings_show_the_defaults_until_set(self, client):
        shown = (await client.get("/channels/ebay/settings", headers=auth())).json()
        assert shown == {"channel": "ebay", "configured": False, "flow": "printed",
                         "documents": ["invoice", "shipping_label"]}
        bad = await client.put("/channels/ebay/settings", json={"flow": "later", "documents": ["invoice"]},
                               headers=auth(ADMIN_KEY))
        assert bad.status_code == 422


class TestBatches:
    async def test_a_batch_answers_with_its_pick_list(self, client, bus, make_order):
        orders = [await ship(bus, make_order) for _ in range(2)]
        response = await client.post("/batches", json={"order_ids": [str(o.order_id) for o in orders]},
                                     headers=auth())
        assert response.status_code == 201, response.text
        batch = response.json()
        assert [(l["sku"], l["quantity"]) for l in batch["pick_list"]] == [("MUG-BLUE", 4), ("TEE-L", 2)]
        assert len(bus.payloads(PrintPickList)) == 1
        assert (await client.get(f"/batches/{batch['batch_id']}", headers=auth())).json() == batch

    async def test_orders_that_cannot_join_are_named_in_a_409(self, client, bus, make_order):
        stranger = uuid.uuid4()
        response = await client.post("/batches", json={"order_ids": [str(stranger)]}, headers=auth())
        assert response.status_code == 409
        assert response.json()["detail"] == f"order {stranger} has no shipment (process it first)"
