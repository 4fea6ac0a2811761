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
"""

import base64
from collections.abc import Mapping
from typing import Any

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

    async def refund(self, notice: RefundNotice) -> None:
        raise NotImplementedError("Shopify refunds are not written back")


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
