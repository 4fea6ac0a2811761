"""HTTP API of the order book. Routes read from MongoDB but change orders only by sending commands.

A state-changing route publishes its command, then watches the order document (read-only) until the command
appears in its `handled` map: 200/201 with the new order, 409 with the reason when the order refused it, or 202
with the command id when the worker has not answered in time. With an `Idempotency-Key` the command's id derives
from the key, so a repeated request is the same command and gets the first request's outcome.
"""

import base64
import binascii
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.responses import JSONResponse

from oms_contracts import Envelope, Message, derived_id
from oms_contracts.common import OrderDetails
from oms_contracts.orders.v1 import (
    CancelOrder,
    CommandRejected,
    LockOrder,
    ParkOrder,
    PlaceOrder,
    ProcessOrder,
    UnlockOrder,
    UnparkOrder,
    order_id_for,
)
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.documents import recorded_outcome, wait_for_outcome
from oms_platform.messaging import Bus
from orders.adapters.repository import SORTS, MongoOrderRepository, OrderFilter
from orders.domain.model import Order, OrderStatus
from orders.entrypoints.edits_api import ListFilters, add_edit_routes
from orders.entrypoints.lifecycle_api import add_lifecycle_routes
from orders.entrypoints.schemas import HoldRequest, OrderAccepted, OrderCounts, OrderCreate, OrderPage, OrderPublic

PHONE_CHANNEL = "phone"

# route name → command of the hold and cancel routes (body: {reason})
HOLD_COMMANDS: dict[str, type[Message]] = {
    "park": ParkOrder,
    "unpark": UnparkOrder,
    "lock": LockOrder,
    "unlock": UnlockOrder,
    "cancel": CancelOrder,
}

OUTCOMES = {
    202: {"model": OrderAccepted, "description": "The worker did not answer in time; poll `status_url`."},
    409: {"description": "The order refused the command; `detail` says why."},
}
IdempotencyKey = Header(None, max_length=100, description="Repeat a request with the same key to get its first result.")


def orders_router(*, repo: MongoOrderRepository, bus: Bus, keys: ApiKeys, command_timeout: float = 10.0) -> APIRouter:
    """Routes for creating, reading, holding, cancelling and processing orders."""
    router = APIRouter(prefix="/orders", tags=["orders"])
    staff = require_role(keys, "ops")

    async def send(command: Message, *, route: str, key: str | None, success: int = 200) -> JSONResponse:
        """Publish the command (unless it was already handled) and answer with its outcome."""
        order_id: uuid.UUID = command.order_id
        event_id = derived_id("orders-api", route, str(order_id), key) if key else uuid.uuid4()
        envelope = bus.envelope(command, event_id=event_id)
        doc = await repo.get(order_id)
        if recorded_outcome(doc, event_id) is None:
            await bus.publish(envelope, key=str(order_id))
            doc = await wait_for_outcome(lambda: repo.get(order_id), event_id, timeout=command_timeout)
        return _answer(envelope, doc, success=success)

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=OrderPublic, responses=OUTCOMES)
    async def create_order(
        body: OrderCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = IdempotencyKey,
    ) -> JSONResponse:
        """Place a telephone order. Repeat a request with the same Idempotency-Key to get the same order."""
        channel_order_id = idempotency_key or uuid.uuid4().hex
        order_number = body.order_number or _phone_order_number(channel_order_id)
        details = OrderDetails(
            channel=PHONE_CHANNEL,
            channel_order_id=channel_order_id,
            order_number=order_number,
            placed_at=datetime.now(UTC).isoformat(),
            **body.model_dump(exclude={"order_number"}),
        )
        order_id = order_id_for(PHONE_CHANNEL, channel_order_id)
        command = PlaceOrder(order_id=order_id, order=details, source="staff", placed_by=caller.name)
        return await send(command, route="create", key=idempotency_key, success=status.HTTP_201_CREATED)

    @router.get("", response_model=OrderPage)
    async def list_orders(
        status_: OrderStatus | None = Query(None, alias="status"),
        channel: str | None = Query(None, max_length=50),
        paid: bool | None = None,
        parked: bool | None = None,
        locked: bool | None = None,
        country: str | None = Query(None, min_length=2, max_length=2, description="ISO 3166 alpha-2, e.g. GB"),
        sku: str | None = Query(None, max_length=100),
        q: str | None = Query(None, min_length=1, max_length=100,
                              description="Part of the order number, buyer name, email or postcode."),
        filters: ListFilters = Depends(),
        sort: Literal["newest", "oldest", "order_number", "processed_newest", "changed_newest"] = "newest",
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
        _: Caller = Depends(staff),
    ) -> OrderPage:
        """A page of orders matching every filter given, with how many match in all.

        Processed Orders: `status=processed`, optionally `processed_from`/`processed_to` and `tracking_number`,
        sorted by `processed_newest`. What one person did: `actor=<user>` (named in the timeline), sorted by
        `changed_newest`.
        """
        where = OrderFilter(
            status=status_.value if status_ else None, channel=channel, paid=paid, parked=parked, locked=locked,
            country=country.upper() if country else None, sku=sku, text=q, **filters.as_filter(),
        )
        after = _decode_cursor(cursor, sort) if cursor else None
        docs = await repo.list(where=where, sort=sort, limit=limit + 1, after=after)
        page, more = docs[:limit], len(docs) > limit
        sort_field = SORTS[sort][0]
        return OrderPage(
            items=[_public(Order.model_validate(d["order"])) for d in page],
            total=await repo.count(where=where),
            next_cursor=_encode_cursor(sort, page[-1].get(sort_field), page[-1]["_id"]) if more else None,
        )

    @router.get("/counts", response_model=OrderCounts)
    async def count_orders(
        status_: OrderStatus = Query(OrderStatus.OPEN, alias="status"),
        _: Caller = Depends(staff),
    ) -> OrderCounts:
        """Counts per filter value for the order grid: channel, paid, parked, locked, out of stock, tag, folder."""
        where = OrderFilter(status=status_.value)
        return OrderCounts(total=await repo.count(where=where), **await repo.counts(where=where))

    add_edit_routes(router, repo=repo, bus=bus, staff=staff, send=send, public=_public,
                    command_timeout=command_timeout)

    @router.get("/{order_id}", response_model=OrderPublic)
    async def get_order(order_id: uuid.UUID, _: Caller = Depends(staff)) -> OrderPublic:
        """One order with its timeline."""
        return _public(await _load(repo, order_id))

    @router.post("/{order_id}/process", response_model=OrderPublic, responses=OUTCOMES)
    async def process_order(
        order_id: uuid.UUID, caller: Caller = Depends(staff), idempotency_key: str | None = IdempotencyKey
    ) -> JSONResponse:
        """Process an open, paid, allocated order that is neither parked nor locked; 409 says which guard failed."""
        await _load(repo, order_id)
        return await send(ProcessOrder(order_id=order_id, requested_by=caller.name), route="process",
                          key=idempotency_key)

    for action, command_type in HOLD_COMMANDS.items():
        _add_hold_route(router, action, command_type, repo=repo, staff=staff, send=send)
    add_lifecycle_routes(router, repo=repo, bus=bus, staff=staff, send=send, public=_public,
                         command_timeout=command_timeout)

    return router


