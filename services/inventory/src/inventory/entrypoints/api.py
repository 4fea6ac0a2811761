"""HTTP API of inventory. Routes read from MongoDB but change stock and items only by sending commands.

PUT /stock-items/{sku} and the purchase-order routes publish their command, then watch the document until the
command appears in its `handled` map (201/200, or 409 with the reason when refused), or answer 202 with the
command id when the worker is slow.
"""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse, Response

from oms_contracts import Message, derived_id
from oms_contracts.inventory.v1 import (
    AdjustStock,
    CancelPurchaseOrder,
    CountStock,
    CreatePurchaseOrder,
    OpenPurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderRejected,
    ReceivePurchaseOrder,
    TransferStock,
)
from oms_platform.documents import recorded_outcome
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.messaging import Bus
from inventory.adapters.repository import StockRepository
from inventory.domain.errors import StockRefused
from inventory.domain.items import StockItem, low_stock, parse_csv, to_csv
from inventory.domain.purchase_orders import PurchaseOrder
from inventory.domain.model import LOCATION_PATTERN, Stock, overselling
from inventory.domain.verify import LedgerCheck, verify
from inventory.entrypoints.schemas import (
    AdjustmentAccepted,
    CommandAccepted,
    DeliveryCreate,
    ImportAccepted,
    LedgerEntryPublic,
    LedgerPage,
    LevelsPublic,
    LocationStockPage,
    LocationStockPublic,
    LowStockPage,
    LowStockPublic,
    OversellingOrder,
    OversoldPage,
    OversoldPublic,
    PurchaseOrderCancel,
    PurchaseOrderCreate,
    PurchaseOrderPage,
    PurchaseOrderPublic,
    StockAdjustmentCreate,
    StockCountCreate,
    StockItemCreate,
    StockItemPage,
    StockItemPublic,
    StockPublic,
    StockTransferCreate,
)
from oms_platform.documents import wait_for_outcome
from inventory.service_layer.handlers import item_of

MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_ROWS = 10_000

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$", description="The SKU.")]


