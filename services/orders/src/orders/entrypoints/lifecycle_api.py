"""HTTP routes for split, merge, resend and returns. Like every route they read documents and send commands.

Each route answers once the order the action makes (split, merge, resend) or the RMA it books is there: 201/200
with it, 409 with the refusal, 202 when the worker did not answer in time. Ids of orders and RMAs made by a request
derive from its Idempotency-Key, so a replayed request names (and answers with) the same ones.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

from fastapi import APIRouter, Depends, Header, HTTPException, status
from fastapi.responses import JSONResponse
from oms_contracts import Message, derived_id
from oms_contracts.orders.v1 import (
    BookReturn,
    CommandRejected,
    LineQuantity,
    MergeOrder,
    ReceiveReturn,
    ResendOrder,
    ReturnLine,
    SplitOrder,
)
from oms_platform.auth import Caller
from oms_platform.documents import recorded_outcome
from oms_platform.messaging import Bus
from pydantic import BaseModel, ConfigDict, Field

from orders.adapters.repository import MongoOrderRepository
from orders.domain.model import Order
from orders.domain.split_merge import merge_key, merge_refusal
from orders.entrypoints.schemas import OrderAccepted, OrderPublic

Send = Callable[..., Awaitable[JSONResponse]]
IdempotencyKey = Header(None, max_length=100, description="Repeat a request with the same key to get its first result.")


class SplitRequest(BaseModel):
    """Which lines (and how many of each) move to the new order, and why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"lines": [{"line_id": "2", "quantity": 1}], "reason": "ship what is in stock now"}]})

    lines: list[LineQuantity] = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=500)


class ResendRequest(SplitRequest):
    """Which lines of a processed order are sent again (at zero value), and why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"lines": [{"line_id": "1", "quantity": 1}], "reason": "lost in the post"}]})


class MergeRequest(BaseModel):
    """The open orders to merge (same buyer, address, channel, currency, paid status and shipping service)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"order_ids": ["0b5f3f4e-1b7b-4c44-8c4b-7f1f0e3c2a11", "5d0b1c8e-2f5e-4c3a-9a57-3b8f6a1e4d22"]}]})

    order_ids: list[uuid.UUID] = Field(min_length=2, max_length=50)


