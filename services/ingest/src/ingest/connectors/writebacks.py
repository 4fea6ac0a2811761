"""Write-back to the REST channels: shipped + carrier + tracking (and cancel, refund where the channel allows),
each the way the channel documents it (shared/channels/README.md, "Push-back").

Every call is safe to repeat, because a write-back is retried until the channel confirms it:
- eBay `createShippingFulfillment` would add a second fulfilment, so the existing ones are read first
  (`GET …/shipping_fulfillment`) and a tracking number already there is not sent again;
- Amazon `confirmShipment` re-sent with the same `packageReferenceId` (one per OMS order) edits that package;
- Magento ships by `entity_id` (looked up from the increment id we know); an order already `complete` is done;
- WooCommerce: status `completed` is idempotent, and the tracking note is added only if no note has it yet;
- Shopify: only fulfilment orders still open are fulfilled; none open means it was done already.
Carrier names map to each channel's carrier codes through the channel option `carrier_codes` (name -> code).

Available stock (`set_available(sku, available)`, an absolute value, so repeating it changes nothing; a SKU the
channel does not sell is left alone): eBay `bulk_update_price_quantity`, Amazon Listings Items `PATCH` of
`fulfillment_availability`, Magento `PUT /V1/products/{sku}/stockItems/{itemId}`, WooCommerce `stock_quantity`,
Shopify `inventory_levels/set.json`. Negative (oversold) stock is sent as 0.
"""

import base64
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ingest.connectors.amazon import DEFAULT_MARKETPLACE, amazon_time
from ingest.connectors.amazon import DEFAULT_URL as AMAZON_URL
from ingest.connectors.base import ConnectorError, RefundNotice, ShipmentNotice
from ingest.connectors.ebay import DEFAULT_URL as EBAY_URL
from ingest.connectors.ebay import ebay_time
from ingest.connectors.http import get_json, send_json
from ingest.domain.channels import ChannelConfig

SHOPIFY_API_VERSION = "2025-01"


def _carrier_code(config: ChannelConfig, carrier: str, default: str | None = None) -> str:
    codes = config.options.get("carrier_codes") or {}
    return str(codes.get(carrier) or default or carrier)


def _lines(notice: ShipmentNotice) -> list[tuple[str, int]]:
    return [(line_id, notice.quantities.get(line_id, 1)) for line_id in notice.line_ids]


def _path(sku: str) -> str:
    """A SKU as one URL path segment (SKUs may hold `/`, spaces, `#`)."""
    return quote(sku, safe="")


TRADING_NS = "urn:ebay:apis:eBLBaseComponents"
TRADING_COMPATIBILITY_LEVEL = "1423"


