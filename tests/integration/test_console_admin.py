"""The console's admin pages in real headless Chromium, against the whole system on the real broker and database:
the printer registry and print stations, a channel's settings (credentials write-only), the audit of one person,
and what ops and packers may not do there."""

import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

pytestmark = pytest.mark.integration
expect.set_options(timeout=20_000)  # a loaded 2-core machine: more than Playwright's default 5 s

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


@pytest.fixture
async def browser():
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        await launched.close()


@pytest.fixture
def admin(system, api_keys) -> httpx.AsyncClient:
    """The services' APIs with the admin key: to set up and to check what the console did."""
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {api_keys['admin']}"}, timeout=60)


def as_console_user(api_keys, name: str) -> httpx.AsyncClient:
    """The services' APIs as the console calls them for a signed-in ops user."""
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {api_keys['console']}", "X-OMS-User": name,
                                      "X-OMS-Role": "ops"}, timeout=60)


async def signed_in_page(browser, base: str, user: str, password: str):
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page.locator("[data-testid=signed-in-as]")).to_contain_text(user)
    return page


async def test_an_admin_registers_a_station_and_its_printer_edits_both_then_removes_them(
    system, browser, admin, console_admin_password
):
    console, printing = system.url("console"), system.url("printing")
    run = uuid.uuid4().hex[:6]
    station, printer = f"it-bench-{run}", f"it-slips-{run}"
    page = await signed_in_page(browser, console, "admin", console_admin_password)

    await page.goto(f"{console}/printing")
    stations = page.locator("[data-testid=station-form]")
    await stations.locator("input[name=name]").fill(station)
    await stations.locator("button[type=submit]").click()
    await expect(page.locator("[data-testid=station-key]")).to_contain_text(station)

    # A printer at that station, for packing slips only (so no other test's documents go to it).
    await page.click("[data-testid=add-printer]")
    form = page.locator("[data-testid=printer-form]")
    await form.locator("input[name=name]").fill(printer)
    await form.locator("select[name=protocol]").select_option("raw9100")
    await form.locator("input[name=address]").fill("http://not an address")
    await form.locator("input[value=packing_slip]").check()
    await form.locator("select[name=label_format]").select_option("pdf")
    await form.locator("select[name=station]").select_option(station)
    await form.locator("[data-testid=save-printer]").click()
    await expect(page.locator("[data-testid=printer-problem]")).to_contain_text("address")
    await shot(page, "printer-refused")
    await form.locator("input[name=address]").fill("10.9.8.7:9100")  # what else was typed is still there
    await form.locator("[data-testid=save-printer]").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"printer {printer} saved")
    registered = {p["name"]: p for p in (await admin.get(f"{printing}/printers")).json()}[printer]
    assert (registered["protocol"], registered["address"], registered["document_types"], registered["station"],
            registered["label_format"]) == ("raw9100", "10.9.8.7:9100", ["packing_slip"], station, "pdf")

    # Edit it: Letter paper, pick lists too.
    row = page.locator("[data-testid=printers] tr", has_text=printer)
    await row.locator("a:has-text('Edit')").click()
    form = page.locator("[data-testid=printer-form]")
    await expect(form.locator("input[name=address]")).to_have_value("10.9.8.7:9100")
    await form.locator("select[name=paper]").select_option("Letter")
    await form.locator("input[value=pick_list]").check()
    await shot(page, "printer-edit")
    await form.locator("[data-testid=save-printer]").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"printer {printer} saved")
    registered = {p["name"]: p for p in (await admin.get(f"{printing}/printers")).json()}[printer]
    assert registered["paper"] == "Letter" and sorted(registered["document_types"]) == ["packing_slip", "pick_list"]
    await shot(page, "printing-admin")

    # Revoke the station's key, then remove the printer (after the browser's "are you sure?").
    await page.locator("[data-testid=stations] tr", has_text=station).locator("button:has-text('Revoke key')").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"station {station}: key revoked")
    revoked = {s["name"]: s for s in (await admin.get(f"{printing}/stations")).json()}[station]
    assert revoked["revoked"] is True
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("[data-testid=printers] tr", has_text=printer).locator("button:has-text('Remove')").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"printer {printer} removed")
    assert printer not in {p["name"] for p in (await admin.get(f"{printing}/printers")).json()}