class ReturnCreate(BaseModel):
    """An RMA: lines and quantities coming back, what to do with each, why, and the refund."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "lines": [{"line_id": "1", "quantity": 1, "action": "restock"}], "reason_category": "damaged",
        "refund": "7.50"}]})

    lines: list[ReturnLine] = Field(min_length=1, max_length=500)
    reason_category: str = Field(min_length=1, max_length=100)
    refund: Decimal = Field(ge=0, max_digits=14, decimal_places=4)


class ReturnPublic(BaseModel):
    """An RMA as staff see it."""

    order_id: uuid.UUID
    rma_id: uuid.UUID
    lines: list[ReturnLine]
    reason_category: str
    refund: Decimal
    booked_by: str
    received: bool


def add_lifecycle_routes(
    router: APIRouter, *, repo: MongoOrderRepository, bus: Bus, staff, send: Send,
    public: Callable[[Order], OrderPublic], command_timeout: float,
) -> None:
    """Add the split, merge, resend and return routes to the orders router."""
    conflict = {409: {"description": "Refused; `detail` says why."}}

    async def load(order_id: uuid.UUID) -> Order:
        doc = await repo.get(order_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} not found")
        return Order.model_validate(doc["order"])

    async def made(answer: JSONResponse, new_order_id: uuid.UUID) -> JSONResponse:
        """Once the source accepted, wait for the order it made and answer with it."""
        if answer.status_code != status.HTTP_200_OK:
            return answer
        doc = await _poll(lambda: repo.get(new_order_id), lambda d: d is not None, timeout=command_timeout)
        if doc is None:
            return _accepted(new_order_id)
        return JSONResponse(public(Order.model_validate(doc["order"])).model_dump(mode="json"), status_code=201)

    @router.post("/{order_id}/split", status_code=201, response_model=OrderPublic, responses=conflict)
    async def split_order(order_id: uuid.UUID, body: SplitRequest, caller: Caller = Depends(staff),
                          idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Move chosen lines of an open order into a new linked order (answered with the new order)."""
        await load(order_id)
        new_id = _made_id("split", order_id, idempotency_key)
        command = SplitOrder(order_id=order_id, new_order_id=new_id, lines=body.lines, reason=body.reason,
                             requested_by=caller.name)
        return await made(await send(command, route="split", key=idempotency_key), new_id)

    @router.post("/{order_id}/resend", status_code=201, response_model=OrderPublic, responses=conflict)
    async def resend_order(order_id: uuid.UUID, body: ResendRequest, caller: Caller = Depends(staff),
                           idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Send chosen lines of a processed order again as a new zero-value open order that allocates stock."""
        await load(order_id)
        new_id = _made_id("resend", order_id, idempotency_key)
        command = ResendOrder(order_id=order_id, resend_order_id=new_id, lines=body.lines, reason=body.reason,
                              requested_by=caller.name)
        return await made(await send(command, route="resend", key=idempotency_key), new_id)

    @router.post("/merge", status_code=201, response_model=OrderPublic, responses=conflict)
    async def merge_orders(body: MergeRequest, caller: Caller = Depends(staff),
                           idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Merge open orders of one buyer and address into a new order; the originals end Merged."""
        if len(set(body.order_ids)) != len(body.order_ids):
            raise HTTPException(422, "order_ids: an order is listed twice")
        base = derived_id("orders-api", "merge", idempotency_key) if idempotency_key else uuid.uuid4()
        merged_id = derived_id(base, "merged-order")
        command_ids = {oid: derived_id(base, str(oid)) for oid in body.order_ids}
        originals = [await load(oid) for oid in body.order_ids]
        if await repo.get(merged_id) is None:  # not a replay: check the rule before touching anything
            for order in originals:
                if refusal := merge_refusal(order):
                    return JSONResponse({"detail": refusal}, status_code=409)
            first = originals[0]
            for order in originals[1:]:
                if merge_key(order) != merge_key(first):
                    return JSONResponse({"detail": (
                        f"order {order.details.order_number} does not share buyer, address, channel, currency,"
                        f" paid status and shipping service with order {first.details.order_number}")},
                        status_code=409)
            key = merge_key(first)
            for order in originals:
                command = MergeOrder(order_id=order.order_id, merged_order_id=merged_id, merge_key=key,
                                     originals=body.order_ids, requested_by=caller.name)
                await bus.publish(bus.envelope(command, event_id=command_ids[order.order_id]),
                                  key=str(order.order_id))

        async def state() -> tuple[dict | None, str | None]:
            for oid, command_id in command_ids.items():
                for published, _ in recorded_outcome(await repo.get(oid), command_id) or []:
                    if isinstance(published.payload, CommandRejected):
                        return None, published.payload.reason
            return await repo.get(merged_id), None

        def done(result: tuple[dict | None, str | None]) -> bool:
            doc, refusal = result
            return refusal is not None or (doc is not None and len(_merged_from(doc)) == len(body.order_ids))

        doc, refusal = await _poll(state, done, timeout=command_timeout)
        if refusal is not None:
            return JSONResponse({"detail": refusal}, status_code=409)
        if doc is None or len(_merged_from(doc)) != len(body.order_ids):
            return _accepted(merged_id)
        return JSONResponse(public(Order.model_validate(doc["order"])).model_dump(mode="json"), status_code=201)

    @router.post("/{order_id}/returns", status_code=201, response_model=ReturnPublic, responses=conflict)
    async def book_return(order_id: uuid.UUID, body: ReturnCreate, caller: Caller = Depends(staff),
                          idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Book an RMA on a processed order: lines, quantities, restock or scrap, reason category, refund."""
        await load(order_id)
        rma_id = _made_id("rma", order_id, idempotency_key)
        command = BookReturn(order_id=order_id, rma_id=rma_id, lines=body.lines,
                             reason_category=body.reason_category, refund=body.refund, requested_by=caller.name)
        return await _rma_answer(await send(command, route="return", key=idempotency_key), order_id, rma_id,
                                 repo=repo, success=201)

    @router.post("/{order_id}/returns/{rma_id}/receive", response_model=ReturnPublic, responses=conflict)
    async def receive_return(order_id: uuid.UUID, rma_id: uuid.UUID, caller: Caller = Depends(staff),
                             idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """The goods of an RMA arrived: restock lines go back on hand, scrap lines do not."""
        order = await load(order_id)
        if not any(rma.rma_id == rma_id for rma in order.returns):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"RMA {rma_id} not found on order {order_id}")
        command: Message = ReceiveReturn(order_id=order_id, rma_id=rma_id, requested_by=caller.name)
        return await _rma_answer(await send(command, route=f"receive-{rma_id}", key=idempotency_key), order_id,
                                 rma_id, repo=repo, success=200)


def _made_id(purpose: str, order_id: uuid.UUID, key: str | None) -> uuid.UUID:
    """The id of what a request makes: derived from its Idempotency-Key, so a replay names the same thing."""
    return derived_id("orders-api", purpose, str(order_id), key) if key else uuid.uuid4()


def _merged_from(doc: dict) -> list[str]:
    """The originals a merged order has taken in so far."""
    return [link["order_id"] for link in doc["order"].get("links", []) if link["kind"] == "merged_from"]


def _accepted(order_id: uuid.UUID) -> JSONResponse:
    """202: queued, not answered in time."""
    accepted = OrderAccepted(order_id=order_id, command_id=order_id, status_url=f"/orders/{order_id}")
    return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


async def _rma_answer(answer: JSONResponse, order_id: uuid.UUID, rma_id: uuid.UUID, *, repo, success: int):
    """The RMA once the order accepted the command, else the command's own answer."""
    if answer.status_code != status.HTTP_200_OK and answer.status_code != status.HTTP_201_CREATED:
        return answer
    order = Order.model_validate((await repo.get(order_id))["order"])
    rma = next(r for r in order.returns if r.rma_id == rma_id)
    public = ReturnPublic(order_id=order_id, rma_id=rma_id, lines=rma.lines, reason_category=rma.reason_category,
                          refund=rma.refund, booked_by=rma.booked_by, received=rma.received_at is not None)
    return JSONResponse(public.model_dump(mode="json"), status_code=success)


async def _poll(load, done, *, timeout: float, interval: float = 0.05):
    """Read until `done(result)` or the deadline; the last result either way (read-only)."""
    deadline = time.monotonic() + timeout
    result = await load()
    while not done(result) and time.monotonic() < deadline:
        await asyncio.sleep(interval)
        result = await load()
    return result