class EbayWriteBack:
    """eBay Sell Fulfillment: `POST /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment` → 201."""

    channel = "ebay"

    def __init__(self, *, http: httpx.AsyncClient, config: ChannelConfig, token: str) -> None:
        self.http, self.config = http, config
        self.base = f"{(config.url or EBAY_URL).rstrip('/')}/sell/fulfillment/v1/order"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """One fulfilment for the package, unless eBay already has one with this tracking number."""
        url = f"{self.base}/{notice.channel_order_id}/shipping_fulfillment"
        existing, _ = await get_json(self.http, url, channel=self.channel, headers=self.headers)
        if any(f.get("shipmentTrackingNumber") == notice.tracking_number
               for f in (existing or {}).get("fulfillments") or []):
            return
        body = {
            "lineItems": [{"lineItemId": line_id, "quantity": qty} for line_id, qty in _lines(notice)],
            "shippedDate": ebay_time(notice.shipped_at),
            "shippingCarrierCode": _carrier_code(self.config, notice.carrier),
            "trackingNumber": notice.tracking_number,
        }
        await send_json(self.http, "POST", url, channel=self.channel, json_body=body, headers=self.headers)

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        raise NotImplementedError("eBay cancellations go through the Post-Order API, which we do not call")

    async def set_available(self, sku: str, available: int) -> None:
        """Sell Inventory `POST /sell/inventory/v1/bulk_update_price_quantity` with the inventory item's
        `shipToLocationAvailability.quantity` (eBay revises its published offers); an unknown SKU (404) is left
        alone. Only listings managed through the Inventory API have inventory items."""
        root = self.base.removesuffix("/sell/fulfillment/v1/order")
        response = await send_json(
            self.http, "POST", f"{root}/sell/inventory/v1/bulk_update_price_quantity", channel=self.channel,
            headers=self.headers, json_body={"requests": [
                {"sku": sku, "shipToLocationAvailability": {"quantity": max(available, 0)}}]})
        for answer in _json(response, self.channel).get("responses") or []:
            status = int(answer.get("statusCode") or 0)
            if status == 404:
                continue
            if status >= 400:
                errors = "; ".join(str(e.get("message", e)) for e in answer.get("errors") or [])
                raise ConnectorError(f"ebay: stock of {sku} refused ({status}: {errors[:300]})")

    async def send_buyer_message(self, channel_order_id: str, *, subject: str, body: str) -> None:
        """Trading API `AddMemberMessageAAQToPartner` (XML, `X-EBAY-API-*` headers, the OAuth user token in
        `X-EBAY-API-IAF-TOKEN`): a message to the buyer's My eBay inbox about the order's first item. The buyer
        (`buyer.username`) and item (`lineItems[].legacyItemId`) are read from `getOrder`; eBay allows it up to
        90 days after the order."""
        order, _ = await get_json(self.http, f"{self.base}/{quote(channel_order_id, safe='')}",
                                  channel=self.channel, headers=self.headers)
        buyer = ((order or {}).get("buyer") or {}).get("username")
        items = [i.get("legacyItemId") for i in (order or {}).get("lineItems") or [] if i.get("legacyItemId")]
        if not buyer or not items:
            raise ConnectorError(f"ebay: order {channel_order_id} has no buyer username or item id to message")
        request = ET.Element("AddMemberMessageAAQToPartnerRequest", xmlns=TRADING_NS)
        ET.SubElement(request, "ItemID").text = str(items[0])
        message = ET.SubElement(request, "MemberMessage")
        ET.SubElement(message, "Subject").text = subject[:80]  # eBay cuts subjects at 80 characters
        ET.SubElement(message, "Body").text = body[:2000]
        ET.SubElement(message, "QuestionType").text = "Shipping"
        ET.SubElement(message, "RecipientID").text = buyer
        headers = {
            "X-EBAY-API-CALL-NAME": "AddMemberMessageAAQToPartner",
            "X-EBAY-API-SITEID": str(self.config.options.get("site_id", 0)),
            "X-EBAY-API-COMPATIBILITY-LEVEL": TRADING_COMPATIBILITY_LEVEL,
            "X-EBAY-API-IAF-TOKEN": self.headers["Authorization"].removeprefix("Bearer "),
            "Content-Type": "text/xml; charset=utf-8",
        }
        url = self.config.options.get("trading_url") or f"{self.base.removesuffix('/sell/fulfillment/v1/order')}/ws/api.dll"
        try:
            response = await self.http.post(url, content=b'<?xml version="1.0" encoding="utf-8"?>'
                                            + ET.tostring(request, encoding="utf-8", xml_declaration=False),
                                            headers=headers)
        except httpx.HTTPError as exc:
            raise ConnectorError(f"ebay: cannot reach {url} ({type(exc).__name__})") from None
        _trading_ack(response)

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError("eBay refunds are not written back")


