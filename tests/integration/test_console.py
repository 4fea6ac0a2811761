"""The ops console in real headless Chromium (Debian's), against the whole system on the real broker and database."""

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration
# Eight services and a browser share a small CI machine: a page may take more than Playwright's default 5 s.
expect.set_options(timeout=20_000)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Screenshots of every page, for a person to look at (build/ is git-ignored).
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


async def sign_in(page, base: str, user: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def add_user(page, base: str, name: str, role: str, password: str) -> None:
    await page.goto(f"{base}/settings/users")
    form = page.locator("form[action='/settings/users']")
    await form.locator("input[name=username]").fill(name)
    await form.locator("select[name=role]").select_option(role)
    await form.locator("input[name=password]").fill(password)
    await form.locator("button[type=submit]").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"user {name} added")


def phone_order(sku: str, buyer: str) -> dict:
    return {
        "buyer": {"name": buyer, "email": "grace@example.org"},
        "shipping_address": {"name": buyer, "line1": "1 Harvard Yard", "city": "Cambridge", "postcode": "CB1 1AA",
                             "country": "GB"},
        "lines": [{"line_id": "1", "sku": sku, "title": "Compiler manual", "quantity": 1, "unit_price": "12.00"}],
        "shipping": {"service": "Tracked 48", "cost": "2.00"},
        "currency": "GBP",
        "paid": True,
    }


