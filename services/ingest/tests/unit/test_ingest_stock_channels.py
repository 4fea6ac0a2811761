"""Available stock and eBay's buyer message against the channel stand-ins: each channel's documented request shape,
a SKU the channel does not sell left alone, a refusal as a ConnectorError with the channel's reason; stock changes
coalesced per SKU before they become push commands."""

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ingest.connectors import writebacks
from ingest.connectors.base import ConnectorError
from ingest.connectors.oscommerce import OsCommerceConnector
from ingest.connectors.xcart4 import XCart4Connector
from ingest.connectors.registry import CAPABILITIES, WRITEBACKS, build_writeback
from ingest.domain.channels import ChannelConfig
from ingest.service_layer import stock_push
from ingest.writeback_standins import AmazonShop, EbayShop, MagentoShop, ShopifyShop
from oms_contracts.inventory.v1 import StockAllocated, StockAvailableChanged
from oms_platform.testing import RecordingBus

DATA = Path(__file__).parents[1] / "data"
ENV = {"TOKEN": "t0ken"}


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin")


def config(kind: str, **options) -> ChannelConfig:
    return ChannelConfig(channel_id=f"{kind}-1", name=kind, kind=kind, account="main", url="http://standin",
                         credentials={"token": "env:TOKEN", "access_token": "env:TOKEN"}, options=options)


def ebay_orders() -> list[dict]:
    return json.loads((DATA / "ebay/getOrders.json").read_text(encoding="utf-8"))["orders"]


class TestCapabilityTable:
    def test_every_channel_that_takes_stock_has_set_available(self):
        takes_stock = {kind: c for kind, c in CAPABILITIES.items() if c.stock}
        classes = {"ebay": writebacks.EbayWriteBack, "amazon": writebacks.AmazonWriteBack,
                   "magento2": writebacks.MagentoWriteBack, "woocommerce": writebacks.WooCommerceWriteBack,
                   "shopify": writebacks.ShopifyWriteBack, "oscommerce": OsCommerceConnector,
                   "zencart": OsCommerceConnector, "xcart": XCart4Connector}
        assert set(takes_stock) == set(classes) <= set(WRITEBACKS)
        assert all(hasattr(cls, "set_available") for cls in classes.values())
        assert not CAPABILITIES["xcart5"].stock and all(c.how for c in takes_stock.values())
        assert [kind for kind, c in CAPABILITIES.items() if c.message] == ["ebay"]


class TestEbayStock:
    async def test_bulk_update_price_quantity_with_the_ship_to_home_quantity(self):
        shop = EbayShop([], token="t0ken")
        shop.add_inventory_item("MUG-1")
        async with client(shop.app) as http:
            channel = build_writeback(config("ebay"), http=http, environ=ENV)
            await channel.set_available("MUG-1", 7)
            await channel.set_available("MUG-1", -3)  # oversold: 0 on eBay
            await channel.set_available("NOT-ON-EBAY", 4)  # eBay answers 404 for it: left alone
        calls = shop.stock_recorder.writes("POST")
        assert [c["path"] for c in calls] == ["/sell/inventory/v1/bulk_update_price_quantity"] * 3
        assert calls[0]["json"] == {"requests": [{"sku": "MUG-1", "shipToLocationAvailability": {"quantity": 7}}]}
        assert calls[0]["headers"]["authorization"] == "Bearer t0ken"
        assert shop.inventory == {"MUG-1": 0}

    async def test_a_refusal_names_the_channel_and_reason(self):
        shop = EbayShop([], token="other")
        async with client(shop.app) as http:
            with pytest.raises(ConnectorError, match="ebay: credentials refused"):
                await build_writeback(config("ebay"), http=http, environ=ENV).set_available("MUG-1", 1)


