"""HTTP API of fulfilment. Routes read documents and publish commands; only the command consumer writes.

A state-changing route publishes its command keyed by the document it changes, then watches that document until
the command appears in its `handled` map: 200/201 with the new state, 409 with the reason when the command was
refused (`fulfilment.command_rejected`), or 202 with the command id when the worker is slow.
"""

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse

from oms_contracts import Message
from oms_contracts.fulfilment.v1 import (
    CommandRejected,
    CreateBatch,
    ProcessBatch,
    RecordTrackingNumber,
    ScanItem,
    SetChannelSettings,
    SetShippingRules,
    ShippingDefault,
    VoidShipment,
)
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.documents import DocumentStore, recorded_outcome, wait_for_outcome
from oms_platform.messaging import Bus
from fulfilment.adapters.repository import ShipmentRepository
from fulfilment.domain.batch import Batch
from fulfilment.domain.model import Shipment, ShipmentStatus
from fulfilment.domain.rules import ChannelSettings
from fulfilment.entrypoints.schemas import (
    BatchCreate,
    BatchPublic,
    ChannelSettingsBody,
    ChannelSettingsPublic,
    CommandAccepted,
    PackItemPublic,
    ScanRequest,
    ShipmentDocumentPublic,
    ShipmentPublic,
    ShippingRulesBody,
    TrackingNumberEntry,
    VoidRequest,
)
from fulfilment.service_layer.handlers import SHIPPING_RULES_ID, channel_settings_id