class AmazonWriteBack:
    """SP-API Orders v0 `confirmShipment`: `POST /orders/v0/orders/{orderId}/shipmentConfirmation` → 204."""

    channel = "amazon"

    def __init__(self, *, http: httpx.AsyncClient, config: ChannelConfig, access_token: str) -> None:
        self.http, self.config = http, config
        self.base = (config.url or AMAZON_URL).rstrip("/")
        self.headers = {"x-amz-access-token": access_token, "Accept": "application/json"}
        marketplaces = config.options.get("marketplace_ids") or [DEFAULT_MARKETPLACE]
        if isinstance(marketplaces, str):
            marketplaces = [m.strip() for m in marketplaces.split(",") if m.strip()]
        self.marketplace_id = marketplaces[0]

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """One package per shipment (`package_ref`): sending it again edits that package instead of adding one,
        and the halves of a split order are two packages."""
        code = _carrier_code(self.config, notice.carrier, default="Other")
        package: dict[str, Any] = {
            "packageReferenceId": notice.package_ref,
            "carrierCode": code,
            "shippingMethod": notice.service or "Standard",
            "trackingNumber": notice.tracking_number,
            "shipDate": amazon_time(notice.shipped_at),
            "orderItems": [{"orderItemId": line_id, "quantity": qty} for line_id, qty in _lines(notice)],
        }
        if code == "Other":
            package["carrierName"] = notice.carrier
        await send_json(self.http, "POST", f"{self.base}/orders/v0/orders/{notice.channel_order_id}/shipmentConfirmation",
                        channel=self.channel, json_body={"marketplaceId": self.marketplace_id, "packageDetail": package},
                        headers=self.headers)

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        raise NotImplementedError("Amazon cancellations go through the Feeds API, which we do not call")

    async def set_available(self, sku: str, available: int) -> None:
        """Listings Items `PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=…` replacing
        `fulfillment_availability` (channel DEFAULT = merchant-fulfilled) with the quantity; option `seller_id`
        (the merchant token) is required. A listing Amazon does not have (404) is left alone."""
        seller_id = self.config.options.get("seller_id")
        if not seller_id:
            raise ConnectorError(f"amazon: channel {self.config.channel_id} needs option seller_id for stock updates")
        body = {"productType": self.config.options.get("product_type", "PRODUCT"), "patches": [{
            "op": "replace", "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": max(available, 0)}]}]}
        response = await send_json(
            self.http, "PATCH", f"{self.base}/listings/2021-08-01/items/{_path(str(seller_id))}/{_path(sku)}",
            channel=self.channel, headers=self.headers, json_body=body,
            params={"marketplaceIds": self.marketplace_id}, missing_ok=True)
        if response.status_code == 404:
            return
        answer = _json(response, self.channel)
        if answer.get("status") != "ACCEPTED":
            issues = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in answer.get("issues") or [])
            raise ConnectorError(f"amazon: stock of {sku} {answer.get('status', 'not accepted')} ({issues[:300]})")

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError("Amazon refunds go through the Feeds API, which we do not call")