class TestEbayBuyerMessage:
    async def test_add_member_message_aaq_to_partner_to_the_buyer_about_the_first_item(self):
        orders = ebay_orders()
        order = orders[0]
        shop = EbayShop(orders, token="t0ken")
        async with client(shop.app) as http:
            channel = build_writeback(config("ebay", site_id=3), http=http, environ=ENV)
            await channel.send_buyer_message(order["orderId"], subject="Your order has shipped", body="Hello")
        [call] = shop.trading.writes("POST")
        assert call["path"] == "/ws/api.dll"
        assert call["headers"]["x-ebay-api-call-name"] == "AddMemberMessageAAQToPartner"
        assert call["headers"]["x-ebay-api-siteid"] == "3" and call["headers"]["x-ebay-api-iaf-token"] == "t0ken"
        assert call["headers"]["content-type"].startswith("text/xml")
        assert call["text"].startswith('<?xml version="1.0" encoding="utf-8"?><AddMemberMessageAAQToPartnerRequest')
        assert shop.messages == [{"ItemID": str(order["lineItems"][0]["legacyItemId"]), "Subject": "Your order has shipped",
                                  "Body": "Hello", "QuestionType": "Shipping",
                                  "RecipientID": order["buyer"]["username"]}]

    async def test_a_trading_failure_is_a_connector_error_with_ebays_message(self):
        orders = ebay_orders()
        rest, trading = EbayShop(orders, token="t0ken"), EbayShop([], token="t0ken")  # eBay knows no such partner
        mounts = {"http://standin": httpx.ASGITransport(app=rest.app),
                  "http://trading": httpx.ASGITransport(app=trading.app)}
        async with httpx.AsyncClient(mounts=mounts) as http:
            channel = build_writeback(config("ebay", trading_url="http://trading/ws/api.dll"), http=http, environ=ENV)
            with pytest.raises(ConnectorError, match="ebay: 200 Failure: The recipient is not an order partner"):
                await channel.send_buyer_message(orders[0]["orderId"], subject="s", body="b")
        assert trading.messages == [] and len(trading.trading.received) == 1

    async def test_an_order_without_buyer_or_item_cannot_be_messaged(self):
        orders = ebay_orders()
        shop = EbayShop([dict(orders[0], buyer={})], token="t0ken")
        async with client(shop.app) as http:
            with pytest.raises(ConnectorError, match="no buyer username or item id"):
                await build_writeback(config("ebay"), http=http, environ=ENV).send_buyer_message(
                    orders[0]["orderId"], subject="s", body="b")

    async def test_ebay_says_failure_for_a_refused_token(self):
        orders = ebay_orders()
        shop = EbayShop(orders, token="t0ken")
        shop.trading.always_fail = True
        async with client(shop.app) as http:
            with pytest.raises(ConnectorError, match="ebay: 503 Failure: Service temporarily unavailable"):
                await build_writeback(config("ebay"), http=http, environ=ENV).send_buyer_message(
                    orders[0]["orderId"], subject="s", body="b")


