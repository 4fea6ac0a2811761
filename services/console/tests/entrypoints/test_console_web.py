"""The console's pages and actions against a fake of the services' APIs (an httpx MockTransport)."""

import json
import re
import uuid

import httpx
import pytest

from console.adapters.services import Services
from console.adapters.users import InMemoryUsers
from console.domain.users import new_user
from console.entrypoints.web import build_app

ORDER_ID = str(uuid.uuid4())
MERGED_ID = str(uuid.uuid4())
ORDER = {
    "order_id": ORDER_ID, "order_number": "WEB-1001", "channel": "shopify", "channel_order_id": "1001",
    "status": "open", "paid": True, "parked": False, "locked": False, "hold_reason": None, "stock_allocated": True,
    "unallocated_skus": [], "opened_at": "2026-11-29T06:00:00+00:00", "processed_at": None, "cancelled_at": None,
    "carrier": None, "tracking_number": None, "total": "12.50", "currency": "GBP", "links": [], "returns": [],
    "details": {"buyer": {"name": "Ada Lovelace", "email": "ada@example.org"},
                "shipping_address": {"name": "Ada", "line1": "1 St", "city": "London", "postcode": "N1", "country": "GB"},
                "lines": [{"line_id": "1", "sku": "MUG-1", "title": "Mug", "quantity": 2, "unit_price": "5.00"}],
                "shipping": {"service": "Tracked 48", "cost": "2.50"}, "currency": "GBP", "discount": "0"},
    "timeline": [{"at": "2026-11-29T06:00:00+00:00", "what": "opened", "by": "channel:shopify", "detail": None}],
}


SHIPMENT = {"order_id": ORDER_ID, "order_number": "WEB-1001", "channel": "shopify", "status": "packing",
            "service": "Tracked 48", "carrier": "OMS Post", "tracking_number": "OM1",
            "items": [{"sku": "MUG-1", "title": "Mug", "barcode": None, "quantity": 1, "scanned": 0}]}


WRITEBACK = {"writeback_id": str(uuid.uuid4()), "order_id": ORDER_ID, "action": "ship", "channel": "shopify",
             "state": "failed", "status": "failed: shopify: 503 Service Unavailable"}


PAYMENTS = {"order_id": ORDER_ID, "paid": True, "currency": "GBP", "total": "12.50", "paid_total": "12.50",
            "refunded_total": "0", "fee_total": "0.60", "net_total": "11.90",
            "payments": [{"payment": {"provider": "paypal", "transaction_id": "PP-7788", "kind": "payment",
                                      "status": "Completed", "currency": "GBP", "gross": "12.50", "fee": "0.60",
                                      "net": "11.90"},
                          "matched_by": "invoice", "by": "ipn", "recorded_at": "2026-11-29T06:01:00+00:00"}]}