async def test_an_admin_edits_a_channels_settings_and_never_sees_its_credentials(
    system, browser, admin, console_admin_password
):
    console, ingest = system.url("console"), system.url("ingest")
    run = uuid.uuid4().hex[:6]
    channel_id = f"it-woo-{run}"
    created = await admin.put(f"{ingest}/channels/{channel_id}", json={
        "name": "IT Woo", "kind": "woocommerce", "account": f"it{run}", "url": "http://127.0.0.1:9",
        "credentials": {"consumer_key": "env:IT_WOO_KEY", "consumer_secret": "env:IT_WOO_SECRET"},
        "interval_seconds": 3600, "options": {"start_date": "2026-01-01"}, "enabled": False})
    assert created.status_code == 200, created.text

    page = await signed_in_page(browser, console, "admin", console_admin_password)
    await page.goto(f"{console}/channels")
    await page.locator("tr", has_text=channel_id).locator("a:has-text('Settings')").click()
    form = page.locator("[data-testid=channel-form]")
    await expect(form.locator("[data-testid=credentials]")).to_contain_text("consumer_secret")
    assert "IT_WOO" not in await page.content()
    await shot(page, "channel-settings")

    await form.locator("input[name=interval_seconds]").fill("120")
    await form.locator("input[name=unprocessed_statuses]").fill("processing, on-hold")
    await form.locator("input[name=push_stock]").check()
    await form.locator("input[name=cred_consumer_secret]").fill("env:IT_WOO_SECRET_2")
    await form.locator("[data-testid=save-channel]").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"{channel_id}: settings saved")
    saved = (await admin.get(f"{ingest}/channels/{channel_id}")).json()
    assert saved["interval_seconds"] == 120 and saved["unprocessed_statuses"] == ["processing", "on-hold"]
    assert saved["options"] == {"start_date": "2026-01-01", "push_stock": True} and saved["enabled"] is False
    assert saved["credentials"] == {"consumer_key": "env:IT_WOO_KEY", "consumer_secret": "env:IT_WOO_SECRET_2"}

    # A secret typed where its reference belongs is refused by ingest with the reason, and not shown back.
    await page.locator("tr", has_text=channel_id).locator("a:has-text('Settings')").click()
    await form.locator("input[name=cred_consumer_key]").fill("ck_live_0123456789")
    await form.locator("[data-testid=save-channel]").click()
    await expect(page.locator("[data-testid=channel-problem]")).to_contain_text("must be a reference")
    assert "ck_live_0123456789" not in await page.content()
    await shot(page, "channel-settings-refused")
    assert (await admin.get(f"{ingest}/channels/{channel_id}")).json()["credentials"]["consumer_key"] == (
        "env:IT_WOO_KEY")


async def test_an_admin_sees_what_one_person_did_and_ops_may_not_change_settings(
    system, browser, admin, api_keys, console_admin_password
):
    console, orders, inventory = system.url("console"), system.url("orders"), system.url("inventory")
    run = uuid.uuid4().hex[:6]
    person, supplier = f"audited{run}", f"Supplier {run}"
    async with as_console_user(api_keys, person) as acting:
        placed = await admin.post(f"{orders}/orders", json={
            "buyer": {"name": f"Buyer {run}"}, "currency": "GBP", "paid": True,
            "shipping_address": {"name": "B", "line1": "1 St", "city": "Leeds", "postcode": "LS1 1AA", "country": "GB"},
            "lines": [{"line_id": "1", "sku": f"AUD-{run}", "title": "Thing", "quantity": 1, "unit_price": "3.00"}],
            "shipping": {"service": "Standard", "cost": "1.00"}})
        assert placed.status_code == 201, placed.text
        order = placed.json()
        parked = await acting.post(f"{orders}/orders/{order['order_id']}/park", json={"reason": f"call buyer {run}"})
        assert parked.status_code == 200, parked.text
        po = await acting.post(f"{inventory}/purchase-orders", json={
            "supplier": supplier, "lines": [{"sku": f"AUD-{run}", "quantity": 5}]})
        assert po.status_code in (201, 202), po.text

    page = await signed_in_page(browser, console, "admin", console_admin_password)
    await page.click("header a:has-text('Audit')")
    await page.fill("[data-testid=audit-form] input[name=user]", person)
    await page.click("[data-testid=audit-form] button[type=submit]")
    mine = page.locator("[data-testid=audit-orders]")
    await expect(mine).to_contain_text(order["order_number"])
    await expect(mine).to_contain_text(f"call buyer {run}")
    await expect(mine).not_to_contain_text("opened")  # the order was opened by someone else
    await expect(page.locator("[data-testid=audit-others]")).to_contain_text(supplier)
    await expect(page.locator("[data-testid=signed-in-as]")).to_have_text("admin (admin)")  # still who is signed in
    await shot(page, "audit")

    # An ops user reads channels and printers but changes neither; a packer gets the 403 page.
    for name, role in ((f"ops{run}", "ops"), (f"pk{run}", "packer")):
        await page.goto(f"{console}/settings/users")
        form = page.locator("form[action='/settings/users']")
        await form.locator("input[name=username]").fill(name)
        await form.locator("select[name=role]").select_option(role)
        await form.locator("input[name=password]").fill("a-password-123")
        await form.locator("button[type=submit]").click()
        await expect(page.locator(".flash.ok")).to_contain_text(f"user {name} added")
    ops_page = await signed_in_page(browser, console, f"ops{run}", "a-password-123")
    await ops_page.goto(f"{console}/printing")
    await expect(ops_page.locator("h1")).to_have_text("Printing")
    assert await ops_page.locator("[data-testid=add-printer]").count() == 0
    response = await ops_page.goto(f"{console}/printing/printers/new")
    assert response.status == 403
    packer_page = await signed_in_page(browser, console, f"pk{run}", "a-password-123")
    response = await packer_page.goto(f"{console}/settings/audit")
    assert response.status == 403
    await expect(packer_page.locator("h1")).to_have_text("Not allowed")
    await shot(packer_page, "audit-403-packer")