async def test_ops_see_a_new_order_arrive_live_process_it_and_find_it_processed(system, ops, browser, wait_for, console_admin_password):
    console, orders, inventory = system.url("console"), system.url("orders"), system.url("inventory")
    sku, buyer = f"BOOK-{uuid.uuid4().hex[:6].upper()}", f"Grace Hopper {uuid.uuid4().hex[:4]}"
    response = await ops.post(f"{inventory}/stock/{sku}/adjustments", json={"delta": 5, "reason": "opening stock"})
    assert response.status_code == 202, response.text

    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await page.goto(f"{console}/login")
    await shot(page, "sign-in")
    await sign_in(page, console, "admin", console_admin_password)
    name = f"ops{uuid.uuid4().hex[:6]}"
    await add_user(page, console, name, "ops", "ops-password-123")
    await page.click("button:has-text('Sign out')")
    await sign_in(page, console, name, "ops-password-123")
    await expect(page).to_have_url(f"{console}/orders")
    await expect(page.locator("[data-testid=signed-in-as]")).to_contain_text(name)

    # An order typed in elsewhere appears in the open grid without a reload.
    placed = await ops.post(f"{orders}/orders", json=phone_order(sku, buyer))
    assert placed.status_code in (201, 202), placed.text
    order_id = placed.json()["order_id"]
    row = page.locator(f"#orders-grid tr[data-order-id='{order_id}']")
    await expect(row).to_be_visible(timeout=30_000)
    await expect(row).to_contain_text(buyer)
    await shot(page, "open-orders")

    async def allocated():
        body = (await ops.get(f"{orders}/orders/{order_id}")).json()
        return body["stock_allocated"] and body

    order = await wait_for(allocated, what="the order's stock to be allocated")

    # Open it and process it; the timeline names the user.
    await row.locator("a").click()
    await expect(page.locator("[data-testid=order-number]")).to_have_text(order["order_number"])
    await page.click("[data-testid=process]")
    await expect(page.locator(".flash")).to_contain_text("process: done")

    async def processed():
        body = (await ops.get(f"{orders}/orders/{order_id}")).json()
        return body["status"] == "processed" and body

    done = await wait_for(processed, what="the order to be processed")
    await page.reload()
    await expect(page.locator("[data-testid=order-status]")).to_have_text("processed")
    await expect(page.locator("[data-testid=timeline]")).to_contain_text(name)
    await expect(page.locator("[data-testid=tracking]")).to_have_text(done["tracking_number"])
    await shot(page, "order-processed")

    # Its invoice downloads as the PDF that printed, with the order number in it.
    async def invoice_printed():
        jobs = (await ops.get(f"{system.url('printing')}/print-jobs", params={"order_id": order_id})).json()
        return any(j["document_type"] == "invoice" and j["state"] == "printed" for j in jobs)

    await wait_for(invoice_printed, what="the invoice to be printed")
    async with page.expect_download() as download_info:
        await page.click("[data-testid=invoice-pdf]")
    download = await download_info.value
    pdf = Path(await download.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert done["order_number"] in text and buyer in text

    # It is in Processed Orders, found by its order number.
    await page.goto(f"{console}/processed?q={done['order_number']}")
    await expect(page.locator(f"#orders-grid tr[data-order-id='{order_id}']")).to_contain_text(done["tracking_number"])
    await shot(page, "processed-orders")

    # The buyer sends it back: book an RMA with restock, then receive the goods; the stock comes back.
    await page.goto(f"{console}/orders/{order_id}")
    rma_form = page.locator("[data-testid=return-form]")
    await rma_form.locator("input[name=qty_1]").fill("1")
    await rma_form.locator("select[name=action_1]").select_option("restock")
    await rma_form.locator("button[type=submit]").click()
    await expect(page.locator(".flash")).to_contain_text("return: booked")
    await expect(page.locator("[data-testid=rma]")).to_contain_text("awaiting the goods")
    await page.click("button:has-text('Goods received')")
    await expect(page.locator(".flash")).to_contain_text("return received")

    async def restocked():
        return (await ops.get(f"{inventory}/stock/{sku}")).json()["on_hand"] == 5

    await wait_for(restocked, what="the returned book back on the shelf")
    await page.reload()
    await shot(page, "order-returned")

    # The other pages render for ops (and are there to look at).
    for name, path in (("stock", "stock"), ("stock-item", f"stock/{sku}"), ("printing", "printing"),
                       ("channels", "channels"), ("dead-letters", "dead-letters")):
        answer = await page.goto(f"{console}/{path}")
        assert answer.status == 200, path
        await shot(page, name)


async def test_a_packer_cannot_open_settings(system, browser, console_admin_password):
    console = system.url("console")
    page = await browser.new_page()
    await sign_in(page, console, "admin", console_admin_password)
    name = f"packer{uuid.uuid4().hex[:6]}"
    await add_user(page, console, name, "packer", "packer-password-1")
    await page.click("button:has-text('Sign out')")
    await sign_in(page, console, name, "packer-password-1")
    await expect(page).to_have_url(f"{console}/pack")
    await shot(page, "pack-station")
    response = await page.goto(f"{console}/settings/users")
    assert response.status == 403
    await shot(page, "forbidden")
    await expect(page.locator("[data-testid=error-message]")).to_contain_text("may not open this page")


async def test_a_wrong_password_signs_no_one_in(system, browser):
    page = await browser.new_page()
    await sign_in(page, system.url("console"), "admin", "not-the-password")
    await expect(page.locator(".flash.error")).to_contain_text("Wrong user name or password")
    response = await page.goto(f"{system.url('console')}/orders")
    assert "/login" in response.url


async def test_a_packer_packs_an_order_at_the_bench_and_its_label_reaches_the_printer(
    system, ops, api_keys, browser, printer, wait_for, console_admin_password, tmp_path
):
    console, ingest = system.url("console"), system.url("ingest")
    admin = {"Authorization": f"Bearer {api_keys['admin']}"}
    channel, station = f"bench{uuid.uuid4().hex[:6]}", f"bench-{uuid.uuid4().hex[:6]}"
    sku = f"CUP-{uuid.uuid4().hex[:6].upper()}"

    # The bench: a registered print station whose agent prints on the test printer; the channel packs at benches.
    made = await ops.post(f"{system.url('printing')}/stations", json={"name": station}, headers=admin)
    assert made.status_code == 201, made.text
    agent = subprocess.Popen(
        [sys.executable, "-m", "printing", "station", "--name", station, "--key", made.json()["key"],
         "--api", system.url("printing"), "--printer", printer.uri, "--journal", str(tmp_path / "journal"),
         "--wait", "2"], stdout=(tmp_path / "agent.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        settings = await ops.put(f"{system.url('fulfilment')}/channels/{channel}/settings", headers=admin,
                                 json={"flow": "pack", "documents": ["invoice", "shipping_label"]})
        assert settings.status_code == 200, settings.text
        stocked = await ops.post(f"{system.url('inventory')}/stock/{sku}/adjustments",
                                 json={"delta": 5, "reason": "opening stock"})
        assert stocked.status_code == 202, stocked.text

        channel_order_id = uuid.uuid4().hex[:10]
        number = f"PK-{channel_order_id[:6].upper()}"
        body = {"channel": channel, "channel_order_id": channel_order_id, "order_number": number,
                "buyer": {"name": "Lise Meitner"},
                "shipping_address": {"name": "Lise Meitner", "line1": "1 Kaiser-Wilhelm-Platz", "city": "Berlin",
                                     "postcode": "10117", "country": "DE"},
                "lines": [{"line_id": "1", "sku": sku, "title": "Cup", "quantity": 2, "unit_price": "4.00"}],
                "shipping": {"service": "Tracked 48", "cost": "3.00"}, "currency": "EUR", "paid": True}
        assert (await ops.post(f"{ingest}/channels/{channel}/orders", json=body)).status_code == 202
        order_id = str(order_id_for(channel, channel_order_id))

        async def allocated():
            answer = await ops.get(f"{system.url('orders')}/orders/{order_id}")
            return answer.status_code == 200 and answer.json()["stock_allocated"]

        await wait_for(allocated, what="the bench order allocated")
        assert (await ops.post(f"{system.url('orders')}/orders/{order_id}/process")).status_code == 200

        async def waiting_at_the_bench():
            answer = await ops.get(f"{system.url('fulfilment')}/shipments/{order_id}")
            return answer.status_code == 200 and answer.json()["status"] == "packing"

        await wait_for(waiting_at_the_bench, what="the shipment waiting to be packed")

        # The packer signs in, picks the bench's station, scans the order number and each item.
        page = await browser.new_page(viewport={"width": 1024, "height": 768})
        await sign_in(page, console, "admin", console_admin_password)
        name = f"packer{uuid.uuid4().hex[:6]}"
        await add_user(page, console, name, "packer", "packer-password-2")
        await page.click("button:has-text('Sign out')")
        await sign_in(page, console, name, "packer-password-2")
        await page.fill("[data-testid=station-name]", station)
        await page.press("[data-testid=station-name]", "Enter")
        await expect(page.locator("[data-testid=station]")).to_have_text(station)
        await page.fill("[data-testid=pack-order]", number)
        await page.press("[data-testid=pack-order]", "Enter")
        await expect(page.locator("[data-testid=pack-order-number]")).to_have_text(number)

        await page.fill("[data-testid=scan-item]", "NOT-IN-THIS-ORDER")
        await page.press("[data-testid=scan-item]", "Enter")
        await expect(page.locator(".flash.error")).to_contain_text("REFUSED NOT-IN-THIS-ORDER")
        await page.fill("[data-testid=scan-item]", sku)
        await page.press("[data-testid=scan-item]", "Enter")
        await expect(page.locator("[data-testid=pack-lines]")).to_contain_text("1 / 2")
        await shot(page, "pack-order")
        await page.fill("[data-testid=scan-item]", sku)
        await page.press("[data-testid=scan-item]", "Enter")
        await expect(page.locator(".flash.ok")).to_contain_text(f"order {number} packed")

        async def shipped():
            answer = (await ops.get(f"{system.url('orders')}/orders/{order_id}")).json()
            return answer["status"] == "processed" and answer

        order = await wait_for(shipped, what="the packed order processed")

        def text_of(job) -> str:
            data = job.read_bytes()
            if data.startswith(b"%PDF"):
                return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True).stdout.decode()
            return data.decode(errors="replace")  # ZPL

        def is_label(text: str) -> bool:
            return text.lstrip().startswith("^XA") or "SHIP TO" in text

        async def label_printed():  # tracking numbers are unique: a label holding this one is this order's
            return [p for p in printer.jobs() if order["tracking_number"] in (text := text_of(p)) and is_label(text)]

        async def label_job_printed():
            jobs = (await ops.get(f"{system.url('printing')}/print-jobs", params={"order_id": order_id})).json()
            return [j for j in jobs if j["document_type"] == "shipping_label" and j["state"] == "printed"]

        [label] = await wait_for(label_job_printed, what="the label job printed")
        assert (label["station"], label["printer"]) == (station, printer.uri)
        await wait_for(label_printed, what="the label in the bench printer's spool")
    finally:
        agent.terminate()
        agent.wait(timeout=10)


async def test_ops_edit_an_open_order_order_stock_from_a_supplier_and_an_admin_previews_a_template(
    system, ops, browser, wait_for, console_admin_password
):
    console, orders, inventory = system.url("console"), system.url("orders"), system.url("inventory")
    sku, tag = f"PEN-{uuid.uuid4().hex[:6].upper()}", f"vip{uuid.uuid4().hex[:4]}"
    assert (await ops.post(f"{inventory}/stock/{sku}/adjustments",
                           json={"delta": 5, "reason": "opening stock"})).status_code == 202
    placed = await ops.post(f"{orders}/orders", json=phone_order(sku, "Katherine Johnson"))
    assert placed.status_code in (201, 202), placed.text
    order_id = placed.json()["order_id"]

    async def order(check):
        body = (await ops.get(f"{orders}/orders/{order_id}")).json()
        return check(body) and body

    await wait_for(lambda: order(lambda o: o["stock_allocated"]), what="the order allocated")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await sign_in(page, console, "admin", console_admin_password)

    # Edit the open order: tags and folder, a note for the invoice, the shipping address, a bank transfer.
    await page.goto(f"{console}/orders/{order_id}")
    labels = page.locator("[data-testid=labels-form]")
    await labels.locator("input[name=tags]").fill(f"{tag}, gift")
    await labels.locator("input[name=folder]").fill("wholesale")
    await labels.locator("button").click()
    await expect(page.locator(".flash")).to_contain_text("edit labels: done")
    note = page.locator("[data-testid=note-form]")
    await note.locator("input[name=text]").fill("Gift: no prices please")
    await note.locator("select[name=internal]").select_option("invoice")
    await note.locator("button").click()
    await expect(page.locator(".flash")).to_contain_text("note: done")
    await page.click("summary:has-text('Edit shipping address')")
    address = page.locator("[data-testid=shipping-address-form]")
    await address.locator("input[name=city]").fill("Hampton")
    await address.locator("button").click()
    await expect(page.locator(".flash")).to_contain_text("shipping address: done")
    await page.click("summary:has-text('Record a payment')")
    payment = page.locator("[data-testid=payment-form]")
    await payment.locator("input[name=transaction_id]").fill(f"BACS-{tag}")
    await payment.locator("input[name=amount]").fill("14.00")
    await payment.locator("select[name=method]").select_option("bank_transfer")
    await payment.locator("button").click()
    await expect(page.locator(".flash")).to_contain_text("payment: done")

    edited = await wait_for(lambda: order(lambda o: tag in o["tags"] and o["folder"] == "wholesale" and o["notes"]
                                          and o["details"]["shipping_address"]["city"] == "Hampton"),
                            what="the edits on the order")
    assert edited["notes"][0]["internal"] is False and edited["notes"][0]["by"] == "admin"
    await page.reload()
    await expect(page.locator("[data-testid=notes]")).to_contain_text("Gift: no prices please")
    await expect(page.locator("[data-testid=payments]")).to_contain_text(f"BACS-{tag}")
    await expect(page.locator("[data-testid=timeline]")).to_contain_text("admin")
    await shot(page, "order-edited")

    # The grid filters by the tag and shows it.
    await page.goto(f"{console}/orders?tag={tag}")
    row = page.locator(f"#orders-grid tr[data-order-id='{order_id}']")
    await expect(row).to_contain_text(tag)
    await expect(page.locator("[data-testid=open-total]")).to_have_text("1")
    await shot(page, "open-orders-by-tag")

    # A purchase order of ten; four arrive; the shelf has them.
    await page.goto(f"{console}/purchase-orders")
    new_po = page.locator("[data-testid=new-po-form]")
    await new_po.locator("input[name=supplier]").fill(f"Pens {tag}")
    await new_po.locator("input[name=expected_on]").fill("2026-12-24")
    await new_po.locator("input[name=sku_0]").fill(sku)
    await new_po.locator("input[name=qty_0]").fill("10")
    await new_po.locator("button[type=submit]").click()
    await expect(page.locator("[data-testid=po-status]")).to_have_text("open")
    await page.fill("[data-testid=delivery-form] input[name=qty_0]", "4")
    await page.click("button:has-text('Receive the delivery')")
    await expect(page.locator(".flash")).to_contain_text("delivery received")
    await expect(page.locator("[data-testid=po-status]")).to_have_text("partially delivered")
    await shot(page, "purchase-order")
    await wait_for(lambda: _on_hand(ops, inventory, sku, 9), what="the delivery on the shelf")

    # A template that does not render says where and why; a good one previews as a picture.
    await page.goto(f"{console}/printing/templates/invoice")
    await page.fill("textarea[name=source]", "<h1>{{ order.order_number }}</h1>\n<p>\n{% if %}</p>")
    await page.click("button[value=png]")
    await expect(page.locator("[data-testid=template-problem]")).to_contain_text("line")
    await shot(page, "template-refused")
    await page.fill("textarea[name=source]", "<h1>Invoice {{ order.order_number }}</h1>")
    await page.click("button[value=png]")
    await expect(page.locator("img.preview")).to_be_visible()
    await shot(page, "template-preview")

    for name, path in (("low-stock", "inventory/low"), ("oversold", "inventory/oversold"),
                       ("purchase-orders", "purchase-orders"), ("payments", "payments"),
                       ("printing-admin", "printing"), ("channels-admin", "channels")):
        answer = await page.goto(f"{console}/{path}")
        assert answer.status == 200, path
        await shot(page, name)


async def _on_hand(ops, inventory: str, sku: str, expected: int) -> bool:
    return (await ops.get(f"{inventory}/stock/{sku}")).json()["on_hand"] == expected
