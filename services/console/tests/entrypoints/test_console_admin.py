"""Admin pages against a fake of the services' APIs: the printer registry, channel settings, the audit of one
person, and the grid's one listing of failed write-backs."""

import json
import re
import uuid

import httpx
import pytest

from console.adapters.services import Services
from console.adapters.users import InMemoryUsers
from console.domain.users import new_user
from console.entrypoints.web import build_app

ORDER_ID, OTHER_ID = str(uuid.uuid4()), str(uuid.uuid4())
PRINTER = {"name": "desk-laser", "protocol": "ipp", "address": "10.0.0.5:631/ipp/print", "uri": "ipp://x",
           "paper": "A4", "document_types": ["invoice", "packing_slip"], "label_format": "pdf", "station": None,
           "online": True}
CHANNEL = {"channel_id": "woo-main", "name": "Woo shop", "kind": "woocommerce", "account": "main",
           "url": "https://shop.example.org", "credentials": {"consumer_key": "env:WOO_KEY",
                                                             "consumer_secret": "file:/run/secrets/woo"},
           "interval_seconds": 300.0, "unprocessed_statuses": ["processing"],
           "options": {"push_stock": True, "start_date": "2026-01-01"}, "enabled": True,
           "download_requested_at": None, "status": {"channel_id": "woo-main"}}


def order(order_id: str, number: str, timeline: list[dict]) -> dict:
    return {"order_id": order_id, "order_number": number, "channel": "phone", "status": "open", "paid": True,
            "parked": False, "locked": False, "unallocated_skus": [], "opened_at": "2026-11-29T06:00:00+00:00",
            "total": "10.00", "currency": "GBP", "timeline": timeline,
            "details": {"buyer": {"name": "Ada"}, "shipping_address": {"country": "GB"}}}


