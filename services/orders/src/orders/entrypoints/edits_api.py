"""HTTP routes for the timeline, edits of open orders (notes, tags, folder, addresses, shipping, lines), batch
processing, and the extra list filters. Like every route they read documents and send commands.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.responses import JSONResponse
from oms_contracts import Message, derived_id
from oms_contracts.orders.v1 import (
    AddOrderNote,
    ChangeOrderLines,
    CommandRejected,
    EditOrder,
    ProcessOrder,
    RemoveOrderNote,
)
from oms_platform.auth import Caller
from oms_platform.documents import recorded_outcome, wait_for_outcome
from oms_platform.messaging import Bus

from orders.adapters.repository import MongoOrderRepository
from orders.domain.model import Order
from orders.entrypoints.schemas import (
    BatchProcessOutcome,
    BatchProcessPublic,
    BatchProcessRequest,
    LinesChange,
    NoteCreate,
    OrderEdit,
    OrderPublic,
    TimelineEntryPublic,
    TimelinePublic,
)

Send = Callable[..., Awaitable[JSONResponse]]
IdempotencyKey = Header(None, max_length=100, description="Repeat a request with the same key to get its first result.")
CONFLICT = {409: {"description": "Refused (the order is not open, or locked for this edit); `detail` says why."}}


class ListFilters:
    """The list filters beyond the basic ones: tags, folders, shipping service, flags, dates, tracking number."""

    def __init__(
        self,
        tag: str | None = Query(None, max_length=50),
        folder: str | None = Query(None, max_length=50),
        shipping_service: str | None = Query(None, max_length=100),
        out_of_stock: bool | None = Query(None, description="Some SKU is short or not a stock item."),
        shipped_on_channel: bool | None = Query(None, description="The channel already marks it shipped."),
        tracking_number: str | None = Query(None, max_length=100),
        opened_from: datetime | None = Query(None, description="Opened at or after (ISO 8601; UTC if no zone)."),
        opened_to: datetime | None = Query(None, description="Opened before."),
        processed_from: datetime | None = Query(None, description="Processed at or after."),
        processed_to: datetime | None = Query(None, description="Processed before."),
        actor: str | None = Query(None, min_length=1, max_length=100,
                                  description="Someone the timeline names (a user, `channel:<name>`): their orders."),
    ) -> None:
        self.values = {
            "tag": tag, "folder": folder, "shipping_service": shipping_service, "out_of_stock": out_of_stock,
            "shipped_on_channel": shipped_on_channel, "tracking_number": tracking_number,
            "opened_from": _utc(opened_from), "opened_to": _utc(opened_to),
            "processed_from": _utc(processed_from), "processed_to": _utc(processed_to), "actor": actor,
        }

    def as_filter(self) -> dict:
        """Keyword arguments of OrderFilter."""
        return self.values


def _utc(at: datetime | None) -> datetime | None:
    """A query time in UTC (a time without a zone is taken as UTC)."""
    if at is None:
        return None
    try:
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC time
        raise HTTPException(422, f"{at.isoformat()}: out of range in UTC") from None


def add_edit_routes(
    router: APIRouter, *, repo: MongoOrderRepository, bus: Bus, staff, send: Send,
    public: Callable[[Order], OrderPublic], command_timeout: float,
) -> None:
    """Add the timeline, edit and batch-process routes to the orders router."""

    async def load(order_id: uuid.UUID) -> Order:
        doc = await repo.get(order_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} not found")
        return Order.model_validate(doc["order"])

    @router.post("/process", response_model=BatchProcessPublic)
    async def process_orders(body: BatchProcessRequest, caller: Caller = Depends(staff),
                             idempotency_key: str | None = IdempotencyKey) -> BatchProcessPublic:
        """Process a batch of orders: per order, accepted into processing or refused naming the guard that failed."""
        if len(set(body.order_ids)) != len(body.order_ids):
            raise HTTPException(422, "order_ids: an order is listed twice")
        base = derived_id("orders-api", "process-batch", idempotency_key) if idempotency_key else uuid.uuid4()

        async def one(order_id: uuid.UUID) -> BatchProcessOutcome:
            doc = await repo.get(order_id)
            if doc is None:
                return BatchProcessOutcome(order_id=order_id, outcome="not_found", reason="no such order")
            envelope = bus.envelope(ProcessOrder(order_id=order_id, requested_by=caller.name),
                                    event_id=derived_id(base, str(order_id)))
            if recorded_outcome(doc, envelope.event_id) is None:
                await bus.publish(envelope, key=str(order_id))
                doc = await wait_for_outcome(lambda: repo.get(order_id), envelope.event_id, timeout=command_timeout)
            number = doc["order"]["details"]["order_number"]
            outcome = recorded_outcome(doc, envelope.event_id)
            if outcome is None:
                return BatchProcessOutcome(order_id=order_id, order_number=number, outcome="pending")
            for published, _ in outcome:
                if isinstance(published.payload, CommandRejected):
                    return BatchProcessOutcome(order_id=order_id, order_number=number, outcome="refused",
                                               guard=published.payload.guard, reason=published.payload.reason)
            return BatchProcessOutcome(order_id=order_id, order_number=number, outcome="accepted")

        results = list(await asyncio.gather(*(one(order_id) for order_id in body.order_ids)))
        return BatchProcessPublic(accepted=sum(r.outcome == "accepted" for r in results),
                                  refused=sum(r.outcome == "refused" for r in results), results=results)

    @router.get("/{order_id}/timeline", response_model=TimelinePublic)
    async def get_timeline(order_id: uuid.UUID, _: Caller = Depends(staff)) -> TimelinePublic:
        """Every change of the order, oldest first: when, what, who did it and the detail."""
        order = await load(order_id)
        entries = [TimelineEntryPublic(at=e.at, what=e.what, who=e.by, detail=e.detail) for e in order.timeline]
        return TimelinePublic(order_id=order_id, order_number=order.details.order_number, entries=entries)

    @router.patch("/{order_id}", response_model=OrderPublic, responses=CONFLICT)
    async def edit_order(order_id: uuid.UUID, body: OrderEdit, caller: Caller = Depends(staff),
                         idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Change an open order's addresses, shipping service or cost, tags or folder (a locked order: only tags
        and folder)."""
        if not body.model_fields_set:
            raise HTTPException(422, "nothing to change: give at least one field")
        await load(order_id)
        command = EditOrder(order_id=order_id, requested_by=caller.name, **body.model_dump(exclude_unset=True))
        return await send(command, route="edit", key=idempotency_key)

    @router.post("/{order_id}/notes", status_code=201, response_model=OrderPublic, responses=CONFLICT)
    async def add_note(order_id: uuid.UUID, body: NoteCreate, caller: Caller = Depends(staff),
                       idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Write a note on an open order; `internal: false` prints it on the invoice."""
        await load(order_id)
        note_id = derived_id("orders-api", "note", str(order_id), idempotency_key) if idempotency_key else uuid.uuid4()
        command = AddOrderNote(order_id=order_id, note_id=note_id, text=body.text, internal=body.internal,
                               requested_by=caller.name)
        return await send(command, route="note", key=idempotency_key, success=201)

    @router.delete("/{order_id}/notes/{note_id}", response_model=OrderPublic, responses=CONFLICT)
    async def remove_note(order_id: uuid.UUID, note_id: uuid.UUID, caller: Caller = Depends(staff),
                          idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Delete a note from an open order."""
        order = await load(order_id)
        if not any(note.note_id == note_id for note in order.notes):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"note {note_id} not found on order {order_id}")
        command: Message = RemoveOrderNote(order_id=order_id, note_id=note_id, requested_by=caller.name)
        return await send(command, route=f"remove-note-{note_id}", key=idempotency_key)

    @router.post("/{order_id}/lines", response_model=OrderPublic, responses=CONFLICT)
    async def change_lines(order_id: uuid.UUID, body: LinesChange, caller: Caller = Depends(staff),
                           idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Add, remove or re-quantify lines of an open order; inventory allocates or releases the difference."""
        if not (body.add or body.remove or body.quantities):
            raise HTTPException(422, "nothing to change: give add, remove or quantities")
        await load(order_id)
        command = ChangeOrderLines(order_id=order_id, add=body.add, remove=body.remove, quantities=body.quantities,
                                   requested_by=caller.name)
        return await send(command, route="lines", key=idempotency_key)
