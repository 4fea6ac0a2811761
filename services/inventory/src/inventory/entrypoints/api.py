"""HTTP API of inventory. Routes read from MongoDB but change stock only by sending commands."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status

from oms_contracts import derived_id
from oms_contracts.inventory.v1 import AdjustStock
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.messaging import Bus
from inventory.adapters.repository import StockRepository
from inventory.domain.errors import StockRefused
from inventory.domain.model import Stock
from inventory.entrypoints.schemas import (
    AdjustmentAccepted,
    LedgerEntryPublic,
    LedgerPage,
    StockAdjustmentCreate,
    StockPublic,
)

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

    return router
