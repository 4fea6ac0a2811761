"""Write-back stand-ins: the channel stand-ins (`ingest.standins`) extended with each channel's documented
write-back endpoints, plus WooCommerce and Shopify shops that take write-backs only (their orders come by webhook).

Each records what it received (`received`: method, path, JSON body) and can be told to fail: `fail_next = n`
refuses the next n write calls with 503, `always_fail = True` refuses every one, with the reason in the body.
"""

import base64
import itertools
import json

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response

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
        body = json.loads(raw) if raw else None
        entry = {"method": request.method, "path": request.url.path, "json": body}
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


class AmazonShop(AmazonStandIn):
    """SP-API Orders plus `POST /orders/v0/orders/{orderId}/shipmentConfirmation` (204)."""

    def __init__(self, orders: list[dict], items: dict[str, list[dict]], *, token: str, **kwargs) -> None:
        super().__init__(orders, items, token=token, **kwargs)
        self.recorder = Recorder()
        self.app.post("/orders/v0/orders/{order_id}/shipmentConfirmation")(self.confirm_shipment)

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


class ShopifyShop:
    """Shopify GraphQL Admin (`POST /admin/api/{version}/graphql.json`): the `order { fulfillmentOrders }` query
    and the `fulfillmentCreate` mutation; `orders` maps an order id to its fulfilment orders' ids."""

    def __init__(self, *, token: str, orders: dict[str, list[str]] | None = None) -> None:
        self.token = token
        self.recorder = Recorder()
        self.fulfillment_orders: dict[str, dict] = {}  # gid -> {"id", "status", "order_id"}
        self.fulfillments: list[dict] = []
        self.app = FastAPI()
        self.app.post("/admin/api/{version}/graphql.json")(self.graphql)
        for order_id, fo_ids in (orders or {}).items():
            self.add_order(order_id, fo_ids)

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
