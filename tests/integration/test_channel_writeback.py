"""Channel write-back on the real broker and database: orders from stand-in eBay, Amazon, Magento, WooCommerce
and Shopify shops are processed, and each shop receives the shipment and tracking number in its documented
shape; a shop that fails twice ends "channel confirmed", one that always fails ends "failed" with the reason
until staff retry it; the buyer's follow-up email arrives at a real SMTP server."""

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import random
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ingest.standins import serve
from ingest.writeback_standins import UNAVAILABLE, AmazonShop, EbayShop, MagentoShop, ShopifyShop, WooCommerceShop
from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[2] / "services" / "ingest" / "tests" / "data"


def sample(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def shop(system, ops, admin, wait_for, tmp_path, writeback_webhook_secret):
    """Helpers: a credential file, channel configuration, stock, processing, and an order's write-backs."""
    ingest, orders, inventory = system.url("ingest"), system.url("orders"), system.url("inventory")
    run = uuid.uuid4().hex[:6]

    class Helpers:
        def __init__(self) -> None:
            self.run, self.token = run, uuid.uuid4().hex
            self.ref = self.secret("token", self.token)

        def secret(self, name: str, value: str) -> str:
            """A credential kept in a file, as the reference the channel configuration holds."""
            (tmp_path / name).write_text(value)
            return f"file:{tmp_path / name}"

        def sku(self, sku: str) -> str:
            return f"{sku}-{run}"

        async def configure(self, channel_id: str, body: dict) -> None:
            answer = await admin.put(f"{ingest}/channels/{channel_id}-{run}", json={"name": channel_id, **body})
            assert answer.status_code == 200, answer.text

        async def stock(self, *skus: str, delta: int = 10) -> None:
            for sku in skus:
                answer = await ops.post(f"{inventory}/stock/{sku}/adjustments", json={"delta": delta, "reason": "count"})
                assert answer.status_code == 202, answer.text

        async def webhook(self, channel: str, body: dict, headers: dict) -> None:
            raw = json.dumps(body).encode()
            signature = "X-Shopify-Hmac-Sha256" if channel == "shopify" else "X-WC-Webhook-Signature"
            delivery = "X-Shopify-Webhook-Id" if channel == "shopify" else "X-WC-Webhook-Delivery-ID"
            signed = base64.b64encode(hmac.new(writeback_webhook_secret.encode(), raw, hashlib.sha256).digest())
            headers = {**headers, signature: signed.decode(), delivery: str(uuid.uuid4())}
            async with httpx.AsyncClient(timeout=60) as client:
                answer = await client.post(f"{ingest}/webhooks/{channel}/writeback", content=raw, headers=headers)
            assert answer.status_code == 200 and answer.json()["status"] == "published", answer.text

        async def process(self, channel: str, channel_order_id: str) -> str:
            order_id = str(order_id_for(channel, channel_order_id))

            async def allocated():
                answer = await ops.get(f"{orders}/orders/{order_id}")
                return answer.status_code == 200 and answer.json()["stock_allocated"]

            await wait_for(allocated, what=f"{channel} order {channel_order_id} open with its stock")
            answer = await ops.post(f"{orders}/orders/{order_id}/process")
            assert answer.status_code == 200, answer.text
            return order_id

        async def writeback(self, order_id: str, action: str = "ship", state: str | None = None) -> dict:
            async def settled():
                found = (await ops.get(f"{ingest}/writebacks", params={"order_id": order_id})).json()
                mine = [w for w in found if w["action"] == action]
                return mine and (state is None or mine[0]["state"] == state) and mine[0]

            return await wait_for(settled, what=f"the {action} write-back of {order_id} {state or ''}")

    return Helpers()


class TestShipmentReachesEveryChannel:
    async def test_each_shop_gets_the_tracking_number_in_its_documented_shape_then_refund_and_cancel_and_an_email(
        self, system, ops, shop, wait_for, mailbox
    ):
        run = shop.run
        ebay_order = sample("ebay/getOrders.json")["orders"][0] | {"orderId": f"03-{run}-26535"}
        for line in ebay_order["lineItems"]:
            line["sku"] = shop.sku(line["sku"])
        magento_orders = {o["increment_id"]: o for o in sample("magento2/orders-search.json")["items"]}
        magento_order = magento_orders["000000311"] | {"increment_id": f"311-{run}"}
        for item in magento_order["items"]:
            item["sku"] = shop.sku(item["sku"])
        to_cancel = magento_orders["000000318"] | {"increment_id": f"318-{run}"}  # cancelled in Open Orders
        shopify_order = sample("shopify/webhook-orders-create-1021.body.json")
        shopify_order["id"] = random.randint(10**12, 10**13)
        for line in shopify_order["line_items"]:
            line["sku"] = shop.sku(line["sku"])
        woo_order = sample("woocommerce/webhook-order.created-1052.body.json") | {"id": random.randint(10**6, 10**7)}
        for line in woo_order["line_items"]:
            line["sku"] = shop.sku(line["sku"])

        ebay = EbayShop([ebay_order], token=shop.token)
        magento = MagentoShop([magento_order, to_cancel], token=shop.token)
        magento.recorder.fail_next = 2
        woo = WooCommerceShop(key="ck_wb", secret=shop.token)
        shopify = ShopifyShop(token=shop.token, orders={str(shopify_order["id"]): ["7001"]})
        servers = {name: serve(app.app) for name, app in
                   {"ebay": ebay, "magento": magento, "woo": woo, "shopify": shopify}.items()}
        try:
            await shop.stock(*{shop.sku(s) for s in ("CBL-USBC-2M", "CAN-GALV-5L", "RCK-SPICE-WAL", "TT-LAV-PRT",
                                                      "SPR-OLIVE")} | {l["sku"] for l in ebay_order["lineItems"]})
            await shop.configure("ebay", {"kind": "ebay", "account": f"ebay{run}", "url": servers["ebay"].url,
                                          "credentials": {"token": shop.ref}, "interval_seconds": 1,
                                          "options": {"carrier_codes": {"OMS Post": "RoyalMail"}}})
            await shop.configure("web", {"kind": "magento2", "account": f"web{run}", "url": servers["magento"].url,
                                         "credentials": {"token": shop.ref}, "interval_seconds": 1})
            await shop.configure("woo", {"kind": "woocommerce", "account": "writeback", "url": servers["woo"].url,
                                         "credentials": {"consumer_key": shop.secret("ck", "ck_wb"),
                                                         "consumer_secret": shop.ref},
                                         "options": {"poll": False}})
            await shop.configure("shopify", {"kind": "shopify", "account": "writeback", "url": servers["shopify"].url,
                                             "credentials": {"access_token": shop.ref}})
            await shop.webhook("shopify", shopify_order, {"X-Shopify-Topic": "orders/create",
                                                          "X-Shopify-Shop-Domain": "writeback.myshopify.com"})
            await shop.webhook("woocommerce", woo_order, {"X-WC-Webhook-Topic": "order.created",
                                                          "X-WC-Webhook-Resource": "order",
                                                          "X-WC-Webhook-Event": "created"})

            channel_order_ids = {"ebay": ebay_order["orderId"], "magento2": magento_order["increment_id"],
                                 "shopify": str(shopify_order["id"]), "woocommerce": str(woo_order["id"])}
            # The four orders go through at once (each waits for its own stock, process and write-back).
            order_ids = dict(zip(channel_order_ids, await asyncio.gather(
                *(shop.process(channel, cid) for channel, cid in channel_order_ids.items()))))
            done = dict(zip(order_ids, await asyncio.gather(
                *(shop.writeback(order_id, state="confirmed") for order_id in order_ids.values()))))
            assert {w["status"] for w in done.values()} == {"channel confirmed"}
            tracking = {channel: w["tracking_number"] for channel, w in done.items()}

            [fulfilment] = ebay.recorder.writes("POST")
            assert fulfilment["path"] == f"/sell/fulfillment/v1/order/{ebay_order['orderId']}/shipping_fulfillment"
            assert fulfilment["json"]["lineItems"] == [{"lineItemId": l["lineItemId"], "quantity": l["quantity"]}
                                                       for l in ebay_order["lineItems"]]
            assert fulfilment["json"]["shippingCarrierCode"] == "RoyalMail"
            assert fulfilment["json"]["trackingNumber"] == tracking["ebay"]
            assert fulfilment["json"]["shippedDate"].endswith("Z")
            # eBay's follow-up is a buyer message through eBay (Trading AddMemberMessageAAQToPartner), not an email.
            ebay_follow_up = await shop.writeback(order_ids["ebay"], "follow_up", state="confirmed")
            [message] = ebay.messages
            assert ebay_follow_up["via"] == "message" and message["RecipientID"] == ebay_order["buyer"]["username"]
            assert message["ItemID"] == ebay_order["lineItems"][0]["legacyItemId"] and tracking["ebay"] in message["Body"]
            assert ebay.trading.received[-1]["headers"]["x-ebay-api-call-name"] == "AddMemberMessageAAQToPartner"

            # Magento refused twice (503), then took the shipment: three attempts, one shipment.
            assert len(done["magento2"]["attempts"]) == 3 and magento.recorder.refused == 2
            shipment = magento.recorder.writes("POST")[-1]
            assert shipment["path"] == f"/rest/default/V1/order/{magento_order['entity_id']}/ship"
            assert shipment["json"]["tracks"] == [{"track_number": tracking["magento2"], "title": "OMS Post",
                                                   "carrier_code": "custom"}]
            assert shipment["json"]["items"] == [{"order_item_id": 871, "qty": 1}] and magento_order["status"] == "complete"

            assert woo.statuses == {str(woo_order["id"]): "completed"}
            [note] = woo.notes[str(woo_order["id"])]
            assert note["customer_note"] is True and tracking["woocommerce"] in note["note"]

            # A return booked with a refund goes back to WooCommerce; a cancelled order to Magento.
            booked = await ops.post(f"{system.url('orders')}/orders/{order_ids['woocommerce']}/returns", json={
                "lines": [{"line_id": "330", "quantity": 1, "action": "restock"}], "reason_category": "damaged",
                "refund": "5.00"})
            assert booked.status_code == 201, booked.text
            cancel_id = str(order_id_for("magento2", to_cancel["increment_id"]))

            async def opened():
                return (await ops.get(f"{system.url('orders')}/orders/{cancel_id}")).status_code == 200

            await wait_for(opened, what="the Magento order to cancel in Open Orders")
            cancelled = await ops.post(f"{system.url('orders')}/orders/{cancel_id}/cancel", json={"reason": "buyer asked"})
            assert cancelled.status_code == 200, cancelled.text
            refund = await shop.writeback(order_ids["woocommerce"], "refund", state="confirmed")
            assert woo.refunds[str(woo_order["id"])] == [{"id": 1, "amount": "5.00", "reason": "damaged"}]
            assert Decimal(refund["refund"]) == Decimal("5.00")
            await shop.writeback(cancel_id, "cancel", state="confirmed")
            assert magento.recorder.writes("POST")[-1]["path"] == f"/rest/default/V1/orders/{to_cancel['entity_id']}/cancel"
            assert to_cancel["status"] == "canceled"

            [fulfilled] = shopify.fulfillments
            assert fulfilled["trackingInfo"]["number"] == tracking["shopify"]
            assert fulfilled["trackingInfo"]["company"] == "OMS Post" and fulfilled["notifyCustomer"] is True

            # The buyer's follow-up email: the order number and the tracking link.
            shopify_mail = await shop.writeback(order_ids["shopify"], "follow_up", state="confirmed")

            async def arrived():
                return [m for m in mailbox.messages if tracking["shopify"] in m.get_content()]

            [mail] = await wait_for(arrived, what="the follow-up email")
            assert mail["To"] == shopify_order["email"] and "#1021" in mail["Subject"]
            assert f"/{tracking['shopify']}" in mail.get_content() and shopify_mail["status"] == "channel confirmed"
        finally:
            for server in servers.values():
                server.stop()


class TestFailingChannel:
    async def test_a_shop_that_always_fails_ends_failed_with_the_reason_and_a_retry_confirms_it(
        self, system, ops, shop, wait_for
    ):
        order = sample("amazon/getOrders.json")["payload"]["Orders"][0] | {"AmazonOrderId": f"202-{shop.run}-5561023"}
        items = copy.deepcopy(sample("amazon/getOrderItems.202-4829173-5561023.json")["payload"]["OrderItems"])
        for item in items:
            item["SellerSKU"] = shop.sku(item["SellerSKU"])
        amazon = AmazonShop([order], {order["AmazonOrderId"]: items}, token=shop.token)
        amazon.recorder.always_fail = True
        server = serve(amazon.app)
        try:
            await shop.stock(*{item["SellerSKU"] for item in items})
            await shop.configure("amz", {"kind": "amazon", "account": f"amz{shop.run}", "url": server.url,
                                         "credentials": {"access_token": shop.ref}, "interval_seconds": 3600,
                                         "options": {"start": "2026-11-01T00:00:00Z",
                                                     "marketplace_ids": ["A1F83G8C2ARO7P"]}})
            order_id = await shop.process("amazon", order["AmazonOrderId"])
            failed = await shop.writeback(order_id, state="failed")
            assert failed["status"].startswith("failed: amazon: 503") and UNAVAILABLE in failed["status"]
            assert len(failed["attempts"]) == 3 and amazon.recorder.refused == 3
            # It is in ingest's listing of failed write-backs across orders (the console grid's badge), page by page.
            listed, after = set(), None
            while True:
                params = {"state": "failed", "limit": 100, **({"after": after} if after else {})}
                page = (await ops.get(f"{system.url('ingest')}/writebacks", params=params)).json()
                assert all(wb["state"] == "failed" for wb in page)
                listed |= {wb["writeback_id"] for wb in page}
                if len(page) < 100:
                    break
                after = page[-1]["writeback_id"]
            assert failed["writeback_id"] in listed

            amazon.recorder.always_fail = False
            retried = await ops.post(f"{system.url('ingest')}/writebacks/{failed['writeback_id']}/retry")
            assert retried.status_code in (200, 202), retried.text
            confirmed = await shop.writeback(order_id, state="confirmed")
            assert len(confirmed["attempts"]) == 4
            confirmation = amazon.recorder.writes("POST")[-1]
            assert confirmation["path"] == f"/orders/v0/orders/{order['AmazonOrderId']}/shipmentConfirmation"
            package = confirmation["json"]["packageDetail"]
            assert confirmation["json"]["marketplaceId"] == "A1F83G8C2ARO7P"
            assert package["trackingNumber"] == confirmed["tracking_number"] and package["carrierName"] == "OMS Post"
            assert package["orderItems"] == [{"orderItemId": i["OrderItemId"], "quantity": i["QuantityOrdered"]}
                                             for i in items]
            again = await ops.post(f"{system.url('ingest')}/writebacks/{failed['writeback_id']}/retry")
            assert again.status_code == 409
        finally:
            server.stop()


class TestStockPush:
    async def test_a_burst_of_stock_changes_reaches_the_shop_debounced_with_the_latest_level(
        self, system, ops, shop, wait_for
    ):
        woo = WooCommerceShop(key="ck_stock", secret=shop.token)
        sku = shop.sku("STOCK-MUG")
        woo.add_product(sku, 4101)
        server = serve(woo.app)
        channel = {"kind": "woocommerce", "account": f"stock{shop.run}", "url": server.url,
                   "credentials": {"consumer_key": shop.secret("ck-stock", "ck_stock"), "consumer_secret": shop.ref},
                   "options": {"poll": False, "push_stock": True}}
        try:
            await shop.configure("woostock", channel)
            for delta in (7, 3, 2):
                await shop.stock(sku, delta=delta)

            async def level():
                return woo.products[sku]["stock_quantity"] == 12

            await wait_for(level, what=f"{sku} at 12 in the shop")
            puts = [r for r in woo.recorder.writes("PUT") if r["path"] == "/wp-json/wc/v3/products/4101"]
            assert puts[-1]["json"] == {"manage_stock": True, "stock_quantity": 12}
            assert len(puts) < 3, "three changes in a burst are not three pushes"
            push = (await ops.get(f"{system.url('ingest')}/stock-pushes/{sku}")).json()
            assert push["state"] == "pushed" and push["channels"][f"woostock-{shop.run}"]["available"] == 12
        finally:
            # Later tests' stock changes are not for this stand-in, which stops now.
            await shop.configure("woostock", {**channel, "options": {"poll": False}})
            server.stop()