class MagentoWriteBack:
    """Magento 2 REST: `POST /rest/{store}/V1/order/{entity_id}/ship` with tracks; `POST …/orders/{id}/cancel`."""

    channel = "magento2"

    def __init__(self, *, http: httpx.AsyncClient, config: ChannelConfig, token: str) -> None:
        if not config.url:
            raise ConnectorError(f"magento2: channel {config.channel_id} has no url")
        self.http, self.config = http, config
        self.base = f"{config.url.rstrip('/')}/rest/{config.options.get('store_code', 'default')}/V1"
        self.headers = {"Authorization": f"Bearer {token}"}

    async def _order(self, increment_id: str) -> dict[str, Any]:
        """The order by its increment id (what we know it by): its entity_id, status and items."""
        group = "searchCriteria[filter_groups][0][filters][0]"
        params = {f"{group}[field]": "increment_id", f"{group}[value]": increment_id,
                  f"{group}[condition_type]": "in", "searchCriteria[pageSize]": "1"}
        data, _ = await get_json(self.http, f"{self.base}/orders", channel=self.channel, params=params,
                                 headers=self.headers)
        items = (data or {}).get("items") or []
        if not items:
            raise ConnectorError(f"magento2: order {increment_id} not found")
        return items[0]

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """A shipment of the lines with its track; nothing to do when Magento already marks the order complete."""
        order = await self._order(notice.channel_order_id)
        if order.get("status") in ("complete", "closed"):
            return
        body = {
            "items": [{"order_item_id": int(line_id) if line_id.isdigit() else line_id, "qty": qty}
                      for line_id, qty in _lines(notice)],
            "notify": True,
            "tracks": [{"track_number": notice.tracking_number, "title": notice.carrier,
                        "carrier_code": _carrier_code(self.config, notice.carrier, default="custom")}],
        }
        await send_json(self.http, "POST", f"{self.base}/order/{order['entity_id']}/ship", channel=self.channel,
                        json_body=body, headers=self.headers)

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        """Cancel the order in Magento (already cancelled: nothing to do)."""
        order = await self._order(channel_order_id)
        if order.get("status") == "canceled":
            return
        await send_json(self.http, "POST", f"{self.base}/orders/{order['entity_id']}/cancel", channel=self.channel,
                        headers=self.headers)

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError("Magento credit memos are not written back")

    async def set_available(self, sku: str, available: int) -> None:
        """CatalogInventory `GET /V1/stockItems/{sku}` for the item id, then `PUT /V1/products/{sku}/stockItems/
        {itemId}` with `stockItem.qty` and `is_in_stock` (the default source; with MSI this is single-source mode,
        multi-source shops would use `POST /V1/inventory/source-items`). A SKU Magento does not have is left alone."""
        item, _ = await get_json(self.http, f"{self.base}/stockItems/{_path(sku)}", channel=self.channel,
                                 headers=self.headers, missing_ok=True)
        if item is None:
            return
        quantity = max(available, 0)
        await send_json(self.http, "PUT", f"{self.base}/products/{_path(sku)}/stockItems/{item['item_id']}",
                        channel=self.channel, headers=self.headers,
                        json_body={"stockItem": {"qty": quantity, "is_in_stock": quantity > 0}})


class WooCommerceWriteBack:
    """WooCommerce REST v3: `PUT /orders/{id}` status completed + a customer note with the tracking; cancel
    (status cancelled); refund (`POST /orders/{id}/refunds`, recorded without moving money unless `api_refund`);
    available stock (`GET /products?sku=`, then `PUT /products/{id}` or its variation with `stock_quantity`)."""

    channel = "woocommerce"

    def __init__(self, *, http: httpx.AsyncClient, config: ChannelConfig, key: str, secret: str) -> None:
        if not config.url:
            raise ConnectorError(f"woocommerce: channel {config.channel_id} has no url")
        self.http, self.config = http, config
        self.root = f"{config.url.rstrip('/')}/wp-json/wc/v3"
        self.base = f"{self.root}/orders"
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        self.headers = {"Authorization": f"Basic {basic}"}

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """Completed, then the tracking note (only if no note carries this tracking number yet)."""
        url = f"{self.base}/{notice.channel_order_id}"
        await send_json(self.http, "PUT", url, channel=self.channel, json_body={"status": "completed"},
                        headers=self.headers)
        notes, _ = await get_json(self.http, f"{url}/notes", channel=self.channel, headers=self.headers)
        if any(notice.tracking_number in str(n.get("note", "")) for n in notes or []):
            return
        text = f"Shipped with {notice.carrier}, tracking number {notice.tracking_number}"
        if notice.tracking_url:
            text += f": {notice.tracking_url}"
        await send_json(self.http, "POST", f"{url}/notes", channel=self.channel,
                        json_body={"note": text, "customer_note": True}, headers=self.headers)

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        """Status cancelled (WooCommerce puts the stock back on its side)."""
        await send_json(self.http, "PUT", f"{self.base}/{channel_order_id}", channel=self.channel,
                        json_body={"status": "cancelled"}, headers=self.headers)

    async def refund(self, notice: RefundNotice) -> None:
        """A refund of `amount` with the reason; `api_refund` (option) also refunds through the payment gateway."""
        url = f"{self.base}/{notice.channel_order_id}/refunds"
        existing, _ = await get_json(self.http, url, channel=self.channel, headers=self.headers)
        if any(r.get("reason") == notice.reason for r in existing or []):
            return
        await send_json(self.http, "POST", url, channel=self.channel, headers=self.headers, json_body={
            "amount": str(notice.amount), "reason": notice.reason,
            "api_refund": bool(self.config.options.get("api_refund", False))})

    async def set_available(self, sku: str, available: int) -> None:
        """The product (or variation) with this SKU gets `stock_quantity` = available (0 when oversold)."""
        found, _ = await get_json(self.http, f"{self.root}/products", channel=self.channel, params={"sku": sku},
                                  headers=self.headers)
        if not found:
            return  # the shop does not sell this SKU: nothing to set
        product = found[0]
        url = (f"{self.root}/products/{product['parent_id']}/variations/{product['id']}" if product.get("parent_id")
               else f"{self.root}/products/{product['id']}")
        await send_json(self.http, "PUT", url, channel=self.channel, headers=self.headers,
                        json_body={"manage_stock": True, "stock_quantity": max(available, 0)})


