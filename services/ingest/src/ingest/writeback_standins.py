"""Write-back stand-ins: the channel stand-ins (`ingest.standins`) extended with each channel's documented
write-back endpoints, plus WooCommerce and Shopify shops that take write-backs (their orders come by webhook; the
Shopify one also lists them for the catch-up poll).

Each records what it received (`received`: method, path, query, headers, JSON body or text) and can be told to fail:
`fail_next = n` refuses the next n write calls with 503, `always_fail = True` refuses every one, with the reason in
the body. Available-stock updates and eBay's buyer message are taken in each channel's documented shape and a wrong
shape gets the channel's own kind of error.
"""

import base64
import itertools
import json
import re
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response

from ingest.standin_shopify import ShopifyStandIn
from ingest.standins import AmazonStandIn, EbayStandIn, MagentoStandIn, _unauthorized

UNAVAILABLE = "Service temporarily unavailable (stand-in told to fail)"


class Recorder:
    """What a stand-in received, and the failures it was told to answer with."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.fail_next = 0
        self.always_fail = False
        self.refused = 0

    async def record(self, request: Request) -> dict | None:
        """Keep the request; None when it is to be accepted, else the reason it is refused."""
        raw = await request.body()
        try:
            body, text = (json.loads(raw) if raw else None), None
        except ValueError:
            body, text = None, raw.decode("utf-8", errors="replace")  # XML (eBay Trading), kept as text
        entry = {"method": request.method, "path": request.url.path, "query": dict(request.query_params),
                 "headers": dict(request.headers), "json": body, "text": text}
        self.received.append(entry)
        if self.always_fail or self.fail_next > 0:
            self.fail_next = max(self.fail_next - 1, 0)
            self.refused += 1
            return {"message": UNAVAILABLE}
        return None

    def writes(self, method: str = "POST") -> list[dict]:
        """The recorded requests of one method."""
        return [r for r in self.received if r["method"] == method]


def _unavailable(detail: dict) -> JSONResponse:
    return JSONResponse(status_code=503, content={"errors": [detail]})


class EbayShop(EbayStandIn):
    """eBay getOrders plus `GET|POST /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment`."""

    def __init__(self, orders: list[dict], *, token: str) -> None:
        super().__init__(orders, token=token)
        self.recorder = Recorder()
        self.fulfillments: dict[str, list[dict]] = {}
        self._ids = itertools.count(1)
        path = "/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment"
        self.app.get(path)(self.get_fulfillments)
        self.app.post(path)(self.create_fulfillment)
        # Stock (Sell Inventory) and the buyer message (Trading API), each with its own record of calls.
        self.inventory: dict[str, int | None] = {}  # SKU -> shipToLocationAvailability.quantity
        self.stock_recorder, self.trading = Recorder(), Recorder()
        self.messages: list[dict] = []
        self.app.get("/sell/fulfillment/v1/order/{order_id}")(self.get_order)
        self.app.post("/sell/inventory/v1/bulk_update_price_quantity")(self.bulk_update_price_quantity)
        self.app.post("/ws/api.dll")(self.trading_call)

    async def get_fulfillments(self, order_id: str, authorization: str = Header("")) -> JSONResponse:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("Invalid access token")
        found = self.fulfillments.get(order_id, [])
        return JSONResponse({"fulfillments": found, "total": len(found)})

    async def create_fulfillment(self, order_id: str, request: Request, authorization: str = Header("")) -> Response:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("Invalid access token")
        if (refused := await self.recorder.record(request)) is not None:
            return _unavailable(refused)
        body = self.recorder.received[-1]["json"] or {}
        if bool(body.get("shippingCarrierCode")) != bool(body.get("trackingNumber")) or not body.get("lineItems"):
            return JSONResponse(status_code=400, content={"errors": [
                {"message": "lineItems, and shippingCarrierCode with trackingNumber, are required"}]})
        fulfillment_id = f"{next(self._ids):04d}"
        self.fulfillments.setdefault(order_id, []).append({
            "fulfillmentId": fulfillment_id, "shipmentTrackingNumber": body["trackingNumber"],
            "shippingCarrierCode": body["shippingCarrierCode"], "lineItems": body["lineItems"],
            "shippedDate": body.get("shippedDate")})
        return Response(status_code=201, headers={
            "Location": f"{request.url}/{fulfillment_id}"})

    def add_inventory_item(self, sku: str) -> None:
        """An inventory item (Inventory API listing) the seller has under `sku`."""
        self.inventory[sku] = None

    async def get_order(self, order_id: str, authorization: str = Header("")) -> JSONResponse:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("Invalid access token")
        order = next((o for o in self.orders if o["orderId"] == order_id), None)
        if order is None:
            return JSONResponse(status_code=404, content={"errors": [
                {"errorId": 32100, "domain": "API_FULFILLMENT", "message": "Invalid order ID: " + order_id}]})
        return JSONResponse(order)

    async def bulk_update_price_quantity(self, request: Request, authorization: str = Header("")) -> JSONResponse:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("Invalid access token")
        if (refused := await self.stock_recorder.record(request)) is not None:
            return _unavailable(refused)
        requests = (self.stock_recorder.received[-1]["json"] or {}).get("requests")
        if not isinstance(requests, list) or not 1 <= len(requests) <= 25:
            return JSONResponse(status_code=400, content={"errors": [
                {"errorId": 25709, "domain": "API_INVENTORY", "message": "Invalid value for requests (1 to 25)"}]})
        responses = []
        for item in requests:
            sku = item.get("sku")
            quantity = (item.get("shipToLocationAvailability") or {}).get("quantity")
            if not isinstance(sku, str) or not isinstance(quantity, int) or quantity < 0:
                return JSONResponse(status_code=400, content={"errors": [{
                    "errorId": 25709, "domain": "API_INVENTORY",
                    "message": "Invalid value for sku or shipToLocationAvailability.quantity"}]})
            if sku not in self.inventory:
                responses.append({"statusCode": 404, "sku": sku, "errors": [
                    {"errorId": 25702, "message": f"SKU {sku} is not available in the system"}]})
                continue
            self.inventory[sku] = quantity
            responses.append({"statusCode": 200, "sku": sku, "errors": [], "warnings": []})
        return JSONResponse({"responses": responses})

    async def trading_call(self, request: Request) -> Response:
        """Trading API `AddMemberMessageAAQToPartner` (XML); errors are `Ack` Failure with HTTP 200, as eBay does."""
        headers = request.headers
        if headers.get("x-ebay-api-iaf-token") != self.token:
            return _trading_failure("21916984", "Invalid IAF token.")
        if headers.get("x-ebay-api-call-name") != "AddMemberMessageAAQToPartner":
            return _trading_failure("2", f"Unsupported API call {headers.get('x-ebay-api-call-name')!r}.")
        if not headers.get("x-ebay-api-siteid") or not headers.get("x-ebay-api-compatibility-level"):
            return _trading_failure("10007", "X-EBAY-API-SITEID and X-EBAY-API-COMPATIBILITY-LEVEL are required.")
        if (refused := await self.trading.record(request)) is not None:
            return _trading_failure("10007", refused["message"], status=503)
        try:
            root = ET.fromstring(self.trading.received[-1]["text"] or "")
        except ET.ParseError:
            return _trading_failure("5", "XML Parse error.")
        ns = {"e": TRADING_NS}
        fields = {name: root.findtext(f"e:{name}", namespaces=ns) or root.findtext(f"e:MemberMessage/e:{name}",
                                                                                   namespaces=ns)
                  for name in ("ItemID", "Subject", "Body", "QuestionType", "RecipientID")}
        if root.tag != f"{{{TRADING_NS}}}AddMemberMessageAAQToPartnerRequest" or not all(fields.values()):
            missing = [name for name, value in fields.items() if not value]
            return _trading_failure("37", f"Input data is invalid: {', '.join(missing) or 'request element'}.")
        partners = {(str(line.get("legacyItemId")), (order.get("buyer") or {}).get("username"))
                    for order in self.orders for line in order.get("lineItems") or []}
        if (fields["ItemID"], fields["RecipientID"]) not in partners:
            return _trading_failure("20136", "The recipient is not an order partner for this item.")
        self.messages.append(fields)
        return Response(content=f'<?xml version="1.0" encoding="UTF-8"?><AddMemberMessageAAQToPartnerResponse '
                                f'xmlns="{TRADING_NS}"><Ack>Success</Ack><Version>1423</Version>'
                                f'</AddMemberMessageAAQToPartnerResponse>', media_type="text/xml")


TRADING_NS = "urn:ebay:apis:eBLBaseComponents"


def _trading_failure(code: str, message: str, *, status: int = 200) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?><AddMemberMessageAAQToPartnerResponse xmlns="{TRADING_NS}">'
            f'<Ack>Failure</Ack><Errors><ShortMessage>{escape(message[:50])}</ShortMessage>'
            f'<LongMessage>{escape(message)}</LongMessage>'
            f'<ErrorCode>{code}</ErrorCode><SeverityCode>Error</SeverityCode></Errors>'
            f'</AddMemberMessageAAQToPartnerResponse>')
    return Response(content=body, media_type="text/xml", status_code=status)


class AmazonShop(AmazonStandIn):
    """SP-API Orders plus `POST /orders/v0/orders/{orderId}/shipmentConfirmation` (204)."""

    def __init__(self, orders: list[dict], items: dict[str, list[dict]], *, token: str, **kwargs) -> None:
        super().__init__(orders, items, token=token, **kwargs)
        self.recorder = Recorder()
        self.app.post("/orders/v0/orders/{order_id}/shipmentConfirmation")(self.confirm_shipment)
        self.listings: dict[tuple[str, str], int | None] = {}  # (seller id, SKU) -> DEFAULT channel quantity
        self.stock_recorder = Recorder()
        self.app.patch("/listings/2021-08-01/items/{seller_id}/{sku:path}")(self.patch_listing)  # SKUs may hold `/`

    def add_listing(self, seller_id: str, sku: str) -> None:
        """A listing the seller has under `sku`."""
        self.listings[(seller_id, sku)] = None

    async def patch_listing(self, seller_id: str, sku: str, request: Request,
                            x_amz_access_token: str = Header("")) -> JSONResponse:
        """Listings Items `patchListingsItem`: the `fulfillment_availability` quantity (replace or merge)."""
        if x_amz_access_token != self.token:
            return JSONResponse(status_code=403, content={"errors": [
                {"code": "Unauthorized", "message": "Access to requested resource is denied."}]})
        if (refused := await self.stock_recorder.record(request)) is not None:
            return _unavailable({"code": "ServiceUnavailable", **refused})
        if not request.query_params.get("marketplaceIds"):
            return JSONResponse(status_code=400, content={"errors": [
                {"code": "InvalidInput", "message": "marketplaceIds is required"}]})
        if (seller_id, sku) not in self.listings:
            return JSONResponse(status_code=404, content={"errors": [
                {"code": "NOT_FOUND", "message": f"SKU {sku} not found for seller {seller_id}"}]})
        body = self.stock_recorder.received[-1]["json"] or {}
        patches = body.get("patches") or []
        value = (patches[0].get("value") or [{}])[0] if patches and isinstance(patches[0].get("value"), list) else {}
        if (not body.get("productType") or len(patches) != 1 or patches[0].get("op") not in ("replace", "merge")
                or patches[0].get("path") != "/attributes/fulfillment_availability"
                or not value.get("fulfillment_channel_code") or not isinstance(value.get("quantity"), int)
                or value["quantity"] < 0):
            return JSONResponse({"sku": sku, "status": "INVALID", "submissionId": uuid.uuid4().hex, "issues": [{
                "code": "4000001", "severity": "ERROR", "attributeNames": ["fulfillment_availability"],
                "message": "productType and one patch of /attributes/fulfillment_availability "
                           "[{fulfillment_channel_code, quantity >= 0}] are required"}]})
        self.listings[(seller_id, sku)] = value["quantity"]
        return JSONResponse({"sku": sku, "status": "ACCEPTED", "submissionId": uuid.uuid4().hex, "issues": []})

    async def confirm_shipment(self, order_id: str, request: Request, x_amz_access_token: str = Header("")) -> Response:
        if x_amz_access_token != self.token:
            return JSONResponse(status_code=403, content={"errors": [{"code": "Unauthorized"}]})
        if (refused := await self.recorder.record(request)) is not None:
            return _unavailable({"code": "ServiceUnavailable", **refused})
        body = self.recorder.received[-1]["json"] or {}
        package = body.get("packageDetail") or {}
        missing = [k for k in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems")
                   if not package.get(k)]
        if not body.get("marketplaceId") or missing:
            return JSONResponse(status_code=400, content={"errors": [
                {"code": "InvalidInput", "message": f"missing {', '.join(missing) or 'marketplaceId'}"}]})
        return Response(status_code=204)


class MagentoShop(MagentoStandIn):
    """Magento orders search plus `POST /rest/{store}/V1/order/{entity_id}/ship` and `…/V1/orders/{id}/cancel`."""

    def __init__(self, orders: list[dict], *, token: str) -> None:
        super().__init__(orders, token=token)
        self.recorder = Recorder()
        self._ids = itertools.count(100)
        self.app.post("/rest/{store}/V1/order/{entity_id}/ship")(self.ship)
        self.app.post("/rest/{store}/V1/orders/{entity_id}/cancel")(self.cancel)
        self.stock_items: dict[str, dict] = {}  # SKU -> the catalog inventory stock item
        self.app.get("/rest/{store}/V1/stockItems/{sku}")(self.get_stock_item)
        self.app.put("/rest/{store}/V1/products/{sku}/stockItems/{item_id}")(self.update_stock_item)

    def add_stock_item(self, sku: str, item_id: int) -> None:
        """A product with its default-source stock item."""
        self.stock_items[sku] = {"item_id": item_id, "product_id": item_id, "stock_id": 1, "qty": None,
                                 "is_in_stock": False}

    async def get_stock_item(self, store: str, sku: str, authorization: str = Header("")) -> JSONResponse:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("The consumer isn't authorized to access %resources.")
        item = self.stock_items.get(sku)
        if item is None:
            return JSONResponse(status_code=404, content={
                "message": "The Product with the \"%1\" SKU doesn't exist.", "parameters": [sku]})
        return JSONResponse(item)

    async def update_stock_item(self, store: str, sku: str, item_id: int, request: Request,
                                authorization: str = Header("")) -> JSONResponse:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("The consumer isn't authorized to access %resources.")
        if (refused := await self.recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content=refused)
        item = self.stock_items.get(sku)
        if item is None:
            return JSONResponse(status_code=404, content={
                "message": "The Product with the \"%1\" SKU doesn't exist.", "parameters": [sku]})
        stock = (self.recorder.received[-1]["json"] or {}).get("stockItem")
        if not isinstance(stock, dict) or not isinstance(stock.get("qty"), int | float) or stock["qty"] < 0:
            return JSONResponse(status_code=400, content={
                "message": "\"%fieldName\" is required. Enter and try again.", "parameters": {"fieldName": "qty"}})
        if item_id != item["item_id"]:
            return JSONResponse(status_code=400, content={"message": "The stock item was unable to be saved. "
                                                                     "Please try again."})
        item["qty"], item["is_in_stock"] = stock["qty"], bool(stock.get("is_in_stock", stock["qty"] > 0))
        return JSONResponse(item["item_id"])

    def _order(self, entity_id: str) -> dict | None:
        return next((o for o in self.orders if str(o["entity_id"]) == entity_id), None)

    async def ship(self, store: str, entity_id: str, request: Request, authorization: str = Header("")) -> Response:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("The consumer isn't authorized to access %resources.")
        if (refused := await self.recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content=refused)
        order = self._order(entity_id)
        if order is None:
            return JSONResponse(status_code=404, content={"message": "The entity that was requested doesn't exist."})
        if order["status"] == "complete":
            return JSONResponse(status_code=400, content={
                "message": "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created."})
        order["status"], order["state"] = "complete", "complete"
        return JSONResponse(next(self._ids))

    async def cancel(self, store: str, entity_id: str, request: Request, authorization: str = Header("")) -> Response:
        if authorization != f"Bearer {self.token}":
            return _unauthorized("The consumer isn't authorized to access %resources.")
        if (refused := await self.recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content=refused)
        order = self._order(entity_id)
        if order is None:
            return JSONResponse(status_code=404, content={"message": "The entity that was requested doesn't exist."})
        order["status"], order["state"] = "canceled", "canceled"
        return JSONResponse(True)


class WooCommerceShop:
    """WooCommerce REST v3 write-back: `PUT /wp-json/wc/v3/orders/{id}`, `GET|POST …/{id}/notes`,
    `GET|POST …/{id}/refunds`, `GET /products?sku=`, `PUT /products/{id}` (and variations), with HTTP Basic
    consumer key/secret."""

    def __init__(self, *, key: str, secret: str) -> None:
        self.key, self.secret = key, secret
        self.recorder = Recorder()
        self.statuses: dict[str, str] = {}
        self.notes: dict[str, list[dict]] = {}
        self.refunds: dict[str, list[dict]] = {}
        self.app = FastAPI()
        base = "/wp-json/wc/v3/orders/{order_id}"
        self.app.put(base)(self.update_order)
        self.app.get(f"{base}/notes")(self.list_notes)
        self.app.post(f"{base}/notes")(self.add_note)
        self.app.get(f"{base}/refunds")(self.list_refunds)
        self.app.post(f"{base}/refunds")(self.add_refund)
        self.products: dict[str, dict] = {}  # by SKU: {"id", "parent_id", "stock_quantity"}
        self.app.get("/wp-json/wc/v3/products")(self.find_products)
        self.app.put("/wp-json/wc/v3/products/{product_id}")(self.update_product)
        self.app.put("/wp-json/wc/v3/products/{parent_id}/variations/{product_id}")(self.update_product)

    def add_product(self, sku: str, product_id: int, *, parent_id: int = 0) -> None:
        """A product (or, with `parent_id`, a variation) the shop sells under `sku`."""
        self.products[sku] = {"id": product_id, "parent_id": parent_id, "sku": sku, "stock_quantity": None}

    async def find_products(self, request: Request, authorization: str = Header("")) -> JSONResponse:
        if (refused := self._refused(authorization)) is not None:
            return refused
        found = self.products.get(request.query_params.get("sku", ""))
        return JSONResponse([found] if found else [])

    async def update_product(self, product_id: int, request: Request, authorization: str = Header(""),
                             parent_id: int = 0) -> JSONResponse:
        if (refused := self._refused(authorization)) is not None:
            return refused
        if (failure := await self.recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content={"code": "unavailable", **failure})
        product = next((p for p in self.products.values() if p["id"] == product_id), None)
        if product is None or product["parent_id"] != parent_id:
            return JSONResponse(status_code=404, content={"code": "woocommerce_rest_product_invalid_id",
                                                          "message": "Invalid ID."})
        body = self.recorder.received[-1]["json"] or {}
        product["stock_quantity"] = body.get("stock_quantity")
        return JSONResponse(product)

    def _refused(self, authorization: str) -> JSONResponse | None:
        expected = base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return JSONResponse(status_code=401, content={"code": "woocommerce_rest_cannot_edit",
                                                          "message": "Sorry, you are not allowed to edit this resource."})
        return None

    async def update_order(self, order_id: str, request: Request, authorization: str = Header("")) -> JSONResponse:
        if (refused := self._refused(authorization)) is not None:
            return refused
        if (failure := await self.recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content={"code": "unavailable", **failure})
        self.statuses[order_id] = (self.recorder.received[-1]["json"] or {}).get("status", "")
        return JSONResponse({"id": int(order_id), "status": self.statuses[order_id]})

    async def list_notes(self, order_id: str, authorization: str = Header("")) -> JSONResponse:
        return self._refused(authorization) or JSONResponse(self.notes.get(order_id, []))

    async def add_note(self, order_id: str, request: Request, authorization: str = Header("")) -> JSONResponse:
        if (refused := self._refused(authorization)) is not None:
            return refused
        if (failure := await self.recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content={"code": "unavailable", **failure})
        body = self.recorder.received[-1]["json"] or {}
        note = {"id": len(self.notes.get(order_id, [])) + 1, "note": body.get("note"),
                "customer_note": bool(body.get("customer_note"))}
        self.notes.setdefault(order_id, []).append(note)
        return JSONResponse(note, status_code=201)

    async def list_refunds(self, order_id: str, authorization: str = Header("")) -> JSONResponse:
        return self._refused(authorization) or JSONResponse(self.refunds.get(order_id, []))

    async def add_refund(self, order_id: str, request: Request, authorization: str = Header("")) -> JSONResponse:
        if (refused := self._refused(authorization)) is not None:
            return refused
        if (failure := await self.recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content={"code": "unavailable", **failure})
        body = self.recorder.received[-1]["json"] or {}
        refund = {"id": len(self.refunds.get(order_id, [])) + 1, "amount": body.get("amount"),
                  "reason": body.get("reason")}
        self.refunds.setdefault(order_id, []).append(refund)
        return JSONResponse(refund, status_code=201)


class ShopifyShop(ShopifyStandIn):
    """Shopify GraphQL Admin (`POST /admin/api/{version}/graphql.json`): the `order { fulfillmentOrders }` query
    and the `fulfillmentCreate` mutation; `orders` maps an order id to its fulfilment orders' ids. `listed` are the
    shop's orders (REST Order JSON) its `orders.json` lists (`ShopifyStandIn`)."""

    def __init__(self, *, token: str, orders: dict[str, list[str]] | None = None,
                 listed: list[dict] | None = None) -> None:
        super().__init__(listed, token=token)  # the orders listing, and self.app
        self.recorder = Recorder()
        self.fulfillment_orders: dict[str, dict] = {}  # gid -> {"id", "status", "order_id"}
        self.fulfillments: list[dict] = []
        self.app.post("/admin/api/{version}/graphql.json")(self.graphql)
        for order_id, fo_ids in (orders or {}).items():
            self.add_order(order_id, fo_ids)
        # Stock: inventory items by SKU (GraphQL `inventoryItems`), levels set by REST `inventory_levels/set.json`.
        self.inventory_items: dict[str, int] = {}  # SKU -> inventory item id
        self.locations: set[int] = set()
        self.levels: dict[tuple[int, int], int] = {}  # (inventory item id, location id) -> available
        self.stock_recorder = Recorder()
        self.app.post("/admin/api/{version}/inventory_levels/set.json")(self.set_inventory_level)

    def add_inventory_item(self, sku: str, inventory_item_id: int, *, location_id: int) -> None:
        """A variant's inventory item under `sku`, stocked at `location_id`."""
        self.inventory_items[sku] = inventory_item_id
        self.locations.add(location_id)

    def _inventory_items(self, variables: dict) -> JSONResponse:
        found = re.fullmatch(r'sku:"(.*)"', str(variables.get("query", "")))
        item_id = self.inventory_items.get(found.group(1)) if found else None
        nodes = [] if item_id is None else [{"id": f"gid://shopify/InventoryItem/{item_id}",
                                             "legacyResourceId": str(item_id)}]
        return JSONResponse({"data": {"inventoryItems": {"nodes": nodes}}})

    async def set_inventory_level(self, version: str, request: Request,
                                  x_shopify_access_token: str = Header("")) -> JSONResponse:
        if x_shopify_access_token != self.token:
            return JSONResponse(status_code=401, content={"errors": "[API] Invalid API key or access token"})
        if (failure := await self.stock_recorder.record(request)) is not None:
            return JSONResponse(status_code=503, content={"errors": failure["message"]})
        body = self.stock_recorder.received[-1]["json"] or {}
        fields = {name: body.get(name) for name in ("location_id", "inventory_item_id", "available")}
        wrong = [name for name, value in fields.items() if not isinstance(value, int)]
        if wrong:
            return JSONResponse(status_code=422, content={"errors": {name: ["is required"] for name in wrong}})
        if fields["location_id"] not in self.locations or fields["inventory_item_id"] not in self.inventory_items.values():
            return JSONResponse(status_code=422, content={"errors": [
                "Inventory item does not have inventory tracking enabled or location not found"]})
        self.levels[(fields["inventory_item_id"], fields["location_id"])] = fields["available"]
        return JSONResponse({"inventory_level": {**fields, "updated_at": "2026-11-29T10:00:00Z",
                                                 "admin_graphql_api_id": f"gid://shopify/InventoryLevel/"
                                                                         f"{fields['inventory_item_id']}"}})

    def add_order(self, order_id: str, fulfillment_order_ids: list[str]) -> None:
        """An order with open fulfilment orders."""
        for fo in fulfillment_order_ids:
            gid = f"gid://shopify/FulfillmentOrder/{fo}"
            self.fulfillment_orders[gid] = {"id": gid, "status": "OPEN", "order_id": order_id}

    async def graphql(self, version: str, request: Request,
                      x_shopify_access_token: str = Header("")) -> JSONResponse:
        if x_shopify_access_token != self.token:
            return JSONResponse(status_code=401, content={"errors": "[API] Invalid API key or access token"})
        body = json.loads(await request.body() or b"{}")
        query, variables = body.get("query", ""), body.get("variables") or {}
        if "orders(" in query or "lineItems(" in query:  # the orders listing (ShopifyStandIn)
            return self.graphql_orders(query, variables)
        if "inventoryItems" in query:
            return self._inventory_items(variables)
        if "fulfillmentCreate" in query:
            if (failure := await self.recorder.record(request)) is not None:
                return JSONResponse(status_code=503, content={"errors": [failure]})
            return self._create(variables.get("fulfillment") or {})
        order_id = str(variables.get("id", "")).rsplit("/", 1)[-1]
        nodes = [{"id": fo["id"], "status": fo["status"]} for fo in self.fulfillment_orders.values()
                 if fo["order_id"] == order_id]
        if not nodes:
            return JSONResponse({"data": {"order": None}})
        return JSONResponse({"data": {"order": {"fulfillmentOrders": {"nodes": nodes}}}})

    def _create(self, fulfillment: dict) -> JSONResponse:
        groups = fulfillment.get("lineItemsByFulfillmentOrder") or []
        tracking = fulfillment.get("trackingInfo") or {}
        errors = []
        for group in groups:
            fo = self.fulfillment_orders.get(group.get("fulfillmentOrderId"))
            if fo is None or fo["status"] != "OPEN":
                errors.append({"field": ["fulfillment"], "message": "Fulfillment order is not open"})
        if not groups or not tracking.get("number"):
            errors.append({"field": ["fulfillment"], "message": "lineItemsByFulfillmentOrder and trackingInfo"})
        if errors:
            return JSONResponse({"data": {"fulfillmentCreate": {"fulfillment": None, "userErrors": errors}}})
        for group in groups:
            self.fulfillment_orders[group["fulfillmentOrderId"]]["status"] = "CLOSED"
        created = {"id": f"gid://shopify/Fulfillment/{len(self.fulfillments) + 1}", "status": "SUCCESS"}
        self.fulfillments.append({**created, "trackingInfo": tracking, "notifyCustomer": fulfillment.get("notifyCustomer")})
        return JSONResponse({"data": {"fulfillmentCreate": {"fulfillment": created, "userErrors": []}}})
