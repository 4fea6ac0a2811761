"""Available stock pushed to every channel that takes it, on the real broker and database: a stock change made
through the inventory API reaches the eBay, Amazon, Magento, Shopify and WooCommerce stand-ins and an osCommerce
shop database (a real MariaDB) in each channel's documented shape; a burst of changes to one SKU ends with the
shop holding the last value after few calls and few writes of the SKU's push document."""

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from ingest.standin_mariadb import MariaDB
from ingest.standins import serve
from ingest.writeback_standins import AmazonShop, EbayShop, MagentoShop, ShopifyShop, WooCommerceShop

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[2] / "services" / "ingest" / "tests" / "data"
SELLER, MARKETPLACE, LOCATION = "A2SELLERIT", "A1F83G8C2ARO7P", 655441491


@pytest.fixture
async def channels(system, admin, tmp_path):
    """Configures channels for the test (write-back only, stock pushed) and turns their push off afterwards, so
    later tests' stock changes are not sent to stand-ins that have stopped."""
    configured: dict[str, dict] = {}

    class Channels:
        run = uuid.uuid4().hex[:6]
        token = uuid.uuid4().hex

        def secret(self, name: str, value: str) -> str:
            (tmp_path / name).write_text(value)
            return f"file:{tmp_path / name}"

        async def add(self, name: str, kind: str, url: str, credentials: dict, **options) -> str:
            channel_id = f"{name}-{self.run}"
            body = {"name": name, "kind": kind, "account": f"push{self.run}", "url": url, "credentials": credentials,
                    "options": {"poll": False, "push_stock": True, **options}}
            answer = await admin.put(f"{system.url('ingest')}/channels/{channel_id}", json=body)
            assert answer.status_code == 200, answer.text
            configured[channel_id] = body
            return channel_id

    yield Channels()
    for channel_id, body in configured.items():
        body["options"] = {**body["options"], "push_stock": False}
        await admin.put(f"{system.url('ingest')}/channels/{channel_id}", json=body)


async def adjust(ops, inventory: str, sku: str, delta: int) -> None:
    answer = await ops.post(f"{inventory}/stock/{sku}/adjustments", json={"delta": delta, "reason": "count"})
    assert answer.status_code == 202, answer.text