_FULFILLMENT_ORDERS = """query FulfillmentOrders($id: ID!) {
  order(id: $id) { fulfillmentOrders(first: 20) { nodes { id status } } }
}"""
_FULFILLMENT_CREATE = """mutation FulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) { fulfillment { id status } userErrors { field message } }
}"""


_INVENTORY_ITEM = """query InventoryItemBySku($query: String!) {
  inventoryItems(first: 1, query: $query) { nodes { id legacyResourceId } }
}"""


class ShopifyWriteBack:
    """Shopify GraphQL Admin: read the order's fulfilment orders, then `fulfillmentCreate` with trackingInfo."""

    channel = "shopify"

    def __init__(self, *, http: httpx.AsyncClient, config: ChannelConfig, access_token: str) -> None:
        if not config.url:
            raise ConnectorError(f"shopify: channel {config.channel_id} has no url (https://<shop>.myshopify.com)")
        self.http, self.config = http, config
        version = config.options.get("api_version", SHOPIFY_API_VERSION)
        self.url = f"{config.url.rstrip('/')}/admin/api/{version}/graphql.json"
        self.headers = {"X-Shopify-Access-Token": access_token}

    async def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await send_json(self.http, "POST", self.url, channel=self.channel, headers=self.headers,
                                   json_body={"query": query, "variables": variables})
        try:
            body = response.json()
        except ValueError:
            raise ConnectorError("shopify: the answer is not JSON") from None
        if body.get("errors"):
            raise ConnectorError(f"shopify: {str(body['errors'])[:300]}")
        return body.get("data") or {}

    async def confirm_shipment(self, notice: ShipmentNotice) -> None:
        """Fulfil every open fulfilment order with the tracking; none open means Shopify has it shipped already."""
        data = await self._graphql(_FULFILLMENT_ORDERS, {"id": f"gid://shopify/Order/{notice.channel_order_id}"})
        if data.get("order") is None:
            raise ConnectorError(f"shopify: order {notice.channel_order_id} not found")
        open_ids = [n["id"] for n in data["order"]["fulfillmentOrders"]["nodes"]
                    if n.get("status") in ("OPEN", "IN_PROGRESS")]
        if not open_ids:
            return
        tracking: dict[str, Any] = {"company": notice.carrier, "number": notice.tracking_number}
        if notice.tracking_url:
            tracking["url"] = notice.tracking_url
        data = await self._graphql(_FULFILLMENT_CREATE, {"fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo_id} for fo_id in open_ids],
            "trackingInfo": tracking, "notifyCustomer": True}})
        errors = (data.get("fulfillmentCreate") or {}).get("userErrors") or []
        if errors:
            raise ConnectorError(f"shopify: {'; '.join(e.get('message', '') for e in errors)[:300]}")

    async def cancel_order(self, channel_order_id: str, reason: str) -> None:
        raise NotImplementedError("Shopify cancellations are not written back")

    async def set_available(self, sku: str, available: int) -> None:
        """The SKU's inventory item from GraphQL `inventoryItems(query: "sku:…")`, then REST
        `POST /admin/api/{version}/inventory_levels/set.json` {location_id (option), inventory_item_id, available}.
        A SKU the shop does not have is left alone."""
        location_id = self.config.options.get("location_id")
        if not location_id:
            raise ConnectorError(f"shopify: channel {self.config.channel_id} needs option location_id for stock updates")
        data = await self._graphql(_INVENTORY_ITEM, {"query": f'sku:"{sku}"'})
        nodes = ((data.get("inventoryItems") or {}).get("nodes")) or []
        if not nodes:
            return
        await send_json(self.http, "POST", self.url.replace("/graphql.json", "/inventory_levels/set.json"),
                        channel=self.channel, headers=self.headers, json_body={
                            "location_id": int(location_id), "inventory_item_id": int(nodes[0]["legacyResourceId"]),
                            "available": max(available, 0)})

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError("Shopify refunds are not written back")


