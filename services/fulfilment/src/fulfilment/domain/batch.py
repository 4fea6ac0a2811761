"""Batches: orders picked and packed together, and the pick list that walks the warehouse once."""

import uuid
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, Field

from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import PickListLine


class Batch(BaseModel):
    """A batch of orders, its pick list, and whether staff processed it."""

    batch_id: uuid.UUID
    order_ids: list[uuid.UUID]
    skipped: dict[str, str] = Field(default_factory=dict, description="Order id → why it is not in the batch.")
    pick_list: list[PickListLine]
    pick_list_job_id: uuid.UUID | None = None
    status: str = "open"  # open → processed
    created_by: str
    created_at: datetime
    processed_by: str | None = None
    processed_at: datetime | None = None


class Placement(BaseModel):
    """Where a SKU is kept (None when inventory does not know the SKU)."""

    title: str | None = None
    location: str | None = None
    bin: str | None = None


def build_pick_list(orders: list[OrderSnapshot], placements: Mapping[str, Placement]) -> list[PickListLine]:
    """One line per SKU with its total over the orders, sorted by location, bin, then SKU; unknown SKUs last."""
    lines: dict[str, PickListLine] = {}
    for order in orders:
        for line in order.details.lines:
            place = placements.get(line.sku)
            current = lines.get(line.sku)
            if current is None:
                lines[line.sku] = PickListLine(
                    sku=line.sku,
                    title=(place.title if place and place.title else line.title),
                    location=place.location if place else None,
                    bin=place.bin if place else None,
                    quantity=line.quantity,
                    order_numbers=[order.details.order_number],
                )
            else:
                numbers = current.order_numbers
                if order.details.order_number not in numbers:
                    numbers = [*numbers, order.details.order_number]
                lines[line.sku] = current.model_copy(
                    update={"quantity": current.quantity + line.quantity, "order_numbers": numbers}
                )

    def walk_order(line: PickListLine) -> tuple:
        known = line.sku in placements
        return (not known, line.location is None, line.location or "", line.bin is None, line.bin or "", line.sku)

    return sorted(lines.values(), key=walk_order)
