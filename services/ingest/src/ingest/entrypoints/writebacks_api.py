"""HTTP API of channel write-backs: per order, what was told to its channel ("confirmed", "pending", "failed: reason");
staff retry a failed one; and what each kind of channel can take (`GET /channels/capabilities`).

Routes only read write-back documents; a retry is a command to the ingest worker (the only writer), and the
route waits for the worker to record it.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ingest.adapters.writeback_store import WriteBackStore
from ingest.connectors.registry import Capabilities
from ingest.domain.stock_pushes import StockPush
from ingest.domain.stock_pushes import from_document as stock_from_document
from ingest.domain.writebacks import Attempt, WriteBackState, from_document
from oms_contracts.ingest.v1 import RetryWriteBack
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.documents import wait_for_outcome
from oms_platform.messaging import Bus


class WriteBackPublic(BaseModel):
    """One write-back as staff see it: `status` reads "channel confirmed", "pending" or "failed: <reason>"."""

    writeback_id: uuid.UUID
    order_id: uuid.UUID
    action: str
    channel: str
    channel_account: str | None
    channel_order_id: str
    state: WriteBackState
    status: str
    last_error: str | None
    carrier: str | None
    tracking_number: str | None
    refund: Decimal | None
    via: str | None = None  # a follow-up's way: "message" (through the channel) or "email"
    attempts: list[Attempt]
    next_attempt_at: datetime | None
    created_at: datetime
    confirmed_at: datetime | None


class CapabilityPublic(BaseModel):
    """What can be written back to one kind of channel."""

    kind: str
    ship: bool
    cancel: bool
    refund: bool
    stock: bool
    message: bool = False  # the follow-up after shipment can be a buyer message through the channel
    how: str


def public(doc: dict) -> WriteBackPublic:
    """A stored write-back as the API shows it."""
    wb = from_document(doc)
    label = {WriteBackState.CONFIRMED: "channel confirmed", WriteBackState.PENDING: "pending",
             WriteBackState.FAILED: f"failed: {wb.last_error}", WriteBackState.SKIPPED: f"skipped: {wb.last_error}"}
    return WriteBackPublic(**wb.model_dump(exclude={"state"}), state=wb.state, status=label[wb.state])


def writebacks_router(*, store: WriteBackStore, bus: Bus, keys: ApiKeys, capabilities: Mapping[str, Capabilities],
                      stock_pushes: WriteBackStore | None = None, timeout: float = 10.0) -> APIRouter:
    """Routes to read an order's write-backs, retry a failed one, read the channels' capabilities and a SKU's
    stock push."""
    router = APIRouter(tags=["write-back"])
    staff = require_role(keys, "ops")

    if stock_pushes is not None:
        @router.get("/stock-pushes/{sku}", response_model=StockPush)
        async def get_stock_push(sku: str, _: Caller = Depends(staff)) -> StockPush:
            """A SKU's available stock as last pushed to each channel that takes stock (state, errors)."""
            doc = await stock_pushes.get(sku)
            if doc is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stock push for {sku}")
            return stock_from_document(doc)

    @router.get("/channels/capabilities", response_model=list[CapabilityPublic])
    async def channel_capabilities(_: Caller = Depends(staff)) -> list[CapabilityPublic]:
        """What each kind of channel can take back: shipment + tracking, cancellation, refund, stock, buyer message."""
        return [CapabilityPublic(kind=kind, ship=c.ship, cancel=c.cancel, refund=c.refund, stock=c.stock,
                                 message=c.message, how=c.how)
                for kind, c in sorted(capabilities.items())]

    @router.get("/writebacks", response_model=list[WriteBackPublic])
    async def list_writebacks(
        order_id: uuid.UUID | None = Query(None, description="Every write-back of this order."),
        state: WriteBackState | None = Query(None, description="Only those in this state; without `order_id`, "
                                                               "a page of them across orders, in id order."),
        limit: int = Query(100, ge=1, le=500, description="Page size when listing across orders."),
        after: uuid.UUID | None = Query(None, description="The last `writeback_id` of the previous page."),
        _: Caller = Depends(staff),
    ) -> list[WriteBackPublic]:
        """Every write-back of an order (shipment, cancellation, refund, follow-up email) and its state; or, with
        `state` alone (e.g. `failed`, for the console's grid badge), one page of those across orders."""
        if order_id is not None:
            return [public(doc) for doc in await store.of_order(order_id) if state is None or doc["state"] == state]
        if state is None:
            raise HTTPException(422, [{"loc": ["query", "order_id"], "type": "missing",
                                       "msg": "give order_id, or state to list across orders"}])
        found = await store.in_state(state.value, limit=limit, after=str(after) if after else None)
        return [public(doc) for doc in found]

    @router.get("/writebacks/{writeback_id}", response_model=WriteBackPublic)
    async def get_writeback(writeback_id: uuid.UUID, _: Caller = Depends(staff)) -> WriteBackPublic:
        """One write-back."""
        doc = await store.get(writeback_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"write-back {writeback_id} not found")
        return public(doc)

    @router.post("/writebacks/{writeback_id}/retry", response_model=WriteBackPublic,
                 responses={202: {"description": "Queued; the worker had not recorded it yet."}})
    async def retry_writeback(writeback_id: uuid.UUID, caller: Caller = Depends(staff)):
        """Try a failed write-back again (a fresh round of attempts); 409 when it is not failed."""
        doc = await store.get(writeback_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"write-back {writeback_id} not found")
        if doc["state"] != WriteBackState.FAILED:
            raise HTTPException(status.HTTP_409_CONFLICT, f"write-back is {doc['state']}, not failed: nothing to retry")
        command = RetryWriteBack(writeback_id=writeback_id, order_id=uuid.UUID(doc["order_id"]),
                                 requested_by=caller.name)
        envelope = bus.envelope(command)
        await bus.publish(envelope, key=doc["order_id"])
        after = await wait_for_outcome(lambda: store.get(writeback_id), envelope.event_id, timeout=timeout)
        if after is None or str(envelope.event_id) not in after.get("handled", {}):
            return JSONResponse(status_code=202, content={"writeback_id": str(writeback_id),
                                                          "command_id": str(envelope.event_id)})
        return public(after)

    return router