OUTCOMES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandAccepted, "description": "The worker has not handled the command yet; poll status_url."},
    409: {"description": "The command was refused; `detail` says why."},
}
ChannelPath = Path(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")


def fulfilment_router(
    *,
    shipments: ShipmentRepository,
    batches: DocumentStore,
    settings_store: DocumentStore,
    bus: Bus,
    keys: ApiKeys,
    range_carrier: str,
    default_channel: ChannelSettings,
    default_shipping: ShippingDefault,
    command_timeout: float = 10.0,
) -> APIRouter:
    """Routes for shipments, pack stations, batches and the settings that decide how orders ship."""
    router = APIRouter()
    staff, packer, admin = require_role(keys, "ops"), require_role(keys, "ops", "packer"), require_role(keys)

    async def send(command: Message, *, key: str, store: DocumentStore, view: Callable[[dict], Any],
                   status_url: str, success: int = 200) -> JSONResponse:
        """Publish the command and answer with its outcome once the worker recorded it."""
        envelope = bus.envelope(command)
        await bus.publish(envelope, key=key)
        doc = await wait_for_outcome(lambda: store.get(key), envelope.event_id, timeout=command_timeout)
        outcome = recorded_outcome(doc, envelope.event_id)
        if outcome is None:
            accepted = CommandAccepted(command_id=envelope.event_id, status_url=status_url)
            return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
        for published, _ in outcome:
            if isinstance(published.payload, CommandRejected):
                return JSONResponse({"detail": published.payload.reason}, status_code=status.HTTP_409_CONFLICT)
        return JSONResponse(view(doc).model_dump(mode="json"), status_code=success)

    async def load_shipment(order_id: uuid.UUID) -> Shipment:
        doc = await shipments.get(order_id)
        if doc is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"order {order_id} has no shipment: it is unknown or has not been processed yet",
            )
        return Shipment.model_validate(doc["shipment"])

    def shipment_view(doc: dict) -> ShipmentPublic:
        return _shipment_public(Shipment.model_validate(doc["shipment"]))

    # Shipments ---------------------------------------------------------------------------------------------

    @router.get("/shipments", response_model=list[ShipmentPublic], tags=["shipments"])
    async def list_shipments(
        status_: ShipmentStatus | None = Query(None, alias="status", description="Only shipments in this status."),
        limit: int = Query(50, ge=1, le=200),
        _: Caller = Depends(packer),
    ) -> list[ShipmentPublic]:
        """The newest shipments, e.g. `?status=awaiting_tracking` for those waiting for a typed tracking number."""
        docs = await shipments.list(status=status_.value if status_ else None, limit=limit)
        return [shipment_view(doc) for doc in docs]

    @router.get("/shipments/{order_id}", response_model=ShipmentPublic, tags=["shipments"])
    async def get_shipment(order_id: uuid.UUID, _: Caller = Depends(packer)) -> ShipmentPublic:
        """The shipment of an order: carrier, service, tracking number, documents, items to pack, timeline."""
        return _shipment_public(await load_shipment(order_id))

    @router.post("/shipments/{order_id}/tracking", response_model=ShipmentPublic, responses=OUTCOMES,
                 tags=["shipments"])
    async def enter_tracking_number(order_id: uuid.UUID, body: TrackingNumberEntry,
                                    caller: Caller = Depends(staff)) -> JSONResponse:
        """Type the tracking number of a shipment whose carrier is manual; 409 unless it is waiting for one."""
        shipment = await load_shipment(order_id)
        command = RecordTrackingNumber(order_id=order_id, shipment_id=shipment.shipment_id,
                                       tracking_number=body.tracking_number, entered_by=caller.name)
        return await send(command, key=str(order_id), store=shipments, view=shipment_view,
                          status_url=f"/shipments/{order_id}")

    @router.post("/shipments/{order_id}/void", response_model=ShipmentPublic, responses=OUTCOMES,
                 tags=["shipments"])
    async def void_shipment(order_id: uuid.UUID, body: VoidRequest, caller: Caller = Depends(staff)) -> JSONResponse:
        """Void a shipment that is not confirmed; the order goes back to open. After confirmation: 409 (resend or
        return instead)."""
        await load_shipment(order_id)
        command = VoidShipment(order_id=order_id, reason=body.reason, requested_by=caller.name)
        return await send(command, key=str(order_id), store=shipments, view=shipment_view,
                          status_url=f"/shipments/{order_id}")

    @router.post("/pack/{order_id}/scan", response_model=ShipmentPublic, responses=OUTCOMES, tags=["packing"])
    async def scan_item(order_id: uuid.UUID, body: ScanRequest, caller: Caller = Depends(packer)) -> JSONResponse:
        """Scan one item (SKU or barcode) of an order at a pack station. A wrong item or one too many is refused
        (409); the last one prints the label and invoice at this station and confirms the shipment."""
        await load_shipment(order_id)
        command = ScanItem(order_id=order_id, code=body.code, station=body.station, scanned_by=caller.name)
        return await send(command, key=str(order_id), store=shipments, view=shipment_view,
                          status_url=f"/shipments/{order_id}")

    # Batches -----------------------------------------------------------------------------------------------

    def batch_view(doc: dict) -> BatchPublic:
        return BatchPublic.model_validate(Batch.model_validate(doc["batch"]).model_dump())

    @router.post("/batches", status_code=status.HTTP_201_CREATED, response_model=BatchPublic, responses=OUTCOMES,
                 tags=["batches"])
    async def create_batch(body: BatchCreate, caller: Caller = Depends(staff)) -> JSONResponse:
        """Batch processed orders: print a pick list (by location, bin, then SKU, with totals per SKU), each order's
        packing slip, and in the batch flow its invoice and label. 409 names every order that cannot join."""
        problems = []
        for order_id in dict.fromkeys(body.order_ids):
            doc = await shipments.get(order_id)
            if doc is None:
                problems.append(f"order {order_id} has no shipment (process it first)")
                continue
            shipment = Shipment.model_validate(doc["shipment"])
            number = shipment.order.details.order_number
            if shipment.status in (ShipmentStatus.CONFIRMED, ShipmentStatus.VOIDED):
                problems.append(f"order {number}'s shipment is {shipment.status.value}")
            elif shipment.status is ShipmentStatus.AWAITING_TRACKING:
                problems.append(f"order {number} has no tracking number yet")
        if problems:
            raise HTTPException(status.HTTP_409_CONFLICT, "; ".join(problems))
        batch_id = uuid.uuid4()
        command = CreateBatch(batch_id=batch_id, order_ids=list(dict.fromkeys(body.order_ids)),
                              requested_by=caller.name)
        return await send(command, key=str(batch_id), store=batches, view=batch_view,
                          status_url=f"/batches/{batch_id}", success=status.HTTP_201_CREATED)

    @router.get("/batches/{batch_id}", response_model=BatchPublic, tags=["batches"])
    async def get_batch(batch_id: uuid.UUID, _: Caller = Depends(staff)) -> BatchPublic:
        """A batch and its pick list."""
        doc = await batches.get(batch_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no batch {batch_id}")
        return batch_view(doc)

    @router.post("/batches/{batch_id}/process", response_model=BatchPublic, responses=OUTCOMES, tags=["batches"])
    async def process_batch(batch_id: uuid.UUID, caller: Caller = Depends(staff)) -> JSONResponse:
        """The batch is packed: confirm the shipment of every order in it that ships by the batch flow."""
        if await batches.get(batch_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no batch {batch_id}")
        command = ProcessBatch(batch_id=batch_id, requested_by=caller.name)
        return await send(command, key=str(batch_id), store=batches, view=batch_view,
                          status_url=f"/batches/{batch_id}")

    # Settings ----------------------------------------------------------------------------------------------

    def rules_view(doc: dict) -> ShippingRulesBody:
        return ShippingRulesBody.model_validate({"rules": doc["rules"], "default": doc["default"]})

    @router.get("/shipping-rules", response_model=ShippingRulesBody, tags=["settings"])
    async def get_shipping_rules(_: Caller = Depends(staff)) -> ShippingRulesBody:
        """The shipping rules (first match wins) and the default."""
        doc = await settings_store.get(SHIPPING_RULES_ID)
        return rules_view(doc) if doc else ShippingRulesBody(rules=[], default=default_shipping)

    @router.put("/shipping-rules", response_model=ShippingRulesBody, responses=OUTCOMES, tags=["settings"])
    async def put_shipping_rules(body: ShippingRulesBody, caller: Caller = Depends(admin)) -> JSONResponse:
        """Replace the shipping rules and the default (admin). A rule whose tracking is not manual must name the
        built-in carrier, which issues the numbers."""
        for where, choice in [*((f"rule {r.name!r}", r) for r in body.rules), ("the default", body.default)]:
            if not choice.manual_tracking and choice.carrier != range_carrier:
                raise HTTPException(
                    422,
                    f"{where}: carrier {choice.carrier!r} has no tracking range here; use {range_carrier!r} or "
                    "set manual_tracking",
                )
        command = SetShippingRules(rules=body.rules, default=body.default, requested_by=caller.name)
        return await send(command, key=SHIPPING_RULES_ID, store=settings_store, view=rules_view,
                          status_url="/shipping-rules")

    def channel_view(channel: str) -> Callable[[dict], ChannelSettingsPublic]:
        return lambda doc: ChannelSettingsPublic(channel=channel, configured=True, flow=doc["flow"],
                                                 documents=doc["documents"])

    @router.get("/channels/{channel}/settings", response_model=ChannelSettingsPublic, tags=["settings"])
    async def get_channel_settings(channel: str = ChannelPath, _: Caller = Depends(staff)) -> ChannelSettingsPublic:
        """How a channel's orders are processed (the service defaults until set)."""
        doc = await settings_store.get(channel_settings_id(channel))
        if doc is None:
            return ChannelSettingsPublic(channel=channel, configured=False, flow=default_channel.flow,
                                         documents=list(default_channel.documents))
        return channel_view(channel)(doc)

    @router.put("/channels/{channel}/settings", response_model=ChannelSettingsPublic, responses=OUTCOMES,
                tags=["settings"])
    async def put_channel_settings(body: ChannelSettingsBody, channel: str = ChannelPath,
                                   caller: Caller = Depends(admin)) -> JSONResponse:
        """Set a channel's process flow and documents (admin); orders sent to fulfilment afterwards follow them."""
        if len(set(body.documents)) != len(body.documents):
            raise HTTPException(422, f"documents repeat: {body.documents}")
        command = SetChannelSettings(channel=channel, flow=body.flow, documents=body.documents,
                                     requested_by=caller.name)
        return await send(command, key=channel_settings_id(channel), store=settings_store,
                          view=channel_view(channel), status_url=f"/channels/{channel}/settings")

    return router


def _shipment_public(shipment: Shipment) -> ShipmentPublic:
    """The API view of a shipment."""
    return ShipmentPublic(
        order_id=shipment.order_id,
        order_number=shipment.order.details.order_number,
        channel=shipment.order.details.channel,
        shipment_id=shipment.shipment_id,
        attempt=shipment.attempt,
        status=shipment.status.value,
        flow=shipment.flow,
        carrier=shipment.carrier,
        service=shipment.service,
        manual_tracking=shipment.manual_tracking,
        rule=shipment.rule,
        weight_kg=shipment.weight_kg,
        tracking_number=shipment.tracking_number,
        documents=[ShipmentDocumentPublic.model_validate(d.model_dump()) for d in shipment.documents],
        items=[PackItemPublic.model_validate(i.model_dump()) for i in shipment.items],
        batch_id=shipment.batch_id,
        station=shipment.station,
        attention_reason=shipment.attention_reason,
        void_reason=shipment.void_reason,
        created_at=shipment.created_at,
        confirmed_at=shipment.confirmed_at,
        voided_at=shipment.voided_at,
        timeline=[entry.model_dump(mode="json") for entry in shipment.timeline],
    )