class FakeApis:
    """Answers like the printing, ingest, orders and inventory APIs; records each call with its user."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict, dict, str | None]] = []
        self.refuse: dict[tuple[str, str], httpx.Response] = {}
        self.silent: set[str] = set()
        self.failed_writebacks = [{"writeback_id": str(uuid.uuid4()), "order_id": ORDER_ID, "state": "failed"}]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        body = json.loads(request.content) if request.content else {}
        self.calls.append((method, path, dict(request.url.params), body, request.headers.get("X-OMS-User")))
        if request.url.host in self.silent:
            raise httpx.ConnectError("down", request=request)
        if (method, path) in self.refuse:
            return self.refuse[(method, path)]
        if path == "/printers":
            return httpx.Response(200, json=[PRINTER])
        if path.startswith("/printers/") and method == "PUT":
            return httpx.Response(200, json={**body, "uri": "ipp://x"})
        if path.startswith("/printers/") and method == "DELETE":
            return httpx.Response(204)
        if path == "/stations":
            return httpx.Response(200, json=[{"name": "bench-1", "revoked": False, "online": True},
                                             {"name": "old-bench", "revoked": True, "online": False}])
        if path == "/print-jobs":
            return httpx.Response(200, json=[{
                "job_id": str(uuid.uuid4()), "order_id": ORDER_ID, "order_number": "PH-1", "document_type": "invoice",
                "state": "printed", "reprints": 2, "history": [],
                "reprint_requests": [{"reason": "smudged", "requested_by": "sam", "state": "printed",
                                      "requested_at": "2026-11-29T09:00:00+00:00"},
                                     {"reason": "torn", "requested_by": "kim", "state": "printed",
                                      "requested_at": "2026-11-29T09:05:00+00:00"}]}])
        if path == "/channels":
            return httpx.Response(200, json=[CHANNEL])
        if path == "/channels/woo-main":
            return httpx.Response(200, json=CHANNEL if method == "GET" else {**CHANNEL, **body})
        if path == "/writebacks":
            return httpx.Response(200, json=self.failed_writebacks)
        if path == "/orders/counts":
            return httpx.Response(200, json={"total": 2})
        if path == "/orders":
            if request.url.params.get("actor"):
                return httpx.Response(200, json={"items": [
                    order(ORDER_ID, "PH-1", [
                        {"at": "2026-11-29T06:00:00+00:00", "what": "opened", "by": "ops-key-1", "detail": None},
                        {"at": "2026-11-29T07:00:00+00:00", "what": "parked", "by": "sam", "detail": "call back"}]),
                    order(OTHER_ID, "PH-2", [
                        {"at": "2026-11-29T06:30:00+00:00", "what": "tags changed", "by": "sam", "detail": "vip"}]),
                ], "total": 3, "next_cursor": "page-2"})
            return httpx.Response(200, json={"items": [order(ORDER_ID, "PH-1", []), order(OTHER_ID, "PH-2", [])],
                                             "total": 2, "next_cursor": None})
        if path == "/dead-letters":
            status = request.url.params.get("status")
            letters = [{"letter_id": f"{request.url.host}-1", "topic": "oms.orders.events",
                        "filed_at": "2026-11-29T05:00:00", "status": status, "closed": {"by": "sam" if request.url.host == "orders" else "kim",
                                                     "at": "2026-11-29T08:00:00+00:00", "reason": "fixed the SKU"}}]
            return httpx.Response(200, json=letters if status == "retried" else [])
        if path == "/templates":
            return httpx.Response(200, json=[{"key": "invoice", "template": "invoice", "channel": "ebay",
                                              "country": None, "source": "x", "updated_by": "sam",
                                              "updated_at": "2026-11-28T10:00:00+00:00"}])
        if path == "/purchase-orders":
            return httpx.Response(200, json={"purchase_orders": [
                {"po_id": str(uuid.uuid4()), "supplier": "Mugs Ltd", "status": "open", "created_by": "sam",
                 "created_at": "2026-11-27T09:00:00+00:00"},
                {"po_id": str(uuid.uuid4()), "supplier": "Tees Ltd", "status": "open", "created_by": "kim",
                 "created_at": "2026-11-27T09:00:00+00:00"}], "next_after": None})
        return httpx.Response(404, json={"detail": "no such route in the fake"})

    def sent(self, method: str, path: str) -> list[tuple[dict, dict, str | None]]:
        return [(params, body, user) for m, p, params, body, user in self.calls if (m, p) == (method, path)]


@pytest.fixture
def apis():
    return FakeApis()


@pytest.fixture(scope="module")
def staff():
    return [new_user("alice", "ops", "alice-password"), new_user("pat", "packer", "pat-password-1"),
            new_user("root", "admin", "root-password")]


@pytest.fixture
async def console(apis, staff):
    users = InMemoryUsers()
    for user in staff:
        await users.add(user)
    services = Services({s: f"http://{s}" for s in ("ingest", "orders", "inventory", "fulfilment", "printing")},
                        "console-key-0123456789", transport=httpx.MockTransport(apis))
    app = build_app(users=users, services=services, session_secret="s" * 40)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        client.fake_apis = apis
        yield client


async def sign_in(client, user, password) -> str:
    r = await client.post("/login", data={"username": user, "password": password, "next": "/"})
    assert r.status_code == 303, r.text
    page = await client.get(r.headers["location"])
    client.fake_apis.calls.clear()  # what the landing page asked for is not what a test looks at
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


NEW_PRINTER = {"name": "bench-1-labels", "protocol": "raw9100", "address": "10.0.0.9:9100", "paper": "4x6",
               "document_types": ["shipping_label"], "label_format": "zpl", "station": "bench-1"}


class TestPrinters:
    async def test_an_admin_sees_add_edit_and_remove_ops_do_not(self, console):
        await sign_in(console, "root", "root-password")
        page = (await console.get("/printing")).text
        assert 'href="/printing/printers/new"' in page and 'href="/printing/printers/desk-laser"' in page
        assert 'action="/printing/printers/desk-laser/remove"' in page
        await sign_in(console, "alice", "alice-password")
        page = (await console.get("/printing")).text
        assert "/printing/printers/new" not in page and "/remove" not in page

    async def test_the_edit_form_holds_the_printer_and_offers_only_live_stations(self, console):
        await sign_in(console, "root", "root-password")
        page = (await console.get("/printing/printers/desk-laser")).text
        assert 'value="10.0.0.5:631/ipp/print"' in page
        assert re.search(r'value="invoice"\s+checked', page) and not re.search(r'value="pick_list"\s+checked', page)
        assert "<option >bench-1</option>" in page and "old-bench" not in page

    async def test_an_admin_adds_a_printer_at_a_station(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/printing/printers", data={**NEW_PRINTER, "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/printing#printers"
        [(_, body, user)] = apis.sent("PUT", "/printers/bench-1-labels")
        assert body == NEW_PRINTER and user == "root"
        assert "printer bench-1-labels saved" in (await console.get("/printing")).text

    async def test_a_printer_without_a_station_is_reached_by_the_service(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        await console.post("/printing/printers", data={**NEW_PRINTER, "station": "", "csrf_token": token})
        [(_, body, _user)] = apis.sent("PUT", "/printers/bench-1-labels")
        assert body["station"] is None

    async def test_a_refused_printer_shows_the_reason_and_keeps_what_was_typed(self, console, apis):
        apis.refuse[("PUT", "/printers/bench-1-labels")] = httpx.Response(422, json={"detail": [
            {"loc": ["body", "address"], "msg": "Value error, expected host[:port] or host[:port]/path"}]})
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/printing/printers", data={**NEW_PRINTER, "address": "http://x y", "csrf_token": token})
        assert r.status_code == 422
        assert "address: Value error, expected host[:port] or host[:port]/path" in r.text
        assert 'value="http://x y"' in r.text

    async def test_a_printer_needs_a_document_type_and_a_plain_name_before_the_service_is_asked(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/printing/printers", data={**NEW_PRINTER, "document_types": [], "csrf_token": token})
        assert r.status_code == 422 and "choose at least one document type" in r.text
        r = await console.post("/printing/printers", data={**NEW_PRINTER, "name": "../x", "csrf_token": token})
        assert r.status_code == 422 and "a printer name is" in r.text
        assert not [c for c in apis.calls if c[0] == "PUT"]

    async def test_removing_a_printer_and_the_reason_when_it_is_not_there(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/printing/printers/desk-laser/remove", data={"csrf_token": token})
        assert r.status_code == 303 and apis.sent("DELETE", "/printers/desk-laser")
        apis.refuse[("DELETE", "/printers/gone")] = httpx.Response(404, json={"detail": "printer gone not found"})
        await console.post("/printing/printers/gone/remove", data={"csrf_token": token})
        assert "remove gone: printer gone not found" in (await console.get("/printing")).text

    async def test_ops_and_packers_may_not_change_printers_and_a_form_needs_its_token(self, console, apis):
        token = await sign_in(console, "alice", "alice-password")
        assert (await console.post("/printing/printers", data={**NEW_PRINTER, "csrf_token": token})).status_code == 403
        assert (await console.get("/printing/printers/new")).status_code == 403
        await sign_in(console, "pat", "pat-password-1")
        r = await console.get("/printing/printers/desk-laser")
        assert r.status_code == 403 and "may not open this page" in r.text
        await sign_in(console, "root", "root-password")
        r = await console.post("/printing/printers/desk-laser/remove", data={"csrf_token": "forged"})
        assert r.status_code == 403 and not apis.sent("DELETE", "/printers/desk-laser")


class TestChannelSettings:
    async def test_the_form_names_credentials_but_never_shows_where_they_live(self, console):
        await sign_in(console, "root", "root-password")
        r = await console.get("/channels/woo-main/settings")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        assert "consumer_key" in r.text and "consumer_secret" in r.text
        assert "WOO_KEY" not in r.text and "/run/secrets/woo" not in r.text
        assert 'value="300"' in r.text and 'value="processing"' in r.text and "start_date" in r.text
        assert re.search(r'name="push_stock"\s+checked', r.text)

    async def test_saving_keeps_unchanged_credentials_and_sends_the_whole_configuration(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/channels/woo-main/settings", data={
            "csrf_token": token, "name": "Woo shop UK", "url": "https://shop.example.org", "interval_seconds": "60",
            "unprocessed_statuses": "processing, on-hold", "options": '{"start_date": "2026-02-01"}',
            "cred_consumer_key": "", "cred_consumer_secret": "env:WOO_SECRET_2", "cred_new_name": "webhook_secret",
            "cred_new_ref": "env:WOO_HOOK", "enabled": "on"})
        assert r.status_code == 303 and r.headers["location"] == "/channels"
        [(_, body, user)] = apis.sent("PUT", "/channels/woo-main")
        assert user == "root" and body == {
            "name": "Woo shop UK", "kind": "woocommerce", "account": "main", "url": "https://shop.example.org",
            "credentials": {"consumer_key": "env:WOO_KEY", "consumer_secret": "env:WOO_SECRET_2",
                            "webhook_secret": "env:WOO_HOOK"},
            "interval_seconds": 60.0, "unprocessed_statuses": ["processing", "on-hold"],
            "options": {"start_date": "2026-02-01"}, "enabled": True}

    async def test_unticked_boxes_turn_off_stock_push_and_polling_and_a_credential_can_go(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        await console.post("/channels/woo-main/settings", data={
            "csrf_token": token, "name": "Woo shop", "interval_seconds": "300", "unprocessed_statuses": "",
            "options": "", "cred_drop_consumer_secret": "on", "push_stock": ""})
        [(_, body, _user)] = apis.sent("PUT", "/channels/woo-main")
        assert body["enabled"] is False and body["options"] == {} and body["unprocessed_statuses"] is None
        assert body["credentials"] == {"consumer_key": "env:WOO_KEY"} and body["url"] is None

    async def test_ticking_push_stock_sets_the_option(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        await console.post("/channels/woo-main/settings", data={
            "csrf_token": token, "name": "Woo shop", "interval_seconds": "300", "push_stock": "on"})
        [(_, body, _user)] = apis.sent("PUT", "/channels/woo-main")
        assert body["options"] == {"push_stock": True}

    async def test_options_that_are_not_json_are_refused_with_the_reason_before_ingest_is_asked(self, console, apis):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/channels/woo-main/settings", data={
            "csrf_token": token, "name": "Woo shop", "interval_seconds": "300", "options": "{start: 1"})
        assert r.status_code == 422 and "other options: not JSON" in r.text and "{start: 1" in r.text
        r = await console.post("/channels/woo-main/settings", data={
            "csrf_token": token, "name": "Woo shop", "interval_seconds": "often"})
        assert r.status_code == 422 and "poll interval: give a number of seconds" in r.text
        assert not apis.sent("PUT", "/channels/woo-main")

    async def test_ingest_refusing_a_secret_value_shows_the_reason_and_never_echoes_it(self, console, apis):
        apis.refuse[("PUT", "/channels/woo-main")] = httpx.Response(422, json={"detail": [
            {"loc": ["body", "credentials"], "msg": "Value error, credential 'consumer_secret' must be a reference "
                                                    "`env:VAR` or `file:/path`, not a value"}]})
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/channels/woo-main/settings", data={
            "csrf_token": token, "name": "Woo shop", "interval_seconds": "300", "cred_consumer_secret": "cs_live_123"})
        assert r.status_code == 422 and "must be a reference" in r.text and "cs_live_123" not in r.text

    async def test_ops_read_channels_but_may_not_change_their_settings(self, console, apis):
        token = await sign_in(console, "alice", "alice-password")
        assert "/channels/woo-main/settings" not in (await console.get("/channels")).text
        assert (await console.get("/channels/woo-main/settings")).status_code == 403
        r = await console.post("/channels/woo-main/settings", data={"csrf_token": token, "name": "x",
                                                                    "interval_seconds": "1"})
        assert r.status_code == 403 and not apis.sent("PUT", "/channels/woo-main")


class TestAudit:
    async def test_a_persons_order_entries_latest_first_and_their_records_elsewhere(self, console, apis):
        await sign_in(console, "root", "root-password")
        r = await console.get("/settings/audit", params={"user": "sam"})
        assert r.status_code == 200 and '<span data-testid="signed-in-as">root (admin)</span>' in r.text
        [(params, _, user)] = apis.sent("GET", "/orders")
        assert params == {"actor": "sam", "sort": "changed_newest", "limit": "50"} and user == "root"
        orders = r.text[r.text.index('In orders'):r.text.index('data-testid="audit-others"')]
        assert orders.index("parked") < orders.index("tags changed") and "opened" not in orders
        assert "3 orders" in orders and "cursor=page-2" in orders
        others = r.text[r.text.index('data-testid="audit-others"'):]
        assert "dead letter retried" in others and "orders: oms.orders.events" in others
        assert "fixed the SKU" in others and "ingest:" not in others  # kim's
        assert "template saved" in others and "invoice (ebay)" in others
        assert "Mugs Ltd" in others and "Tees Ltd" not in others
        assert "reprint (printed)" in others and "invoice of PH-1" in others and "smudged" in others
        assert "torn" not in others
        assert others.index("smudged") < others.index("fixed the SKU")  # 09:00 before 08:00: newest first

    async def test_a_later_page_reads_only_orders_and_a_silent_service_is_named(self, console, apis):
        await sign_in(console, "root", "root-password")
        await console.get("/settings/audit", params={"user": "sam", "cursor": "page-2"})
        assert [c[1] for c in apis.calls if c[1] != "/orders"] == []
        apis.silent.add("inventory")
        r = await console.get("/settings/audit", params={"user": "sam"})
        assert "Did not answer: inventory" in r.text and "Mugs Ltd" not in r.text

    async def test_only_an_admin_audits(self, console):
        await sign_in(console, "alice", "alice-password")
        assert (await console.get("/settings/audit", params={"user": "sam"})).status_code == 403
        await sign_in(console, "pat", "pat-password-1")
        assert (await console.get("/settings/audit")).status_code == 403


class TestFailedWriteBackBadge:
    async def test_the_grid_asks_ingest_once_for_the_failed_write_backs(self, console, apis):
        await sign_in(console, "alice", "alice-password")
        page = await console.get("/orders")
        asked = apis.sent("GET", "/writebacks")
        assert [params for params, _, _ in asked] == [{"state": "failed", "limit": "500"}]
        rows = re.findall(r'<tr[^>]*data-order-id="([^"]+)"[^>]*>(.*?)</tr>', page.text, re.S)
        badges = {order_id for order_id, row in rows if "channel write-back failed" in row}
        assert badges == {ORDER_ID}

    async def test_a_full_page_of_failures_is_followed_by_the_next(self, console, apis):
        apis.failed_writebacks = [{"writeback_id": f"{i:04d}", "order_id": str(uuid.uuid4()), "state": "failed"}
                                  for i in range(500)]
        await sign_in(console, "alice", "alice-password")
        await console.get("/orders")
        asked = [params for params, _, _ in apis.sent("GET", "/writebacks")]
        assert asked[1] == {"state": "failed", "limit": "500", "after": "0499"} and len(asked) == 5
