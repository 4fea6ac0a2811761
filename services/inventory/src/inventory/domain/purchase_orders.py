"""Purchase orders: lines ordered from a supplier, deliveries received against them, and their status."""

import datetime
import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

from oms_contracts.inventory.v1 import PurchaseOrderLine
from inventory.domain.errors import StockRefused


class PurchaseOrderStatus(StrEnum):
    """Open until something arrives, partially delivered until every line is complete, then delivered."""

    OPEN = "open"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"


class OverDelivery(StockRefused):
    """A delivery would receive more of a SKU than was ordered (or a SKU not on the order)."""


class PurchaseOrderLineState(BaseModel):
    """One SKU of a purchase order: how many ordered, how many received so far."""

    sku: str
    ordered: int = Field(gt=0)
    received: int = Field(0, ge=0)

    @property
    def outstanding(self) -> int:
        """Still to arrive (the SKU's `due` on this order)."""
        return self.ordered - self.received


class PurchaseOrder(BaseModel):
    """A purchase order from one supplier."""

    po_id: uuid.UUID
    supplier: str
    expected_on: datetime.date | None = None
    lines: list[PurchaseOrderLineState]
    status: PurchaseOrderStatus = PurchaseOrderStatus.OPEN
    created_by: str
    deliveries: int = 0

    @classmethod
    def create(cls, *, po_id: uuid.UUID, supplier: str, lines: list[PurchaseOrderLine],
               expected_on: datetime.date | None, created_by: str) -> "PurchaseOrder":
        """A new open order; lines of the same SKU are added together."""
        ordered: dict[str, int] = {}
        for line in lines:
            ordered[line.sku] = ordered.get(line.sku, 0) + line.quantity
        return cls(po_id=po_id, supplier=supplier, expected_on=expected_on, created_by=created_by,
                   lines=[PurchaseOrderLineState(sku=sku, ordered=qty) for sku, qty in ordered.items()])

    def receive(self, lines: list[PurchaseOrderLine]) -> "PurchaseOrder":
        """The order after a delivery; OverDelivery (naming every bad line) when more arrives than is due."""
        arriving: dict[str, int] = {}
        for line in lines:
            arriving[line.sku] = arriving.get(line.sku, 0) + line.quantity
        by_sku = {line.sku: line for line in self.lines}
        problems = []
        for sku, quantity in arriving.items():
            line = by_sku.get(sku)
            if line is None:
                problems.append(f"{sku} is not on purchase order {self.po_id}")
            elif quantity > line.outstanding:
                problems.append(f"{sku}: receiving {quantity} would exceed the {line.ordered} ordered"
                                f" ({line.received} already received, {line.outstanding} outstanding)")
        if problems:
            raise OverDelivery("; ".join(problems))
        new_lines = [line.model_copy(update={"received": line.received + arriving.get(line.sku, 0)})
                     for line in self.lines]
        complete = all(line.outstanding == 0 for line in new_lines)
        status = PurchaseOrderStatus.DELIVERED if complete else PurchaseOrderStatus.PARTIALLY_DELIVERED
        return self.model_copy(update={"lines": new_lines, "status": status, "deliveries": self.deliveries + 1})