class TestAmazonStock:
    async def test_patches_the_listings_fulfillment_availability_in_the_marketplace(self):
        shop = AmazonShop([], {}, token="t0ken")
        shop.add_listing("A2SELLER", "MUG/1")
        async with client(shop.app) as http:
            channel = build_writeback(config("amazon", seller_id="A2SELLER", marketplace_ids=["A1F83G8C2ARO7P"]),
                                      http=http, environ=ENV)
            await channel.set_available("MUG/1", 5)
            await channel.set_available("NOT-LISTED", 5)
        first, unknown = shop.stock_recorder.writes("PATCH")
        assert first["path"] == "/listings/2021-08-01/items/A2SELLER/MUG/1"  # sent as MUG%2F1, one segment
        assert first["query"] == {"marketplaceIds": "A1F83G8C2ARO7P"}
        assert first["headers"]["x-amz-access-token"] == "t0ken"
        assert first["json"] == {"productType": "PRODUCT", "patches": [{
            "op": "replace", "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}]}]}
        assert unknown["path"].endswith("/NOT-LISTED") and shop.listings == {("A2SELLER", "MUG/1"): 5}

    async def test_needs_the_seller_id(self):
        async with httpx.AsyncClient() as http:
            with pytest.raises(ConnectorError, match="option seller_id"):
                await build_writeback(config("amazon"), http=http, environ=ENV).set_available("MUG-1", 1)

    async def test_an_invalid_submission_is_an_error_with_amazons_issues(self):
        shop = AmazonShop([], {}, token="t0ken")
        shop.add_listing("A2SELLER", "MUG-1")
        async with client(shop.app) as http:
            channel = build_writeback(config("amazon", seller_id="A2SELLER", product_type=""), http=http, environ=ENV)
            with pytest.raises(ConnectorError, match="INVALID.*4000001"):
                await channel.set_available("MUG-1", 2)


class TestMagentoStock:
    async def test_reads_the_stock_item_then_puts_qty_and_in_stock(self):
        shop = MagentoShop([], token="t0ken")
        shop.add_stock_item("MUG-1", 77)
        async with client(shop.app) as http:
            channel = build_writeback(config("magento2", store_code="uk"), http=http, environ=ENV)
            await channel.set_available("MUG-1", 0)
            await channel.set_available("UNKNOWN", 3)
        [put] = shop.recorder.writes("PUT")
        assert put["path"] == "/rest/uk/V1/products/MUG-1/stockItems/77"
        assert put["json"] == {"stockItem": {"qty": 0, "is_in_stock": False}}
        assert shop.stock_items["MUG-1"]["qty"] == 0 and shop.stock_items["MUG-1"]["is_in_stock"] is False

    async def test_a_refused_update_has_magentos_message(self):
        shop = MagentoShop([], token="t0ken")
        shop.add_stock_item("MUG-1", 77)
        shop.recorder.always_fail = True
        async with client(shop.app) as http:
            with pytest.raises(ConnectorError, match="magento2: 503"):
                await build_writeback(config("magento2"), http=http, environ=ENV).set_available("MUG-1", 4)


class TestShopifyStock:
    async def test_finds_the_inventory_item_by_sku_and_sets_the_level_at_the_location(self):
        shop = ShopifyShop(token="t0ken")
        shop.add_inventory_item("MUG-1", 808950810, location_id=655441491)
        async with client(shop.app) as http:
            channel = build_writeback(config("shopify", location_id="655441491"), http=http, environ=ENV)
            await channel.set_available("MUG-1", 9)
            await channel.set_available("NOT-IN-SHOP", 9)
        [call] = shop.stock_recorder.writes("POST")
        assert call["path"] == "/admin/api/2025-01/inventory_levels/set.json"
        assert call["headers"]["x-shopify-access-token"] == "t0ken"
        assert call["json"] == {"location_id": 655441491, "inventory_item_id": 808950810, "available": 9}
        assert shop.levels == {(808950810, 655441491): 9}

    async def test_a_wrong_location_is_shopifys_422(self):
        shop = ShopifyShop(token="t0ken")
        shop.add_inventory_item("MUG-1", 808950810, location_id=655441491)
        async with client(shop.app) as http:
            channel = build_writeback(config("shopify", location_id="1"), http=http, environ=ENV)
            with pytest.raises(ConnectorError, match="shopify: 422.*location not found"):
                await channel.set_available("MUG-1", 9)

    async def test_needs_the_location(self):
        async with httpx.AsyncClient() as http:
            with pytest.raises(ConnectorError, match="option location_id"):
                await build_writeback(config("shopify"), http=http, environ=ENV).set_available("MUG-1", 1)


def changed(sku: str, available: int):
    return RecordingBus("inventory").envelope(StockAvailableChanged(
        sku=sku, available=available, previous_available=0, on_hand=available, allocated=0))


class TestCoalescing:
    async def test_a_burst_of_changes_to_one_sku_is_one_command_with_the_latest_value(self):
        events = [changed("MUG-1", n) for n in (9, 8, 7, 6)] + [changed("TEE-L", 3), changed("MUG-1", 5)]
        events.insert(2, RecordingBus("inventory").envelope(StockAllocated(
            order_id=events[0].event_id, sku="MUG-1", requested=1, short=0)))
        bus = RecordingBus("ingest")
        assert await stock_push.forward_events(events, bus=bus) == 2
        assert [(p.sku, p.available) for p in bus.payloads()] == [("TEE-L", 3), ("MUG-1", 5)]
        assert [key for _, key in bus.published] == ["TEE-L", "MUG-1"]

    async def test_an_older_change_sent_again_later_in_the_batch_does_not_hide_the_newer_one(self):
        newer, older = changed("MUG-1", 5), changed("MUG-1", 7)
        older = older.model_copy(update={"occurred_at": newer.occurred_at - timedelta(seconds=3)})
        bus = RecordingBus("ingest")
        await stock_push.forward_events([newer, older], bus=bus)
        assert [(p.sku, p.available) for p in bus.payloads()] == [("MUG-1", 5)]

    async def test_the_same_batch_again_sends_the_same_ids(self):
        events = [changed("MUG-1", n) for n in (2, 1)]
        first, again = RecordingBus("ingest"), RecordingBus("ingest")
        await stock_push.forward_events(events, bus=first)
        await stock_push.forward_events(events, bus=again)
        assert first.event_ids() == again.event_ids()


class TestStandInsRefuseWrongShapes:
    """The stand-ins answer a wrong request the way the channel does, so a connector bug cannot pass unnoticed."""

    async def test_ebay_bulk_update_with_a_negative_quantity_is_a_400_with_an_inventory_error(self):
        shop = EbayShop([], token="t0ken")
        shop.add_inventory_item("MUG-1")
        async with client(shop.app) as http:
            answer = await http.post("/sell/inventory/v1/bulk_update_price_quantity", headers={
                "Authorization": "Bearer t0ken"}, json={"requests": [
                    {"sku": "MUG-1", "shipToLocationAvailability": {"quantity": -1}}]})
        assert answer.status_code == 400 and answer.json()["errors"][0]["errorId"] == 25709

    @pytest.mark.parametrize(("headers", "body", "code"), [
        ({"X-EBAY-API-IAF-TOKEN": "wrong"}, "", "21916984"),
        ({"X-EBAY-API-CALL-NAME": "AddMemberMessageRTQ"}, "", "2"),
        ({}, '<AddMemberMessageAAQToPartnerRequest xmlns="urn:ebay:apis:eBLBaseComponents"><ItemID>1</ItemID>'
             '</AddMemberMessageAAQToPartnerRequest>', "37"),
        ({}, "<not xml", "5"),
    ])
    async def test_the_trading_api_answers_ack_failure_with_its_error_code(self, headers, body, code):
        shop = EbayShop(ebay_orders(), token="t0ken")
        sent = {"X-EBAY-API-CALL-NAME": "AddMemberMessageAAQToPartner", "X-EBAY-API-SITEID": "3",
                "X-EBAY-API-COMPATIBILITY-LEVEL": "1423", "X-EBAY-API-IAF-TOKEN": "t0ken", **headers}
        async with client(shop.app) as http:
            answer = await http.post("/ws/api.dll", headers=sent, content=body.encode())
        assert answer.status_code == 200 and "<Ack>Failure</Ack>" in answer.text
        assert f"<ErrorCode>{code}</ErrorCode>" in answer.text and shop.messages == []

    async def test_magento_stock_item_without_qty_is_a_400(self):
        shop = MagentoShop([], token="t0ken")
        shop.add_stock_item("MUG-1", 77)
        async with client(shop.app) as http:
            answer = await http.put("/rest/default/V1/products/MUG-1/stockItems/77", json={"qty": 3},
                                    headers={"Authorization": "Bearer t0ken"})
        assert answer.status_code == 400 and "is required" in answer.json()["message"]

    async def test_shopify_inventory_level_without_available_is_a_422(self):
        shop = ShopifyShop(token="t0ken")
        shop.add_inventory_item("MUG-1", 1, location_id=2)
        async with client(shop.app) as http:
            answer = await http.post("/admin/api/2025-01/inventory_levels/set.json", json={
                "location_id": 2, "inventory_item_id": 1}, headers={"X-Shopify-Access-Token": "t0ken"})
        assert answer.status_code == 422 and answer.json()["errors"] == {"available": ["is required"]}

    async def test_amazon_patch_without_marketplace_is_a_400(self):
        shop = AmazonShop([], {}, token="t0ken")
        shop.add_listing("S", "MUG-1")
        async with client(shop.app) as http:
            answer = await http.patch("/listings/2021-08-01/items/S/MUG-1", json={},
                                      headers={"x-amz-access-token": "t0ken"})
        assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "InvalidInput"
