"""Each channel's write-back against its stand-in: the documented request shape, and a repeated call that
does not ship twice."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ingest.connectors.base import ConnectorError, RefundNotice, ShipmentNotice
from ingest.connectors.registry import CAPABILITIES, WRITEBACKS, build_writeback, polled
from ingest.domain.channels import ChannelConfig
from ingest.writeback_standins import AmazonShop, EbayShop, MagentoShop, ShopifyShop, WooCommerceShop

DATA = Path(__file__).parents[1] / "data"
SHIPPED = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


def load(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin")


def config(kind: str, **options) -> ChannelConfig:
    return ChannelConfig(channel_id=f"{kind}-1", name=kind, kind=kind, account="main", url="http://standin",
                         credentials={"token": "env:TOKEN", "access_token": "env:TOKEN",
                                      "consumer_key": "env:KEY", "consumer_secret": "env:SECRET"},
                         options=options)


ENV = {"TOKEN": "t0ken", "KEY": "ck_1", "SECRET": "cs_1"}


def notice(order_id: str, lines: dict[str, int], **kw) -> ShipmentNotice:
    return ShipmentNotice(channel_order_id=order_id, carrier="Royal Mail", tracking_number="OM123456785GB",
                          shipped_at=SHIPPED, line_ids=list(lines), quantities=lines, **kw)


class TestEbay:
    async def test_ships_each_line_with_carrier_code_and_tracking_once(self):
        shop = EbayShop(load("ebay/getOrders.json")["orders"], token="t0ken")
        async with client(shop.app) as http:
            channel = build_writeback(config("ebay", carrier_codes={"Royal Mail": "RoyalMail"}), http=http, environ=ENV)
            for _ in range(2):
                await channel.confirm_shipment(notice("05-27182-81828", {"10071234567102": 2, "10071234567103": 1}))
        [call] = shop.recorder.writes("POST")
        assert call["path"] == "/sell/fulfillment/v1/order/05-27182-81828/shipping_fulfillment"
        assert call["json"] == {
            "lineItems": [{"lineItemId": "10071234567102", "quantity": 2}, {"lineItemId": "10071234567103", "quantity": 1}],
            "shippedDate": "2026-11-28T15:30:00.000Z", "shippingCarrierCode": "RoyalMail",
            "trackingNumber": "OM123456785GB"}

    async def test_a_refusal_is_a_connector_error_with_the_channels_reason(self):
        shop = EbayShop([], token="t0ken")
        shop.recorder.always_fail = True
        async with client(shop.app) as http:
            channel = build_writeback(config("ebay"), http=http, environ=ENV)
            with pytest.raises(ConnectorError, match="503 Service Unavailable.*stand-in told to fail"):
                await channel.confirm_shipment(notice("1", {"1": 1}))

    async def test_cannot_cancel(self):
        async with httpx.AsyncClient() as http:
            channel = build_writeback(config("ebay"), http=http, environ=ENV)
            with pytest.raises(NotImplementedError):
                await channel.cancel_order("1", "buyer asked")


class TestAmazon:
    async def test_confirms_one_package_with_its_items(self):
        shop = AmazonShop([], {}, token="t0ken")
        async with client(shop.app) as http:
            channel = build_writeback(config("amazon", marketplace_ids=["A1F83G8C2ARO7P"]), http=http, environ=ENV)
            await channel.confirm_shipment(notice("203-7061158-2219046", {"48213577094410": 2}, service="Standard",
                                                  package_ref="7"))
        [call] = shop.recorder.writes("POST")
        assert call["path"] == "/orders/v0/orders/203-7061158-2219046/shipmentConfirmation"
        assert call["json"] == {"marketplaceId": "A1F83G8C2ARO7P", "packageDetail": {
            "packageReferenceId": "7", "carrierCode": "Other", "carrierName": "Royal Mail", "shippingMethod": "Standard",
            "trackingNumber": "OM123456785GB", "shipDate": "2026-11-28T15:30:00Z",
            "orderItems": [{"orderItemId": "48213577094410", "quantity": 2}]}}


class TestMagento:
    async def test_ships_by_entity_id_with_a_track_and_not_again_once_complete(self):
        orders = load("magento2/orders-search.json")["items"]
        shop = MagentoShop(orders, token="t0ken")
        order = next(o for o in orders if o["increment_id"] == "000000311")
        async with client(shop.app) as http:
            channel = build_writeback(config("magento2"), http=http, environ=ENV)
            for _ in range(2):
                await channel.confirm_shipment(notice("000000311", {"871": 1}))
        [call] = shop.recorder.writes("POST")
        assert call["path"] == f"/rest/default/V1/order/{order['entity_id']}/ship"
        assert call["json"] == {"items": [{"order_item_id": 871, "qty": 1}], "notify": True,
                                "tracks": [{"track_number": "OM123456785GB", "title": "Royal Mail",
                                            "carrier_code": "custom"}]}

    async def test_cancels_by_entity_id(self):
        orders = load("magento2/orders-search.json")["items"]
        shop = MagentoShop(orders, token="t0ken")
        async with client(shop.app) as http:
            await build_writeback(config("magento2"), http=http, environ=ENV).cancel_order("000000318", "buyer")
        assert [c["path"] for c in shop.recorder.writes("POST")] == ["/rest/default/V1/orders/318/cancel"]

    async def test_an_unknown_order_says_so(self):
        shop = MagentoShop([], token="t0ken")
        async with client(shop.app) as http:
            with pytest.raises(ConnectorError, match="order 42 not found"):
                await build_writeback(config("magento2"), http=http, environ=ENV).confirm_shipment(notice("42", {}))


class TestWooCommerce:
    async def test_completes_the_order_and_adds_one_customer_note_with_the_tracking(self):
        shop = WooCommerceShop(key="ck_1", secret="cs_1")
        async with client(shop.app) as http:
            channel = build_writeback(config("woocommerce"), http=http, environ=ENV)
            for _ in range(2):
                await channel.confirm_shipment(notice("1052", {"330": 2}, tracking_url="https://t.example/OM1"))
        assert shop.statuses == {"1052": "completed"}
        assert [r["json"] for r in shop.recorder.writes("PUT")] == [{"status": "completed"}] * 2
        [note] = shop.recorder.writes("POST")
        assert note["path"] == "/wp-json/wc/v3/orders/1052/notes"
        assert note["json"] == {"note": "Shipped with Royal Mail, tracking number OM123456785GB: https://t.example/OM1",
                                "customer_note": True}

    async def test_refund_and_cancel(self):
        shop = WooCommerceShop(key="ck_1", secret="cs_1")
        async with client(shop.app) as http:
            channel = build_writeback(config("woocommerce"), http=http, environ=ENV)
            await channel.refund(RefundNotice(channel_order_id="1052", amount=Decimal("12.50"), currency="EUR",
                                              reason="damaged"))
            await channel.cancel_order("1047", "buyer asked")
        assert shop.refunds["1052"][0] | {"id": 1} == {"id": 1, "amount": "12.50", "reason": "damaged"}
        assert shop.statuses == {"1047": "cancelled"}

    async def test_wrong_credentials_are_named(self):
        shop = WooCommerceShop(key="ck_1", secret="other")
        async with client(shop.app) as http:
            with pytest.raises(ConnectorError, match="credentials refused"):
                await build_writeback(config("woocommerce"), http=http, environ=ENV).cancel_order("1", "x")


class TestShopify:
    async def test_fulfils_the_open_fulfilment_orders_with_tracking_once(self):
        shop = ShopifyShop(token="t0ken", orders={"6021448801339": ["111", "112"]})
        async with client(shop.app) as http:
            channel = build_writeback(config("shopify"), http=http, environ=ENV)
            for _ in range(2):
                await channel.confirm_shipment(notice("6021448801339", {}, tracking_url="https://t.example/OM1"))
        [call] = shop.recorder.writes("POST")
        variables = call["json"]["variables"]["fulfillment"]
        assert variables == {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/111"},
                                            {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/112"}],
            "trackingInfo": {"company": "Royal Mail", "number": "OM123456785GB", "url": "https://t.example/OM1"},
            "notifyCustomer": True}
        assert "fulfillmentCreate" in call["json"]["query"] and len(shop.fulfillments) == 1


class TestRegistry:
    def test_every_write_back_kind_has_capabilities(self):
        assert set(WRITEBACKS) <= set(CAPABILITIES)
        assert all(CAPABILITIES[kind].ship for kind in WRITEBACKS)

    def test_a_webhook_only_channel_is_not_polled(self):
        assert not polled(config("shopify", poll=False))
        assert not polled(config("woocommerce", poll=False))
        assert polled(config("shopify")) and polled(config("ebay")) and polled(config("fakeshop"))

    async def test_a_missing_credential_is_named(self):
        bare = ChannelConfig(channel_id="s", name="s", kind="shopify", account="a", url="http://x")
        async with httpx.AsyncClient() as http:
            with pytest.raises(ConnectorError, match="access_token"):
                build_writeback(bare, http=http, environ={})
