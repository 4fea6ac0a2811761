"""HTTP API of fulfilment. Routes only read shipments; they are written by the command consumer alone."""

import uuid

from fastapi import APIRouter, Depends, HTTPException, status

from oms_platform.auth import ApiKeys, Caller, require_role
from fulfilment.adapters.repository import ShipmentRepository
from fulfilment.domain.model import Shipment
from fulfilment.entrypoints.schemas import ShipmentDocumentPublic, ShipmentPublic


def shipments_router(*, repo: ShipmentRepository, keys: ApiKeys) -> APIRouter:
    """Routes for reading shipments."""
    router = APIRouter(prefix="/shipments", tags=["shipments"])
    staff = require_role(keys, "ops")

    @router.get("/{order_id}", response_model=ShipmentPublic)
    async def get_shipment(order_id: uuid.UUID, _: Caller = Depends(staff)) -> ShipmentPublic:
        """The shipment of an order: carrier, tracking number, and each document's print outcome."""
        doc = await repo.get(order_id)
        if doc is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"order {order_id} has no shipment: it is unknown or has not been processed yet",
            )
        return _public(Shipment.model_validate(doc["shipment"]))

    return router


def _public(shipment: Shipment) -> ShipmentPublic:
    """The API view of a shipment."""
    return ShipmentPublic(
        order_id=shipment.order_id,
        order_number=shipment.order.details.order_number,
        shipment_id=shipment.shipment_id,
        status=shipment.status.value,
        carrier=shipment.carrier,
        service=shipment.order.details.shipping.service,
        tracking_number=shipment.tracking_number,
        documents=[ShipmentDocumentPublic.model_validate(d.model_dump()) for d in shipment.documents],
        attention_reason=shipment.attention_reason,
        created_at=shipment.created_at,
        confirmed_at=shipment.confirmed_at,
        timeline=[entry.model_dump(mode="json") for entry in shipment.timeline],
    )