class TestStockReachesEveryChannel:
    async def test_one_change_reaches_each_shop_in_its_documented_shape(self, system, ops, channels, mariadb,
                                                                        wait_for):
        run, token = channels.run, channels.token
        sku = f"PUSH-{run}"  # osCommerce models hold at most 12 characters
        ebay, amazon, magento = EbayShop([], token=token), AmazonShop([], {}, token=token), MagentoShop([], token=token)
        shopify, woo = ShopifyShop(token=token), WooCommerceShop(key="ck_push", secret=token)
        ebay.add_inventory_item(sku)
        amazon.add_listing(SELLER, sku)
        magento.add_stock_item(sku, 501)
        shopify.add_inventory_item(sku, 808950810, location_id=LOCATION)
        woo.add_product(sku, 4201)
        database = f"osc_{run}"
        dsn = mariadb.database(database, DATA / "oscommerce" / "schema.sql", DATA / "oscommerce" / "products.sql")
        mariadb.sql(f"UPDATE products SET products_model = '{sku}' WHERE products_id = 28", database=database)
        servers = {name: serve(shop.app) for name, shop in
                   {"ebay": ebay, "amazon": amazon, "magento": magento, "shopify": shopify, "woo": woo}.items()}
        try:
            ref = channels.secret("token", token)
            ids = [
                await channels.add("ebay", "ebay", servers["ebay"].url, {"token": ref}),
                await channels.add("amazon", "amazon", servers["amazon"].url, {"access_token": ref},
                                   seller_id=SELLER, marketplace_ids=[MARKETPLACE]),
                await channels.add("magento", "magento2", servers["magento"].url, {"token": ref}),
                await channels.add("shopify", "shopify", servers["shopify"].url, {"access_token": ref},
                                   location_id=str(LOCATION)),
                await channels.add("woo", "woocommerce", servers["woo"].url,
                                   {"consumer_key": channels.secret("ck", "ck_push"), "consumer_secret": ref}),
                await channels.add("osc", "oscommerce", dsn, {"password": channels.secret("db", mariadb.password)}),
            ]
            await adjust(ops, system.url("inventory"), sku, 6)

            def osc_quantity() -> str:
                rows = mariadb.sql(f"SELECT products_quantity FROM products WHERE products_model = '{sku}'",
                                   database=database).stdout.decode().split()
                return rows[-1]

            async def everywhere():
                return (ebay.inventory[sku] == 6 and amazon.listings[(SELLER, sku)] == 6
                        and magento.stock_items[sku]["qty"] == 6 and shopify.levels.get((808950810, LOCATION)) == 6
                        and woo.products[sku]["stock_quantity"] == 6 and osc_quantity() == "6")

            await wait_for(everywhere, what=f"{sku} at 6 in every shop")

            # A new channel also gets the pushes still pending for other tests' SKUs: only this SKU's calls count.
            # At least once: an attempt redelivered (say its save met a busy database) sets the same value again,
            # so each shop's last call for the SKU is checked, and every call for it must have been that same call.
            def last_of(calls: list[dict], about: str = sku) -> dict:
                mine = [c for c in calls if about in c["path"] or about in json.dumps(c["json"])]
                assert mine and all(c["json"] == mine[-1]["json"] and c["path"] == mine[-1]["path"] for c in mine)
                return mine[-1]

            bulk = last_of(ebay.stock_recorder.writes("POST"))
            assert bulk["path"] == "/sell/inventory/v1/bulk_update_price_quantity"
            assert bulk["json"] == {"requests": [{"sku": sku, "shipToLocationAvailability": {"quantity": 6}}]}
            assert bulk["headers"]["authorization"] == f"Bearer {token}"
            patch = last_of(amazon.stock_recorder.writes("PATCH"))
            assert patch["path"] == f"/listings/2021-08-01/items/{SELLER}/{sku}"
            assert patch["query"] == {"marketplaceIds": MARKETPLACE} and patch["headers"]["x-amz-access-token"] == token
            assert patch["json"]["patches"] == [{"op": "replace", "path": "/attributes/fulfillment_availability",
                                                 "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 6}]}]
            put = last_of(magento.recorder.writes("PUT"))
            assert put["path"] == f"/rest/default/V1/products/{sku}/stockItems/501"
            assert put["json"] == {"stockItem": {"qty": 6, "is_in_stock": True}}
            level = last_of(shopify.stock_recorder.writes("POST"), about="808950810")  # the SKU's inventory item
            assert level["path"].endswith("/inventory_levels/set.json")
            assert level["json"] == {"location_id": LOCATION, "inventory_item_id": 808950810, "available": 6}
            assert woo.recorder.writes("PUT")[-1]["json"] == {"manage_stock": True, "stock_quantity": 6}

            push = (await ops.get(f"{system.url('ingest')}/stock-pushes/{sku}")).json()
            assert push["state"] == "pushed" and {c: push["channels"][c]["available"] for c in ids} == dict.fromkeys(ids, 6)
        finally:
            for server in servers.values():
                server.stop()


class TestBurst:
    async def test_a_burst_ends_with_the_last_value_after_few_calls_and_few_writes(self, system, ops, channels,
                                                                                   endpoints, wait_for):
        woo = WooCommerceShop(key="ck_burst", secret=channels.token)
        sku = f"BURST-{channels.run}"
        woo.add_product(sku, 4301)
        server = serve(woo.app)
        try:
            await channels.add("wooburst", "woocommerce", server.url, {
                "consumer_key": channels.secret("ck", "ck_burst"),
                "consumer_secret": channels.secret("cs", channels.token)})
            changes = 20
            await asyncio.gather(*(adjust(ops, system.url("inventory"), sku, 1) for _ in range(changes)))

            async def last_value():
                return woo.products[sku]["stock_quantity"] == changes

            await wait_for(last_value, what=f"{sku} at {changes} in the shop")
            puts = [r for r in woo.recorder.writes("PUT") if r["path"] == "/wp-json/wc/v3/products/4301"]
            assert puts[-1]["json"] == {"manage_stock": True, "stock_quantity": changes}
            assert len(puts) <= changes // 4, f"{changes} changes in a burst made {len(puts)} calls"
            client = AsyncMongoClient(endpoints[1])
            try:
                doc = await client[system.env["INGEST_DATABASE"]]["stock_pushes"].find_one({"_id": sku})
            finally:
                await client.close()
            # Each save bumps the version: one per push command that changed the value, one per attempt. Without
            # coalescing that was one per change plus the attempts; how many batches the burst spans depends on how
            # fast inventory emits it (9 on a loaded machine, 5 on a quieter one).
            writes = doc["version"]
            assert writes < changes, f"{changes} changes cost {writes} writes of the push document"
            print(f"burst of {changes}: {len(puts)} shop calls, {writes} push document writes")
        finally:
            server.stop()