def _add_hold_route(router: APIRouter, action: str, command_type: type[Message], *, repo, staff, send) -> None:
    """POST /orders/{id}/<action> with body {reason}: one hold or cancel command."""

    async def route(
        order_id: uuid.UUID,
        body: HoldRequest,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = IdempotencyKey,
    ) -> JSONResponse:
        await _load(repo, order_id)
        command = command_type(order_id=order_id, reason=body.reason, requested_by=caller.name)
        return await send(command, route=action, key=idempotency_key)

    route.__doc__ = command_type.__doc__
    router.add_api_route(
        f"/{{order_id}}/{action}", route, methods=["POST"], name=f"{action}_order", response_model=OrderPublic,
        responses=OUTCOMES, summary=f"{action.capitalize()} an order",
    )


def _answer(envelope: Envelope, doc: dict | None, *, success: int) -> JSONResponse:
    """200/201 with the order, 409 with the refusal, or 202 when the command is not handled yet."""
    order_id = envelope.payload.order_id
    outcome = recorded_outcome(doc, envelope.event_id)
    if outcome is None:
        accepted = OrderAccepted(order_id=order_id, command_id=envelope.event_id, status_url=f"/orders/{order_id}")
        return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    for published, _ in outcome:
        if isinstance(published.payload, CommandRejected):
            return JSONResponse({"detail": published.payload.reason}, status_code=status.HTTP_409_CONFLICT)
    return JSONResponse(_public(Order.model_validate(doc["order"])).model_dump(mode="json"), status_code=success)


async def _load(repo: MongoOrderRepository, order_id: uuid.UUID) -> Order:
    """The order, or 404."""
    doc = await repo.get(order_id)
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} not found")
    return Order.model_validate(doc["order"])


def _encode_cursor(sort: str, value, last_id: str) -> str:
    """An opaque cursor: where the page ended, in which sort order."""
    return base64.urlsafe_b64encode(json.dumps([sort, value, last_id]).encode()).decode()


def _decode_cursor(cursor: str, sort: str) -> tuple:
    """(sort value, _id) of a cursor, or 422 when it is not one of ours or belongs to another sort order."""
    try:
        cursor_sort, value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise HTTPException(422, "cursor: not a cursor of this list") from None
    if cursor_sort != sort:
        raise HTTPException(422, f"cursor: belongs to sort={cursor_sort}")
    return value, last_id


def _phone_order_number(channel_order_id: str) -> str:
    """A readable number for a telephone order, e.g. PH-20261128-3F9A1C."""
    suffix = channel_order_id[-6:].upper() if len(channel_order_id) >= 6 else secrets.token_hex(3).upper()
    return f"PH-{datetime.now(UTC):%Y%m%d}-{suffix}"


def _public(order: Order) -> OrderPublic:
    """The API view of an order."""
    return OrderPublic(
        order_id=order.order_id,
        order_number=order.details.order_number,
        channel=order.details.channel,
        channel_order_id=order.details.channel_order_id,
        status=order.status.value,
        paid=order.details.paid,
        parked=order.parked,
        locked=order.locked,
        hold_reason=order.hold_reason,
        stock_allocated=order.stock_allocated,
        unallocated_skus=order.unallocated_skus(),
        opened_at=order.opened_at,
        processed_at=order.processed_at,
        cancelled_at=order.cancelled_at,
        carrier=order.shipment.carrier if order.shipment else None,
        tracking_number=order.shipment.tracking_number if order.shipment else None,
        total=order.details.total(),
        currency=order.details.currency,
        details=order.details.model_dump(mode="json"),
        timeline=[entry.model_dump(mode="json") for entry in order.timeline],
        links=[link.model_dump(mode="json") for link in order.links],
        returns=[rma.model_dump(mode="json") for rma in order.returns],
        notes=[note.model_dump(mode="json") for note in order.notes],
        tags=order.tags,
        folder=order.folder,
        shipped_on_channel=order.shipped_on_channel,
    )