class FakeServices:
    """Answers like the orders and printing APIs, and records every call with the user it was made for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.keys: list[str | None] = []
        self.bodies: list[dict] = []
        self.params: list[dict] = []
        self.refuse_process = False
        self.refuse_edit = False
        self.answers: dict = {}  # path prefix -> JSON (or a function of the request) for the pages of a test

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path, request.headers.get("X-OMS-User"),
                           request.headers.get("X-OMS-Role")))
        self.keys.append(request.headers.get("Idempotency-Key"))
        self.bodies.append(json.loads(request.content) if request.content else {})
        self.params.append(dict(request.url.params))
        path = request.url.path
        if path == "/orders/merge":
            return httpx.Response(201, json={**ORDER, "order_id": MERGED_ID})
        if path.endswith("/returns"):
            return httpx.Response(201, json={"order_id": ORDER_ID, "rma_id": str(uuid.uuid4())})
        if path == "/orders" and request.method == "GET":
            return httpx.Response(200, json={"items": [ORDER], "total": 1, "next_cursor": None})
        if path == f"/orders/{ORDER_ID}" and request.method == "GET":
            return httpx.Response(200, json=ORDER)
        if path.endswith("/process"):
            if self.refuse_process:
                return httpx.Response(409, json={"detail": "order is not paid"})
            return httpx.Response(200, json=ORDER)
        if path.endswith("/park"):
            return httpx.Response(200, json=ORDER)
        if path == "/print-jobs":
            return httpx.Response(200, json=[])
        if path == "/writebacks":
            return httpx.Response(200, json=[WRITEBACK])
        if path == f"/writebacks/{WRITEBACK['writeback_id']}/retry":
            return httpx.Response(200, json={**WRITEBACK, "state": "confirmed", "status": "channel confirmed"})
        if path == "/shipments":
            return httpx.Response(200, json=[SHIPMENT])
        if path == f"/shipments/{ORDER_ID}":
            return httpx.Response(200, json=SHIPMENT)
        if path == f"/pack/{ORDER_ID}/scan":
            body = json.loads(request.content)
            if body["code"] != "MUG-1":
                return httpx.Response(409, json={"detail": f"{body['code']} is not in this order"})
            return httpx.Response(200, json={**SHIPMENT, "status": "printing"})
        if path == f"/orders/{ORDER_ID}/payments" and request.method == "GET":
            return httpx.Response(200, json=PAYMENTS)
        if path.startswith(f"/orders/{ORDER_ID}") and request.method in ("POST", "PATCH", "DELETE"):
            if self.refuse_edit:
                return httpx.Response(409, json={"detail": "order is locked: only tags and folder may change"})
            return httpx.Response(200, json=ORDER)
        for prefix, answer in self.answers.items():
            if path.startswith(prefix):
                return answer(request) if callable(answer) else httpx.Response(200, json=answer)
        return httpx.Response(404, json={"detail": "no such route in the fake"})


@pytest.fixture
def fake():
    return FakeServices()


@pytest.fixture(scope="module")
def staff():
    """The users every test signs in as, hashed once (argon2 is slow on purpose)."""
    return [new_user("alice", "ops", "alice-password"), new_user("pat", "packer", "pat-password-1"),
            new_user("root", "admin", "root-password")]


@pytest.fixture
async def console(fake, staff):
    users = InMemoryUsers()
    for user in staff:
        await users.add(user)
    services = Services({s: f"http://{s}" for s in ("ingest", "orders", "inventory", "fulfilment", "printing")},
                        "console-key-0123456789", transport=httpx.MockTransport(fake))
    app = build_app(users=users, services=services, session_secret="s" * 40)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


async def sign_in(client, user, password) -> str:
    r = await client.post("/login", data={"username": user, "password": password, "next": "/"})
    assert r.status_code == 303, r.text
    page = await client.get(r.headers["location"])
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


async def test_pages_need_a_session(console):
    r = await console.get("/orders")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Forders"


async def test_a_wrong_password_is_refused(console):
    r = await console.post("/login", data={"username": "alice", "password": "nope-nope-nope"})
    assert r.status_code == 401
    assert "Wrong user name or password" in r.text


async def test_sign_in_never_redirects_off_site(console):
    r = await console.post("/login", data={"username": "alice", "password": "alice-password", "next": "//evil.example"})
    assert r.headers["location"] == "/orders"


async def test_open_orders_are_listed_for_the_signed_in_user(console, fake):
    await sign_in(console, "alice", "alice-password")
    r = await console.get("/orders")
    assert r.status_code == 200
    assert "WEB-1001" in r.text and "Ada Lovelace" in r.text
    assert ("GET", "/orders", "alice", "ops") in fake.calls


async def test_a_packer_cannot_open_settings_or_orders(console):
    await sign_in(console, "pat", "pat-password-1")
    for path in ("/settings/users", "/orders"):
        r = await console.get(path)
        assert r.status_code == 403
        assert "may not open this page" in r.text


async def test_a_form_without_the_csrf_token_is_refused(console, fake):
    await sign_in(console, "alice", "alice-password")
    r = await console.post(f"/orders/{ORDER_ID}/act", data={"action": "process", "csrf_token": "forged"})
    assert r.status_code == 403
    assert not any(call[1].endswith("/process") for call in fake.calls)


async def test_a_batch_reports_each_refusal(console, fake):
    token = await sign_in(console, "alice", "alice-password")
    fake.refuse_process = True
    r = await console.post("/orders/batch", data={"action": "process", "csrf_token": token, "order_id": [ORDER_ID]})
    assert r.status_code == 303
    page = await console.get("/orders")
    assert "process: 0 of 1 done" in page.text
    assert "order is not paid" in page.text


async def test_park_needs_a_reason(console, fake):
    token = await sign_in(console, "alice", "alice-password")
    await console.post(f"/orders/{ORDER_ID}/act", data={"action": "park", "reason": " ", "csrf_token": token})
    page = await console.get(f"/orders/{ORDER_ID}")
    assert "park: give a reason" in page.text
    assert not any(call[1].endswith("/park") for call in fake.calls)


async def test_the_order_page_shows_lines_and_timeline(console):
    await sign_in(console, "alice", "alice-password")
    r = await console.get(f"/orders/{ORDER_ID}")
    assert "MUG-1" in r.text and "10.00" in r.text and "channel:shopify" in r.text


async def test_an_admin_adds_a_user_who_can_then_sign_in(console):
    token = await sign_in(console, "root", "root-password")
    r = await console.post("/settings/users", data={"username": "bob", "role": "ops", "password": "bob-password-1",
                                                    "csrf_token": token})
    assert r.status_code == 303
    await console.post("/logout", data={"csrf_token": token})
    await sign_in(console, "bob", "bob-password-1")


async def test_a_short_password_is_refused_with_the_reason(console):
    token = await sign_in(console, "root", "root-password")
    await console.post("/settings/users", data={"username": "bob", "role": "ops", "password": "short",
                                                "csrf_token": token})
    page = await console.get("/settings/users")
    assert "at least 10 characters" in page.text


async def test_a_double_submitted_form_sends_the_same_idempotency_key(console, fake):
    token = await sign_in(console, "alice", "alice-password")
    form = {"action": "park", "reason": "buyer asked", "csrf_token": token, "form_id": "f" * 32}
    for _ in range(2):
        await console.post(f"/orders/{ORDER_ID}/act", data=form)
    keys = [key for (method, path, *_), key in zip(fake.calls, fake.keys) if path.endswith("/park")]
    assert len(keys) == 2 and keys[0] == keys[1] == "console-" + "f" * 32


async def test_a_return_sends_the_chosen_lines_with_restock_or_scrap(console, fake):
    token = await sign_in(console, "alice", "alice-password")
    r = await console.post(f"/orders/{ORDER_ID}/lines-action", data={
        "csrf_token": token, "action": "return", "qty_1": "1", "action_1": "restock",
        "reason_category": "damaged", "refund": "5.00"})
    assert r.status_code == 303
    body = fake.bodies[[c[1] for c in fake.calls].index(f"/orders/{ORDER_ID}/returns")]
    assert body == {"lines": [{"line_id": "1", "quantity": 1, "action": "restock"}], "reason_category": "damaged",
                    "refund": "5.00"}


async def test_a_split_without_quantities_is_refused_before_calling_orders(console, fake):
    token = await sign_in(console, "alice", "alice-password")
    await console.post(f"/orders/{ORDER_ID}/lines-action",
                       data={"csrf_token": token, "action": "split", "qty_1": "0", "reason": "x"})
    page = await console.get(f"/orders/{ORDER_ID}")
    assert "choose at least one line" in page.text
    assert not any(c[1].endswith("/split") for c in fake.calls)


async def test_merging_selected_orders_opens_the_merged_order(console, fake):
    token = await sign_in(console, "alice", "alice-password")
    other = str(uuid.uuid4())
    r = await console.post("/orders/batch", data={"action": "merge", "csrf_token": token,
                                                  "order_id": [ORDER_ID, other]})
    assert r.headers["location"] == f"/orders/{MERGED_ID}"
    assert fake.bodies[-1] == {"order_ids": [ORDER_ID, other]}


async def test_dead_letters_of_every_service_are_listed_and_a_silent_service_is_named(console, fake):
    await sign_in(console, "alice", "alice-password")
    page = await console.get("/dead-letters")
    assert page.status_code == 200
    # the fake answers 404 for /dead-letters: every service is named as not answering, nothing crashes
    assert "No answer from: ingest, orders, inventory, fulfilment, printing" in page.text


async def test_discarding_a_dead_letter_needs_a_reason(console, fake):
    token = await sign_in(console, "alice", "alice-password")
    await console.post("/dead-letters/orders/oms.orders.commands.dlq:0:1/discard", data={"csrf_token": token})
    page = await console.get("/orders")
    assert "discard: give a reason" in page.text
    assert not any("/dead-letters/" in c[1] for c in fake.calls)


async def test_a_packer_opens_an_order_from_the_queue_by_its_number(console, fake):
    await sign_in(console, "pat", "pat-password-1")
    await console.get("/pack", params={"station": "bench-1"})
    r = await console.get("/pack", params={"order": "WEB-1001"})
    assert r.status_code == 303 and r.headers["location"] == f"/pack/{ORDER_ID}"
    missing = await console.get("/pack", params={"order": "NOPE"})
    assert missing.status_code == 404 and "not waiting to be packed" in missing.text


async def test_a_wrong_item_is_refused_loudly_and_the_last_scan_packs(console, fake):
    token = await sign_in(console, "pat", "pat-password-1")
    await console.get("/pack", params={"station": "bench-1"})
    await console.post(f"/pack/{ORDER_ID}/scan", data={"code": "TEE-9", "csrf_token": token})
    page = await console.get(f"/pack/{ORDER_ID}")
    assert "REFUSED TEE-9: TEE-9 is not in this order" in page.text
    r = await console.post(f"/pack/{ORDER_ID}/scan", data={"code": "MUG-1", "csrf_token": token})
    assert r.headers["location"] == "/pack"
    page = await console.get("/pack")
    assert "order WEB-1001 packed: label and invoice printing at bench-1" in page.text
    scans = [body for (method, path, *_), body in zip(fake.calls, fake.bodies) if path.endswith("/scan")]
    assert scans[-1] == {"code": "MUG-1", "station": "bench-1"}


async def test_scanning_needs_a_station(console, fake):
    token = await sign_in(console, "pat", "pat-password-1")
    r = await console.post(f"/pack/{ORDER_ID}/scan", data={"code": "MUG-1", "csrf_token": token})
    assert r.headers["location"] == "/pack"
    assert not any(c[1].endswith("/scan") for c in fake.calls)


async def test_the_order_page_shows_a_failed_channel_write_back_and_staff_retry_it(console, fake):
    csrf = await sign_in(console, "alice", "alice-password")
    page = await console.get(f"/orders/{ORDER_ID}")
    assert "failed: shopify: 503 Service Unavailable" in page.text and ">Retry</button>" in page.text
    r = await console.post(f"/orders/{ORDER_ID}/writebacks/{WRITEBACK['writeback_id']}/retry",
                           data={"csrf_token": csrf, "form_id": "f-1"})
    assert r.status_code == 303
    assert ("POST", f"/writebacks/{WRITEBACK['writeback_id']}/retry", "alice", "ops") in fake.calls


def call_body(fake, method, path):
    """The body of the last call of `method` to `path`."""
    found = [body for (m, p, *_), body in zip(fake.calls, fake.bodies, strict=True) if m == method and p == path]
    assert found, f"no {method} {path} in {fake.calls}"
    return found[-1]


class TestEditingAnOpenOrder:
    async def test_the_order_page_shows_notes_tags_payments_and_the_edit_forms(self, console):
        await sign_in(console, "alice", "alice-password")
        page = await console.get(f"/orders/{ORDER_ID}")
        assert "PP-7788" in page.text and "11.90" in page.text
        for form in ("note-form", "labels-form", "shipping-address-form", "billing-address-form", "shipping-form",
                     "lines-form", "payment-form"):
            assert f'data-testid="{form}"' in page.text

    async def test_a_note_for_the_invoice_is_sent_as_not_internal(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/orders/{ORDER_ID}/notes", data={"csrf_token": token, "text": " Gift wrap ",
                                                               "internal": "invoice", "form_id": "n1"})
        assert call_body(fake, "POST", f"/orders/{ORDER_ID}/notes") == {"text": "Gift wrap", "internal": False}
        assert ("POST", f"/orders/{ORDER_ID}/notes", "alice", "ops") in fake.calls

    async def test_removing_a_note_deletes_it_as_the_user(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        note_id = str(uuid.uuid4())
        await console.post(f"/orders/{ORDER_ID}/notes/{note_id}/delete", data={"csrf_token": token})
        assert ("DELETE", f"/orders/{ORDER_ID}/notes/{note_id}", "alice", "ops") in fake.calls

    async def test_tags_and_folder_are_sent_as_a_set_and_a_folder(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/orders/{ORDER_ID}/edit", data={"csrf_token": token, "part": "labels",
                                                              "tags": "vip, gift,, vip", "folder": " wholesale "})
        assert call_body(fake, "PATCH", f"/orders/{ORDER_ID}") == {"tags": ["gift", "vip"], "folder": "wholesale"}

    async def test_the_shipping_service_edit_sends_only_shipping(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/orders/{ORDER_ID}/edit", data={"csrf_token": token, "part": "shipping",
                                                              "shipping_service": "Express 24",
                                                              "shipping_cost": "6.00"})
        assert call_body(fake, "PATCH", f"/orders/{ORDER_ID}") == {"shipping_service": "Express 24",
                                                                   "shipping_cost": "6.00"}

    async def test_an_address_is_sent_whole_without_empty_fields(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/orders/{ORDER_ID}/address/billing", data={
            "csrf_token": token, "name": "Ada", "company": "", "line1": "2 Rd", "city": "Leeds", "postcode": "LS1",
            "country": "gb"})
        assert call_body(fake, "PATCH", f"/orders/{ORDER_ID}") == {"billing_address": {
            "name": "Ada", "line1": "2 Rd", "city": "Leeds", "postcode": "LS1", "country": "GB"}}

    async def test_lines_send_only_what_changed_and_zero_removes(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/orders/{ORDER_ID}/lines", data={"csrf_token": token, "form_id": "abc", "qty_1": "3",
                                                               "add_sku": "TEE-9", "add_quantity": "2",
                                                               "add_unit_price": "9.00"})
        body = call_body(fake, "POST", f"/orders/{ORDER_ID}/lines")
        assert body["quantities"] == [{"line_id": "1", "quantity": 3}] and body["remove"] == []
        assert body["add"][0] | {"line_id": None} == {"line_id": None, "sku": "TEE-9", "title": "TEE-9",
                                                       "quantity": "2", "unit_price": "9.00"}
        await console.post(f"/orders/{ORDER_ID}/lines", data={"csrf_token": token, "qty_1": "0"})
        assert call_body(fake, "POST", f"/orders/{ORDER_ID}/lines") == {"add": [], "remove": ["1"], "quantities": []}

    async def test_unchanged_lines_are_refused_before_calling_orders(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/orders/{ORDER_ID}/lines", data={"csrf_token": token, "qty_1": "2"})
        assert "lines: nothing changed" in (await console.get(f"/orders/{ORDER_ID}")).text
        assert not any(c[1].endswith("/lines") for c in fake.calls)

    async def test_a_refused_edit_shows_the_reason(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        fake.refuse_edit = True
        await console.post(f"/orders/{ORDER_ID}/edit", data={"csrf_token": token, "part": "shipping",
                                                              "shipping_service": "Express 24"})
        page = await console.get(f"/orders/{ORDER_ID}")
        assert "edit shipping: order is locked: only tags and folder may change" in page.text

    async def test_a_payment_found_by_hand_is_recorded(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/orders/{ORDER_ID}/payments", data={
            "csrf_token": token, "transaction_id": "BACS-1", "amount": "12.50", "fee": "", "method": "bank_transfer",
            "kind": "payment"})
        assert call_body(fake, "POST", f"/orders/{ORDER_ID}/payments") == {
            "transaction_id": "BACS-1", "amount": "12.50", "fee": "0", "method": "bank_transfer", "kind": "payment",
            "note": None}


class TestTheGrid:
    async def test_an_order_with_a_failed_write_back_carries_a_badge(self, console):
        await sign_in(console, "alice", "alice-password")
        page = await console.get("/orders")
        assert "channel write-back failed" in page.text

    async def test_counts_become_filter_links(self, console, fake):
        fake.answers["/orders/counts"] = {"total": 1, "channel": {"shopify": 1}, "paid": {"true": 1},
                                          "parked": {"false": 1}, "locked": {"false": 1},
                                          "out_of_stock": {"false": 1}, "tag": {"vip": 1}, "folder": {}}
        await sign_in(console, "alice", "alice-password")
        page = await console.get("/orders")
        assert 'href="?tag=vip"' in page.text and 'href="?channel=shopify"' in page.text

    async def test_the_flag_filters_reach_the_orders_api(self, console, fake):
        await sign_in(console, "alice", "alice-password")
        await console.get("/orders", params={"tag": "vip", "folder": "wholesale", "locked": "true",
                                             "parked": "false", "out_of_stock": "true"})
        asked = [p for (m, path, *_), p in zip(fake.calls, fake.params, strict=True) if path == "/orders"][-1]
        assert asked | {"limit": None} == {"status": "open", "tag": "vip", "folder": "wholesale", "locked": "true",
                                           "parked": "false", "out_of_stock": "true", "limit": None}
        page = await console.get("/orders", params={"out_of_stock": "true", "tag": "vip"})
        assert 'value="vip"' in page.text and '<option value="true" selected>out of stock</option>' in page.text


PO_ID = str(uuid.uuid4())
PO = {"po_id": PO_ID, "supplier": "Mugs Ltd", "expected_on": "2026-12-05", "status": "open", "deliveries": 0,
      "created_by": "alice", "cancel_reason": None,
      "lines": [{"sku": "MUG-1", "ordered": 10, "received": 0, "outstanding": 10}]}


class TestInventory:
    @pytest.fixture(autouse=True)
    def answers(self, fake):
        def purchase_orders(request):
            if request.method == "POST" and request.url.path.endswith("/deliveries"):
                over = json.loads(request.content)["lines"][0]["quantity"] > 10
                if over:
                    return httpx.Response(409, json={"detail": "MUG-1: 11 received but only 10 outstanding"})
            if request.method == "POST" and request.url.path == "/purchase-orders":
                return httpx.Response(201, json=PO)
            if request.url.path == "/purchase-orders":
                return httpx.Response(200, json={"purchase_orders": [PO], "next_after": None})
            return httpx.Response(200, json=PO)

        fake.answers.update({
            "/purchase-orders": purchase_orders,
            "/stock/low": {"items": [{"sku": "MUG-1", "title": "Mug", "supplier": "Mugs Ltd", "minimum_level": 5,
                                      "on_hand": 2, "allocated": 1, "available": 1, "due": 0,
                                      "suggested_reorder": 5}], "next_after": None},
            "/stock/oversold": {"items": [{"sku": "TEE-9", "on_hand": 1, "allocated": 3, "available": -2,
                                           "oversold_by": 2, "orders": [{"order_id": ORDER_ID, "allocated": 2,
                                                                         "short": 2}]}], "next_after": None},
            "/stock/MUG-1/": {"command_id": str(uuid.uuid4()), "sku": "MUG-1", "status_url": "/stock/MUG-1"},
        })

    async def test_a_purchase_order_is_created_from_the_filled_rows(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        r = await console.post("/purchase-orders", data={
            "csrf_token": token, "supplier": "Mugs Ltd", "expected_on": "2026-12-05", "sku_0": "MUG-1",
            "qty_0": "10", "sku_1": "", "qty_1": "", "sku_2": "TEE-9", "qty_2": "4"})
        assert r.headers["location"] == f"/purchase-orders/{PO_ID}"
        assert call_body(fake, "POST", "/purchase-orders") == {
            "supplier": "Mugs Ltd", "expected_on": "2026-12-05", "status": "open",
            "lines": [{"sku": "MUG-1", "quantity": 10}, {"sku": "TEE-9", "quantity": 4}]}
        assert ("POST", "/purchase-orders", "alice", "ops") in fake.calls

    async def test_a_purchase_order_without_lines_is_refused_before_calling_inventory(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post("/purchase-orders", data={"csrf_token": token, "supplier": "Mugs Ltd", "sku_0": ""})
        page = await console.get("/purchase-orders")
        assert "give a supplier and a line" in page.text and "Mugs Ltd" in page.text
        assert not any(m == "POST" for m, *_ in fake.calls)

    async def test_receiving_more_than_outstanding_shows_the_reason(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        page = await console.get(f"/purchase-orders/{PO_ID}")
        assert 'data-testid="delivery-form"' in page.text and "Cancel the rest" in page.text
        await console.post(f"/purchase-orders/{PO_ID}/deliveries",
                           data={"csrf_token": token, "sku_0": "MUG-1", "qty_0": "11"})
        page = await console.get(f"/purchase-orders/{PO_ID}")
        assert "delivery: MUG-1: 11 received but only 10 outstanding" in page.text
        await console.post(f"/purchase-orders/{PO_ID}/deliveries",
                           data={"csrf_token": token, "sku_0": "MUG-1", "qty_0": "4"})
        assert call_body(fake, "POST", f"/purchase-orders/{PO_ID}/deliveries") == {
            "lines": [{"sku": "MUG-1", "quantity": 4}]}

    async def test_cancelling_a_purchase_order_needs_a_reason(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/purchase-orders/{PO_ID}/cancel", data={"csrf_token": token, "reason": ""})
        assert not any(c[1].endswith("/cancel") for c in fake.calls)
        await console.post(f"/purchase-orders/{PO_ID}/cancel", data={"csrf_token": token, "reason": "discontinued"})
        assert call_body(fake, "POST", f"/purchase-orders/{PO_ID}/cancel") == {"reason": "discontinued"}

    async def test_adjust_count_and_transfer_carry_their_reason(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        base = {"csrf_token": token, "location": "default"}
        await console.post("/stock/MUG-1/change", data={**base, "kind": "adjust", "amount": "-2", "reason": "damaged"})
        await console.post("/stock/MUG-1/change", data={**base, "kind": "count", "amount": "7", "reason": "stock take"})
        await console.post("/stock/MUG-1/change", data={**base, "kind": "transfer", "amount": "3",
                                                         "to_location": "shop", "reason": "restock"})
        assert call_body(fake, "POST", "/stock/MUG-1/adjustments") == {"location": "default", "delta": -2,
                                                                        "reason": "damaged"}
        assert call_body(fake, "POST", "/stock/MUG-1/counts") == {"location": "default", "counted": 7,
                                                                   "reason": "stock take"}
        assert call_body(fake, "POST", "/stock/MUG-1/transfers") == {"from_location": "default", "to_location": "shop",
                                                                      "quantity": 3, "reason": "restock"}

    async def test_a_stock_change_without_a_reason_is_refused(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post("/stock/MUG-1/change", data={"csrf_token": token, "kind": "adjust", "amount": "5"})
        assert not any(c[1].startswith("/stock/MUG-1/") for c in fake.calls)

    async def test_low_stock_and_oversold_lists(self, console):
        await sign_in(console, "alice", "alice-password")
        low = await console.get("/inventory/low")
        assert "Mugs Ltd" in low.text and "<strong>5</strong>" in low.text
        oversold = await console.get("/inventory/oversold")
        assert "TEE-9" in oversold.text and f"/orders/{ORDER_ID}" in oversold.text

    async def test_the_sku_page_offers_the_three_stock_changes(self, console, fake):
        fake.answers["/stock-items/MUG-1"] = {"sku": "MUG-1", "title": "Mug", "barcode": None, "weight": None,
                                              "default_location": "default", "minimum_level": 5, "supplier": None}
        await sign_in(console, "alice", "alice-password")
        page = await console.get("/stock/MUG-1")
        assert page.status_code == 200
        for form in ("adjust-form", "count-form", "transfer-form"):
            assert f'data-testid="{form}"' in page.text


PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 16


class TestPrinting:
    @pytest.fixture(autouse=True)
    def answers(self, fake):
        def templates(request):
            path = request.url.path
            if path == "/templates/invoice/default":
                return httpx.Response(200, text="<h1>{{ order.order_number }}</h1>")
            if path == "/templates/invoice/preview":
                if "{% if" in json.loads(request.content)["source"]:
                    return httpx.Response(422, json={"detail": {
                        "message": "the invoice template does not render: Unexpected end of template", "line": 3,
                        "reason": "Unexpected end of template"}})
                return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
            if request.method == "PUT":
                return httpx.Response(200, json={"key": "invoice", **json.loads(request.content)})
            return httpx.Response(200, json=[])

        fake.answers.update({
            "/printers": [{"name": "desk-laser", "protocol": "ipp", "address": "10.0.0.5:631", "uri": "ipp://x",
                           "paper": "A4", "document_types": ["invoice"], "label_format": "pdf", "station": None,
                           "online": False, "last_error": "connection refused",
                           "last_failure_at": "2026-11-29T06:10:00+00:00"}],
            "/stations": lambda request: (
                httpx.Response(201, json={"name": "bench-2", "key": "k" * 43}) if request.method == "POST"
                else httpx.Response(200, json=[{"name": "bench-1", "revoked": False, "online": True,
                                                "last_seen_at": "2026-11-29T06:20:00+00:00"}])),
            "/templates": templates,
        })

    async def test_printers_show_their_state_and_last_error_and_stations_their_last_seen(self, console, fake):
        await sign_in(console, "alice", "alice-password")
        page = await console.get("/printing", params={"state": "failed"})
        assert "desk-laser" in page.text and "offline" in page.text and "connection refused" in page.text
        assert "bench-1" in page.text and "2026-11-29 06:20:00" in page.text
        assert 'data-testid="station-form"' not in page.text  # ops do not register stations
        jobs = [p for (m, path, *_), p in zip(fake.calls, fake.params, strict=True) if path == "/print-jobs"]
        assert jobs[-1]["state"] == "failed"

    async def test_an_admin_registers_a_station_and_sees_its_key_once(self, console, fake):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/printing/stations", data={"csrf_token": token, "name": "bench-2"})
        assert r.status_code == 201 and "k" * 43 in r.text and r.headers["cache-control"] == "no-store"
        assert "k" * 43 not in (await console.get("/printing")).text

    async def test_ops_may_not_register_stations_or_edit_templates(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        assert (await console.post("/printing/stations", data={"csrf_token": token, "name": "x"})).status_code == 403
        assert (await console.get("/printing/templates")).status_code == 403

    async def test_a_template_preview_shows_the_png(self, console, fake):
        token = await sign_in(console, "root", "root-password")
        editor = await console.get("/printing/templates/invoice")
        assert "{{ order.order_number }}" in editor.text
        r = await console.post("/printing/templates/invoice", data={"csrf_token": token, "action": "png",
                                                                    "source": "<p>{{ order.order_number }}</p>"})
        assert r.status_code == 200 and "data:image/png;base64," in r.text
        assert call_body(fake, "POST", "/templates/invoice/preview") == {
            "source": "<p>{{ order.order_number }}</p>", "format": "png", "channel": None, "country": None}

    async def test_a_template_that_does_not_render_shows_the_line_and_reason_and_keeps_the_source(self, console):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/printing/templates/invoice", data={"csrf_token": token, "action": "png",
                                                                    "source": "<p>\n\n{% if x %}</p>"})
        assert r.status_code == 422
        assert "does not render: Unexpected end of template (line 3)" in r.text
        assert "{% if x %}" in r.text

    async def test_saving_a_template_for_a_channel_and_country(self, console, fake):
        token = await sign_in(console, "root", "root-password")
        r = await console.post("/printing/templates/invoice", data={"csrf_token": token, "action": "save",
                                                                    "source": "<p>ok</p>", "channel": "ebay",
                                                                    "country": "de"})
        assert r.headers["location"] == "/printing/templates"
        put = [(p, b) for (m, path, *_), p, b in zip(fake.calls, fake.params, fake.bodies, strict=True) if m == "PUT"]
        assert put == [({"channel": "ebay", "country": "DE"}, {"source": "<p>ok</p>"})]


PAYMENT_ID = str(uuid.uuid4())
INTAKE_ID = str(uuid.uuid4())


class TestPaymentsAndChannels:
    @pytest.fixture(autouse=True)
    def answers(self, fake):
        payment = {"payment_id": PAYMENT_ID, "state": "ambiguous", "order_id": None, "matched_by": None,
                   "candidates": [ORDER_ID], "sources": ["ipn"], "statuses": ["Completed"],
                   "filed_at": "2026-11-29T06:05:00+00:00", "history": [],
                   "payment": {"provider": "paypal", "transaction_id": "PP-9911", "kind": "payment",
                               "status": "Completed", "currency": "GBP", "gross": "12.50", "fee": "0.60",
                               "net": "11.90", "payer_name": "Ada L", "payer_email": "ada@example.org",
                               "source": "ipn"}}
        fake.answers.update({
            "/payments/unmatched": [payment],
            f"/payments/{PAYMENT_ID}/match": {**payment, "state": "matched", "order_id": ORDER_ID},
            f"/intake/{INTAKE_ID}/retry": lambda request: httpx.Response(
                202, json={"intake_id": INTAKE_ID, "status": "received", "status_url": f"/intake/{INTAKE_ID}"}),
            f"/intake/{INTAKE_ID}": {
                "intake_id": INTAKE_ID, "kind": "shopify_order", "channel": "shopify", "status": "failed",
                "received_at": "2026-11-29T06:00:00+00:00", "error": "line_items.0.sku: field required",
                "event_id": None, "published_at": None, "headers": [["content-type", "application/json"]],
                "body": '{"id": 77, "line_items": [{"title": "Mug"}]}'},
            "/intake": [{"intake_id": INTAKE_ID, "kind": "webhook", "channel": "shopify", "status": "failed",
                         "received_at": "2026-11-29T06:00:00+00:00", "error": "line_items.0.sku: field required",
                         "event_id": None, "published_at": None}],
            "/channels/capabilities": [{"kind": "shopify", "ship": True, "cancel": True, "refund": True,
                                        "stock": True, "how": "Fulfillment API"},
                                       {"kind": "csv", "ship": False, "cancel": False, "refund": False,
                                        "stock": False, "how": "nothing: a file"}],
            "/channels/shop/reconciliation/latest": lambda request: httpx.Response(
                404, json={"detail": "channel shop has no scheduled reconciliation yet"}),
            "/channels/shop/reconciliation": lambda request: httpx.Response(200, json={
                "channel_id": "shop", "kind": "shopify", "since": "2026-11-28T06:00:00+00:00",
                "until": "2026-11-29T06:00:00+00:00", "checked_at": "2026-11-29T06:00:01+00:00", "listed": 3,
                "held": 2, "complete": True, "error": None, "not_listed": [],
                "missing": [{"channel_order_id": "1003", "channel_updated_at": "2026-11-29T05:00:00+00:00",
                             "held": [{"intake_id": INTAKE_ID, "status": "failed", "reason": "no sku"}],
                             "fetched": "published" if request.method == "POST" else None}]}),
            "/channels": [{"channel_id": "shop", "kind": "shopify", "status": {}}],
        })

    async def test_an_ambiguous_payment_lists_its_candidates_by_number(self, console):
        await sign_in(console, "alice", "alice-password")
        page = await console.get("/payments")
        assert "PP-9911" in page.text and "ambiguous" in page.text and "WEB-1001 · Ada Lovelace" in page.text

    async def test_matching_by_order_number_finds_the_order_and_matches_as_the_user(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        r = await console.post(f"/payments/{PAYMENT_ID}/match", data={"csrf_token": token, "order": "WEB-1001"})
        assert r.headers["location"] == "/payments"
        assert call_body(fake, "POST", f"/payments/{PAYMENT_ID}/match") == {"order_id": ORDER_ID}
        assert ("POST", f"/payments/{PAYMENT_ID}/match", "alice", "ops") in fake.calls

    async def test_an_unknown_order_number_is_refused_before_matching(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/payments/{PAYMENT_ID}/match", data={"csrf_token": token, "order": "NOPE-1"})
        assert "no single order numbered NOPE-1" in (await console.get("/payments")).text
        assert not any(c[1].endswith("/match") for c in fake.calls)

    async def test_a_payload_that_could_not_be_read_is_shown_as_received_with_the_reason(self, console):
        await sign_in(console, "alice", "alice-password")
        listed = await console.get("/channels")
        assert f"/channels/intake/{INTAKE_ID}" in listed.text and "Fulfillment API" in listed.text
        page = await console.get(f"/channels/intake/{INTAKE_ID}")
        assert "line_items.0.sku: field required" in page.text
        assert "{&#34;id&#34;: 77" in page.text  # the body, escaped

    async def test_a_failed_payload_is_read_again_as_the_user(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        page = await console.get(f"/channels/intake/{INTAKE_ID}")
        assert "Read again" in page.text
        r = await console.post(f"/channels/intake/{INTAKE_ID}/retry", data={"csrf_token": token})
        assert r.headers["location"] == f"/channels/intake/{INTAKE_ID}"
        assert ("POST", f"/intake/{INTAKE_ID}/retry", "alice", "ops") in fake.calls

    async def test_reconciliation_shows_what_is_missing_and_fetches_it(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        latest = await console.get("/channels/shop/reconciliation")
        assert latest.status_code == 200 and "channel shop has no scheduled reconciliation yet" in latest.text
        now = await console.get("/channels/shop/reconciliation", params={"now": "true"})
        assert "1003" in now.text and "failed</a>: no sku" in now.text
        fetched = await console.post("/channels/shop/reconciliation/fetch-missing", data={"csrf_token": token})
        assert "1 missing orders taken into the intake log" in fetched.text


class TestBatchLabels:
    async def test_tagging_selected_orders_keeps_their_other_tags(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        ORDER["tags"] = ["gift"]
        try:
            await console.post("/orders/batch", data={"action": "tag", "label": "vip", "csrf_token": token,
                                                      "order_id": [ORDER_ID], "form_id": "b1"})
        finally:
            del ORDER["tags"]
        assert call_body(fake, "PATCH", f"/orders/{ORDER_ID}") == {"tags": ["gift", "vip"]}
        assert "tag: 1 of 1 done" in (await console.get("/orders")).text

    async def test_moving_to_a_folder_needs_its_name(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post("/orders/batch", data={"action": "folder", "label": " ", "csrf_token": token,
                                                  "order_id": [ORDER_ID]})
        assert "folder: give the folder name" in (await console.get("/orders")).text
        await console.post("/orders/batch", data={"action": "folder", "label": "wholesale", "csrf_token": token,
                                                  "order_id": [ORDER_ID]})
        assert call_body(fake, "PATCH", f"/orders/{ORDER_ID}") == {"folder": "wholesale"}


BATCH_ID = str(uuid.uuid4())


class TestBatches:
    @pytest.fixture(autouse=True)
    def answers(self, fake):
        batch = {"batch_id": BATCH_ID, "status": "printed", "order_ids": [ORDER_ID], "skipped": {},
                 "pick_list": [{"sku": "MUG-1", "title": "Mug", "location": "A", "bin": "A-01", "quantity": 2,
                                "order_numbers": ["WEB-1001"]}], "pick_list_job_id": None, "created_by": "alice",
                 "created_at": "2026-11-29T07:00:00+00:00", "processed_by": None, "processed_at": None}
        fake.answers.update({
            "/batches": lambda request: httpx.Response(201, json=batch),
            f"/batches/{BATCH_ID}": batch,
            f"/batches/{BATCH_ID}/process": {**batch, "status": "processed"},
        })

    async def test_chosen_orders_print_as_a_batch_whose_pick_list_shows(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        waiting = await console.get("/batches")
        assert "WEB-1001" in waiting.text
        assert ("GET", "/shipments", "alice", "ops") in fake.calls
        r = await console.post("/batches", data={"csrf_token": token, "order_id": [ORDER_ID]})
        assert r.headers["location"] == f"/batches/{BATCH_ID}"
        assert call_body(fake, "POST", "/batches") == {"order_ids": [ORDER_ID]}
        page = await console.get(f"/batches/{BATCH_ID}")
        assert "A-01" in page.text and "WEB-1001" in page.text and "Process the batch" in page.text

    async def test_processing_the_batch_asks_fulfilment_as_the_user(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post(f"/batches/{BATCH_ID}/process", data={"csrf_token": token})
        assert ("POST", f"/batches/{BATCH_ID}/process", "alice", "ops") in fake.calls

    async def test_a_batch_needs_orders(self, console, fake):
        token = await sign_in(console, "alice", "alice-password")
        await console.post("/batches", data={"csrf_token": token})
        assert "choose at least one order" in (await console.get("/orders")).text


async def test_a_station_jobs_reprint_says_it_is_queued_there_and_a_double_submitted_form_asks_once(console, fake):
    job_id = str(uuid.uuid4())
    fake.answers[f"/print-jobs/{job_id}/reprint"] = lambda request: httpx.Response(202, json={
        "job_id": job_id, "command_id": str(uuid.uuid4()), "state": "waiting", "station": "bench-1", "error": None,
        "job": None})
    csrf = await sign_in(console, "alice", "alice-password")
    for _ in range(2):
        r = await console.post(f"/printing/{job_id}/reprint",
                               data={"csrf_token": csrf, "form_id": "f-7", "reason": "label smudged"})
        assert r.status_code == 303
    keys = [key for (_, path, *_), key in zip(fake.calls, fake.keys, strict=True)
            if path == f"/print-jobs/{job_id}/reprint"]
    assert len(keys) == 2 and keys[0] == keys[1]  # the same reprint: the printing service prints it once
    assert call_body(fake, "POST", f"/print-jobs/{job_id}/reprint") == {"reason": "label smudged"}
    assert "reprint queued for station bench-1: its agent prints it" in (await console.get("/printing")).text