def stock_router(*, repo: StockRepository, bus: Bus, keys: ApiKeys) -> APIRouter:
    """Routes for adjusting stock and reading levels and the ledger."""
    router = APIRouter(prefix="/stock", tags=["stock"])
    staff = require_role(keys, "ops")

    @router.post(
        "/{sku}/adjustments",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AdjustmentAccepted,
        responses={409: {"description": "The adjustment would leave on_hand below zero."}},
    )
    async def adjust_stock(
        sku: SkuPath,
        body: StockAdjustmentCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> AdjustmentAccepted:
        """Count stock in or out. Repeat a request with the same Idempotency-Key to have it applied once."""
        command_id = derived_id("inventory.adjust_stock", sku, idempotency_key) if idempotency_key else None
        already_applied = command_id is not None and await repo.get_entry(command_id) is not None
        if not already_applied:
            # Checked now so staff hear at once; the worker checks again against the levels it applies to.
            try:
                (await repo.get_stock(sku) or Stock.new(sku)).adjust(
                    location=body.location, delta=body.delta, reason=body.reason
                )
            except StockRefused as refusal:
                raise HTTPException(status.HTTP_409_CONFLICT, str(refusal)) from refusal
        command = bus.envelope(
            AdjustStock(sku=sku, location=body.location, delta=body.delta, reason=body.reason,
                        adjusted_by=caller.name),
            event_id=command_id,
        )
        await bus.publish(command, key=sku)
        return AdjustmentAccepted(command_id=command.event_id, sku=sku, status_url=f"/stock/{sku}")

    @router.post("/{sku}/counts", status_code=status.HTTP_202_ACCEPTED, response_model=AdjustmentAccepted)
    async def count_stock(
        sku: SkuPath,
        body: StockCountCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> AdjustmentAccepted:
        """A stock take: on_hand at the location becomes the counted number; the ledger entry holds the difference."""
        command_id = derived_id("inventory.count_stock", sku, idempotency_key) if idempotency_key else None
        command = bus.envelope(
            CountStock(sku=sku, location=body.location, counted=body.counted, reason=body.reason,
                       counted_by=caller.name),
            event_id=command_id,
        )
        await bus.publish(command, key=sku)
        return AdjustmentAccepted(command_id=command.event_id, sku=sku, status_url=f"/stock/{sku}")

    @router.post(
        "/{sku}/transfers",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AdjustmentAccepted,
        responses={409: {"description": "Not that much on hand at `from_location`, or the same location twice."}},
    )
    async def transfer_stock(
        sku: SkuPath,
        body: StockTransferCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> AdjustmentAccepted:
        """Move stock between locations: out of `from_location` at once, into `to_location` right after (two
        ledger entries)."""
        command_id = derived_id("inventory.transfer_stock", sku, idempotency_key) if idempotency_key else None
        already_applied = command_id is not None and await repo.get_entry(command_id) is not None
        if not already_applied:
            if body.from_location == body.to_location:
                raise HTTPException(status.HTTP_409_CONFLICT, "a transfer needs two different locations")
            try:
                (await repo.get_stock(sku) or Stock.new(sku)).adjust(
                    location=body.from_location, delta=-body.quantity, reason=body.reason)
            except StockRefused as refusal:
                raise HTTPException(status.HTTP_409_CONFLICT, str(refusal)) from refusal
        command = bus.envelope(
            TransferStock(sku=sku, from_location=body.from_location, to_location=body.to_location,
                          quantity=body.quantity, reason=body.reason, transferred_by=caller.name),
            event_id=command_id,
        )
        await bus.publish(command, key=sku)
        return AdjustmentAccepted(command_id=command.event_id, sku=sku, status_url=f"/stock/{sku}")

    @router.get("/oversold", response_model=OversoldPage)
    async def list_oversold(
        limit: int = Query(100, ge=1, le=500),
        after: str | None = Query(None, max_length=64, description="The last SKU of the previous page."),
        _: Caller = Depends(staff),
    ) -> OversoldPage:
        """SKUs with available below zero, each with the open orders allocated beyond what is on hand."""
        stocks = await repo.oversold(after=after, limit=limit + 1)
        items = []
        for stock in stocks[:limit]:
            totals = stock.totals
            held = [(h.order_id, h.allocated) for h in await repo.order_holdings(stock.sku)]
            orders = [OversellingOrder(order_id=o, allocated=a, short=s)
                      for o, a, s in overselling(totals.on_hand, held)]
            items.append(OversoldPublic(sku=stock.sku, on_hand=totals.on_hand, allocated=totals.allocated,
                                        available=totals.available, oversold_by=-totals.available, orders=orders))
        return OversoldPage(items=items, next_after=items[-1].sku if len(stocks) > limit else None)

    @router.get("/low", response_model=LowStockPage)
    async def list_low_stock(
        limit: int = Query(100, ge=1, le=500),
        after: str | None = Query(None, max_length=64, description="The last SKU of the previous page."),
        _: Caller = Depends(staff),
    ) -> LowStockPage:
        """Stock items whose available stock is below their minimum level, with a reorder suggestion."""
        found: list[LowStockPublic] = []
        cursor = after
        while len(found) <= limit and (docs := await repo.items.list(after=cursor, limit=500)):
            cursor = docs[-1]["_id"]
            items = [item_of(doc) for doc in docs]
            stocks = await repo.stocks([item.sku for item in items])
            for item in items:
                stock = stocks.get(item.sku) or Stock.new(item.sku)
                if low_stock(item, stock.totals) is None:
                    continue
                due = stock.due
                low = low_stock(item, stock.totals, due=due)
                found.append(LowStockPublic(
                    sku=item.sku, title=item.title, supplier=item.supplier, minimum_level=item.minimum_level,
                    on_hand=stock.totals.on_hand, allocated=low.allocated, available=low.available, due=due,
                    suggested_reorder=low.suggested_reorder))
        page = found[:limit]
        return LowStockPage(items=page, next_after=page[-1].sku if len(found) > limit else None)

    @router.get("/{sku}", response_model=StockPublic, responses={404: {"description": "The SKU has no stock record."}})
    async def get_stock(sku: SkuPath, _: Caller = Depends(staff)) -> StockPublic:
        """A SKU's levels: totals and per location."""
        stock = await repo.get_stock(sku)
        if stock is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"SKU {sku!r} has no stock record: it was never adjusted in (POST /stock/{sku}/adjustments)",
            )
        return StockPublic.of(stock)

    @router.get("/{sku}/ledger", response_model=LedgerPage)
    async def get_ledger(
        sku: SkuPath,
        limit: int = Query(100, ge=1, le=500),
        after_seq: int = Query(0, ge=0, description="Only entries after this seq (the previous page's last)."),
        _: Caller = Depends(staff),
    ) -> LedgerPage:
        """A SKU's ledger, oldest first, a page at a time."""
        entries = await repo.entries(sku, after_seq=after_seq, limit=limit)
        return LedgerPage(
            sku=sku,
            entries=[LedgerEntryPublic.of(entry) for entry in entries],
            next_after_seq=entries[-1].seq if len(entries) == limit else None,
        )

    @router.get("/{sku}/verify", response_model=LedgerCheck)
    async def verify_stock(sku: SkuPath, _: Caller = Depends(staff)) -> LedgerCheck:
        """Recompute the SKU's levels from its whole ledger and say whether they equal the stored levels."""
        entries, after_seq = [], 0
        while page := await repo.entries(sku, after_seq=after_seq, limit=500):
            entries.extend(page)
            after_seq = page[-1].seq
        return verify(sku, await repo.get_stock(sku), entries)

    return router


def items_router(*, repo: StockRepository, bus: Bus, keys: ApiKeys, command_timeout: float = 10.0) -> APIRouter:
    """Routes for defining, reading, importing and exporting stock items."""
    router = APIRouter(prefix="/stock-items", tags=["stock items"])
    staff = require_role(keys, "ops")

    @router.get("/export", response_class=Response,
                responses={200: {"content": {"text/csv": {}}, "description": "Every item, in SKU order."}})
    async def export_items(_: Caller = Depends(staff)) -> Response:
        """Every stock item as CSV, with the columns the import takes."""
        items: list[StockItem] = []
        after = None
        while page := await repo.items.list(after=after, limit=500):
            items += [item_of(doc) for doc in page]
            after = page[-1]["_id"]
        return Response(to_csv(items), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="stock-items.csv"'})

    @router.post(
        "/import",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ImportAccepted,
        openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
        responses={422: {"description": "Some rows are wrong: `rows` lists each with its reasons; nothing applied."},
                   415: {"description": "The body is not text/csv."}},
    )
    async def import_items(request: Request, caller: Caller = Depends(staff)) -> ImportAccepted | JSONResponse:
        """Define many items from CSV (sku,title,barcode,weight,default_location,default_bin,minimum_level,supplier).

        Every row is checked first; if any is wrong nothing is sent. Rows count from 1 after the header.
        """
        if not request.headers.get("content-type", "").startswith("text/csv"):
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the CSV as text/csv")
        raw = await request.body()
        if len(raw) > MAX_IMPORT_BYTES:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_IMPORT_BYTES} bytes")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(422, "the CSV is not UTF-8") from None
        items, errors = parse_csv(text)
        if not errors and not items:
            raise HTTPException(422, "the CSV has no rows")
        if len(items) + len(errors) > MAX_IMPORT_ROWS:
            raise HTTPException(422, f"at most {MAX_IMPORT_ROWS} rows per import")
        if errors:
            return JSONResponse(
                {"detail": f"{len(errors)} row(s) are wrong; nothing was imported",
                 "rows": [error.model_dump() for error in errors]},
                status_code=422,
            )
        command_ids = []
        for item in items:
            envelope = bus.envelope(item.command(defined_by=caller.name))
            await bus.publish(envelope, key=item.sku)
            command_ids.append(envelope.event_id)
        return ImportAccepted(accepted=len(items), command_ids=command_ids)

    @router.put(
        "/{sku}",
        response_model=StockItemPublic,
        responses={201: {"model": StockItemPublic, "description": "The item was created."},
                   202: {"model": CommandAccepted, "description": "The worker did not answer in time."}},
    )
    async def define_item(
        sku: SkuPath,
        body: StockItemCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> JSONResponse:
        """Create or replace a SKU's stock item and answer with it once the worker has stored it."""
        item = StockItem(sku=sku, **body.model_dump())
        event_id = derived_id("inventory-api", "define", sku, idempotency_key) if idempotency_key else uuid.uuid4()
        envelope = bus.envelope(item.command(defined_by=caller.name), event_id=event_id)
        before = await repo.items.get(sku)
        if recorded_outcome(before, event_id) is not None:
            doc = before  # a repeated request: its first outcome
        else:
            await bus.publish(envelope, key=sku)
            doc = await wait_for_outcome(lambda: repo.items.get(sku), event_id, timeout=command_timeout)
        if recorded_outcome(doc, event_id) is None:
            accepted = CommandAccepted(command_id=event_id, status_url=f"/stock-items/{sku}")
            return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
        return JSONResponse(StockItemPublic.of(doc).model_dump(mode="json"),
                            status_code=status.HTTP_201_CREATED if before is None else status.HTTP_200_OK)

    @router.get("/{sku}", response_model=StockItemPublic,
                responses={404: {"description": "No stock item has this SKU."}})
    async def get_item(sku: SkuPath, _: Caller = Depends(staff)) -> StockItemPublic:
        """One stock item."""
        doc = await repo.items.get(sku)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stock item with SKU {sku!r} (PUT /stock-items/{sku})")
        return StockItemPublic.of(doc)

    @router.get("", response_model=StockItemPage)
    async def list_items(
        limit: int = Query(100, ge=1, le=500),
        after: str | None = Query(None, max_length=64, description="The last SKU of the previous page."),
        _: Caller = Depends(staff),
    ) -> StockItemPage:
        """A page of stock items in SKU order."""
        docs = await repo.items.list(after=after, limit=limit + 1)
        page = docs[:limit]
        return StockItemPage(items=[StockItemPublic.of(doc) for doc in page],
                             next_after=page[-1]["_id"] if len(docs) > limit else None)

    return router


def purchase_orders_router(
    *, repo: StockRepository, bus: Bus, keys: ApiKeys, command_timeout: float = 10.0
) -> APIRouter:
    """Routes for creating purchase orders, receiving deliveries against them and reading them."""
    router = APIRouter(prefix="/purchase-orders", tags=["purchase orders"])
    staff = require_role(keys, "ops")
    outcomes = {
        202: {"model": CommandAccepted, "description": "The worker did not answer in time; poll `status_url`."},
        409: {"description": "Refused (e.g. more delivered than ordered); `detail` says why."},
    }

    async def send(command: Message, *, route: str, key: str | None, success: int) -> JSONResponse:
        """Publish a PO command (unless already handled) and answer with its outcome."""
        po_id = command.po_id
        event_id = derived_id("inventory-api", route, str(po_id), key) if key else uuid.uuid4()
        envelope = bus.envelope(command, event_id=event_id)
        doc = await repo.purchase_orders.get(po_id)
        if recorded_outcome(doc, event_id) is None:
            await bus.publish(envelope, key=str(po_id))
            doc = await wait_for_outcome(lambda: repo.purchase_orders.get(po_id), event_id,
                                         timeout=command_timeout)
        outcome = recorded_outcome(doc, event_id)
        if outcome is None:
            accepted = CommandAccepted(command_id=event_id, status_url=f"/purchase-orders/{po_id}")
            return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
        for published, _ in outcome:
            if isinstance(published.payload, PurchaseOrderRejected):
                return JSONResponse({"detail": published.payload.reason}, status_code=status.HTTP_409_CONFLICT)
        return JSONResponse(PurchaseOrderPublic.of(doc).model_dump(mode="json"), status_code=success)

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=PurchaseOrderPublic, responses=outcomes)
    async def create_purchase_order(
        body: PurchaseOrderCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> JSONResponse:
        """Order stock from a supplier. Repeat a request with the same Idempotency-Key to get the same order."""
        po_id = derived_id("inventory-api", "purchase-order", idempotency_key) if idempotency_key else uuid.uuid4()
        command = CreatePurchaseOrder(
            po_id=po_id, supplier=body.supplier, expected_on=body.expected_on, created_by=caller.name,
            status=body.status, lines=[PurchaseOrderLine(sku=line.sku, quantity=line.quantity) for line in body.lines],
        )
        return await send(command, route="create", key=idempotency_key, success=status.HTTP_201_CREATED)

    @router.get("", response_model=PurchaseOrderPage)
    async def list_purchase_orders(
        status_: Literal["pending", "open", "partially_delivered", "delivered", "cancelled"] | None = Query(
            None, alias="status", description="Only orders in this state."),
        limit: int = Query(100, ge=1, le=500),
        after: str | None = Query(None, max_length=36, description="The last PO id of the previous page."),
        _: Caller = Depends(staff),
    ) -> PurchaseOrderPage:
        """A page of purchase orders in id order, optionally of one status."""
        docs = await repo.purchase_orders.list(status=status_, after=after, limit=limit + 1)
        page = docs[:limit]
        return PurchaseOrderPage(purchase_orders=[PurchaseOrderPublic.of(doc) for doc in page],
                                 next_after=page[-1]["_id"] if len(docs) > limit else None)

    @router.get("/{po_id}", response_model=PurchaseOrderPublic,
                responses={404: {"description": "No such purchase order."}})
    async def get_purchase_order(po_id: uuid.UUID, _: Caller = Depends(staff)) -> PurchaseOrderPublic:
        """One purchase order with what was ordered, received and is still outstanding per SKU."""
        return PurchaseOrderPublic.of(await _load_purchase_order(repo, po_id))

    @router.post("/{po_id}/deliveries", response_model=PurchaseOrderPublic,
                 responses={**outcomes, 404: {"description": "No such purchase order."}})
    async def receive_delivery(
        po_id: uuid.UUID,
        body: DeliveryCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> JSONResponse:
        """Receive a delivery: on_hand rises per line; more than outstanding is 409 and nothing is received."""
        doc = await _load_purchase_order(repo, po_id)
        lines = [PurchaseOrderLine(sku=line.sku, quantity=line.quantity) for line in body.lines]
        already = idempotency_key and recorded_outcome(
            doc, derived_id("inventory-api", "delivery", str(po_id), idempotency_key)) is not None
        if not already:
            # Checked now so staff hear at once; the worker checks again against the order it applies to.
            try:
                PurchaseOrder.model_validate(doc["purchase_order"]).receive(lines)
            except StockRefused as refusal:
                raise HTTPException(status.HTTP_409_CONFLICT, str(refusal)) from refusal
        command = ReceivePurchaseOrder(po_id=po_id, lines=lines, received_by=caller.name)
        return await send(command, route="delivery", key=idempotency_key, success=status.HTTP_200_OK)

    @router.post("/{po_id}/open", response_model=PurchaseOrderPublic,
                 responses={**outcomes, 404: {"description": "No such purchase order."}})
    async def open_purchase_order(
        po_id: uuid.UUID, caller: Caller = Depends(staff), idempotency_key: str | None = Header(None, max_length=100),
    ) -> JSONResponse:
        """Send a pending order to the supplier: its lines become due. 409 unless it is pending."""
        await _load_purchase_order(repo, po_id)
        command = OpenPurchaseOrder(po_id=po_id, opened_by=caller.name)
        return await send(command, route="open", key=idempotency_key, success=status.HTTP_200_OK)

    @router.post("/{po_id}/cancel", response_model=PurchaseOrderPublic,
                 responses={**outcomes, 404: {"description": "No such purchase order."}})
    async def cancel_purchase_order(
        po_id: uuid.UUID,
        body: PurchaseOrderCancel,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> JSONResponse:
        """Nothing more will arrive: what was outstanding is no longer due (received stock stays). 409 when the
        order is already delivered or cancelled."""
        await _load_purchase_order(repo, po_id)
        command = CancelPurchaseOrder(po_id=po_id, reason=body.reason, cancelled_by=caller.name)
        return await send(command, route="cancel", key=idempotency_key, success=status.HTTP_200_OK)

    return router


async def _load_purchase_order(repo: StockRepository, po_id: uuid.UUID) -> dict:
    """The purchase order's document, or 404."""
    doc = await repo.purchase_orders.get(po_id)
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"purchase order {po_id} not found")
    return doc


def locations_router(*, repo: StockRepository, keys: ApiKeys) -> APIRouter:
    """Routes for reading stock by location."""
    router = APIRouter(prefix="/locations", tags=["locations"])
    staff = require_role(keys, "ops")

    @router.get("/{location}/stock", response_model=LocationStockPage)
    async def location_stock(
        location: str = Path(pattern=LOCATION_PATTERN, description="The location (warehouse) name."),
        limit: int = Query(100, ge=1, le=500),
        after: str | None = Query(None, max_length=64, description="The last SKU of the previous page."),
        _: Caller = Depends(staff),
    ) -> LocationStockPage:
        """Every SKU ever recorded at a location with its levels there, in SKU order."""
        stocks = await repo.stock_at(location, after=after, limit=limit + 1)
        items = [LocationStockPublic(sku=stock.sku, location=location,
                                     **LevelsPublic.of(stock.at(location)).model_dump())
                 for stock in stocks[:limit]]
        return LocationStockPage(location=location, items=items,
                                 next_after=items[-1].sku if len(stocks) > limit else None)

    return router
