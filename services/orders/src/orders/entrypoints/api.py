"""HTTP API of the order book. Routes read from MongoDB but change orders only by sending commands."""

import secrets
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status

from oms_contracts.common import OrderDetails
from oms_contracts.orders.v1 import PlaceOrder, ProcessOrder, order_id_for
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.messaging import Bus
from orders.adapters.repository import MongoOrderRepository
from orders.domain.errors import OrderRefused
from orders.domain.model import Order, OrderStatus, ProcessingGuards
from orders.entrypoints.schemas import OrderAccepted, OrderCreate, OrderPublic

PHONE_CHANNEL = "phone"


def orders_router(*, repo: MongoOrderRepository, bus: Bus, keys: ApiKeys, guards: ProcessingGuards) -> APIRouter:
    """Routes for creating, reading and processing orders."""
    router = APIRouter(prefix="/orders", tags=["orders"])
    staff = require_role(keys, "ops")

    @router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=OrderAccepted)
    async def create_order(
        body: OrderCreate,
        caller: Caller = Depends(staff),
        idempotency_key: str | None = Header(None, max_length=100),
    ) -> OrderAccepted:
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
        command = bus.envelope(
            PlaceOrder(order_id=order_id, order=details, source="staff", placed_by=caller.name)
        )
        await bus.publish(command, key=str(order_id))
        return OrderAccepted(
            order_id=order_id, order_number=order_number, command_id=command.event_id, status_url=f"/orders/{order_id}"
        )

    @router.get("", response_model=list[OrderPublic])
    async def list_orders(
        status_: OrderStatus | None = Query(None, alias="status"),
        limit: int = Query(50, ge=1, le=500),
        _: Caller = Depends(staff),
    ) -> list[OrderPublic]:
        """Newest orders first, optionally of one status."""
        docs = await repo.list(status=status_.value if status_ else None, limit=limit)
        return [_public(Order.model_validate(d["order"])) for d in docs]

    @router.get("/{order_id}", response_model=OrderPublic)
    async def get_order(order_id: uuid.UUID, _: Caller = Depends(staff)) -> OrderPublic:
        """One order with its timeline."""
        return _public(await _load(repo, order_id))

    @router.post("/{order_id}/process", status_code=status.HTTP_202_ACCEPTED, response_model=OrderAccepted)
    async def process_order(order_id: uuid.UUID, caller: Caller = Depends(staff)) -> OrderAccepted:
        """Ask to process an open order; refused at once with 409 and the reason when a guard fails now."""
        order = await _load(repo, order_id)
        problem = _why_not_processable(order, guards)
        if problem:
            raise HTTPException(status.HTTP_409_CONFLICT, problem)
        command = bus.envelope(ProcessOrder(order_id=order_id, requested_by=caller.name))
        await bus.publish(command, key=str(order_id))
        return OrderAccepted(
            order_id=order_id,
            order_number=order.details.order_number,
            command_id=command.event_id,
            status_url=f"/orders/{order_id}",
        )

    return router


async def _load(repo: MongoOrderRepository, order_id: uuid.UUID) -> Order:
    """The order, or 404."""
    doc = await repo.get(order_id)
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} not found")
    return Order.model_validate(doc["order"])


def _why_not_processable(order: Order, guards: ProcessingGuards) -> str | None:
    """The same guards the aggregate applies, checked early so staff get an immediate answer."""
    try:
        order.model_copy(deep=True).start_processing(by="check", now=datetime.now(UTC), guards=guards)
    except OrderRefused as refusal:
        return str(refusal)
    return None


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
        stock_allocated=order.stock_allocated,
        unallocated_skus=order.unallocated_skus(),
        opened_at=order.opened_at,
        processed_at=order.processed_at,
        carrier=order.shipment.carrier if order.shipment else None,
        tracking_number=order.shipment.tracking_number if order.shipment else None,
        total=order.details.total(),
        currency=order.details.currency,
        details=order.details.model_dump(mode="json"),
        timeline=[entry.model_dump(mode="json") for entry in order.timeline],
    )