def _json(response: httpx.Response, channel: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ConnectorError(f"{channel}: the answer is not JSON ({response.status_code})") from None
    return body if isinstance(body, dict) else {}


def _trading_ack(response: httpx.Response) -> None:
    """A Trading API answer: `Ack` Success or Warning is accepted, anything else is the errors' messages."""
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError:
        raise ConnectorError(f"ebay: {response.status_code}, the Trading API answer is not XML") from None
    ack = root.findtext(f"{{{TRADING_NS}}}Ack") or root.findtext("Ack")
    if response.status_code < 400 and ack in ("Success", "Warning"):
        return
    errors = [e.findtext(f"{{{TRADING_NS}}}LongMessage") or e.findtext(f"{{{TRADING_NS}}}ShortMessage") or ""
              for e in root.iter(f"{{{TRADING_NS}}}Errors")]
    raise ConnectorError(f"ebay: {response.status_code} {ack or 'no Ack'}: {'; '.join(errors)[:300]}")


def _need(config: ChannelConfig, credentials: Mapping[str, str], *names: str) -> list[str]:
    missing = [name for name in names if name not in credentials]
    if missing:
        raise ConnectorError(f"{config.kind}: channel {config.channel_id} needs credential(s) {', '.join(missing)}")
    return [credentials[name] for name in names]


def build_ebay(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> EbayWriteBack:
    """eBay write-back (credential `token`, a user token with the sell.fulfillment scope)."""
    (token,) = _need(config, credentials, "token")
    return EbayWriteBack(http=http, config=config, token=token)


def build_amazon(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> AmazonWriteBack:
    """Amazon write-back (credential `access_token`; option `marketplace_ids`, the first is used)."""
    (token,) = _need(config, credentials, "access_token")
    return AmazonWriteBack(http=http, config=config, access_token=token)


def build_magento(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> MagentoWriteBack:
    """Magento write-back (credential `token`; option `store_code`)."""
    (token,) = _need(config, credentials, "token")
    return MagentoWriteBack(http=http, config=config, token=token)


def build_woocommerce(config: ChannelConfig, credentials: Mapping[str, str],
                      http: httpx.AsyncClient) -> WooCommerceWriteBack:
    """WooCommerce write-back (credentials `consumer_key`, `consumer_secret`, read/write)."""
    key, secret = _need(config, credentials, "consumer_key", "consumer_secret")
    return WooCommerceWriteBack(http=http, config=config, key=key, secret=secret)


def build_shopify(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> ShopifyWriteBack:
    """Shopify write-back (credential `access_token` of an app with write_merchant_managed_fulfillment_orders)."""
    (token,) = _need(config, credentials, "access_token")
    return ShopifyWriteBack(http=http, config=config, access_token=token)
