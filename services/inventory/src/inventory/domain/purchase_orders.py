"""Purchase orders: lines ordered from a supplier, deliveries received against them, and their status."""

import datetime
import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

from oms_contracts.inventory.v1 import PurchaseOrderLine
from inventory.domain.errors import StockRefused


class PurchaseOrderStatus(StrEnum):
    """Pending (a draft) until opened, open until something arrives, partially delivered until every line is
    complete, then delivered. Pending, open and partially delivered orders can be cancelled."""

    PENDING = "pending"
    OPEN = "open"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# Only these count towards `due`: a pending order was not sent, a cancelled one will not come.
DUE_STATUSES = (PurchaseOrderStatus.OPEN, PurchaseOrderStatus.PARTIALLY_DELIVERED)


class OverDelivery(StockRefused):
    """A delivery would receive more of a SKU than was ordered (or a SKU not on the order)."""


class PurchaseOrderRefused(StockRefused):
    """The purchase order is not in a state that allows the command (e.g. receiving on a cancelled order)."""


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
    cancel_reason: str | None = None

    @classmethod
    def create(cls, *, po_id: uuid.UUID, supplier: str, lines: list[PurchaseOrderLine],
               expected_on: datetime.date | None, created_by: str,
               status: PurchaseOrderStatus = PurchaseOrderStatus.OPEN) -> "PurchaseOrder":
        """A new pending or open order; lines of the same SKU are added together."""
        if status not in (PurchaseOrderStatus.PENDING, PurchaseOrderStatus.OPEN):
            raise PurchaseOrderRefused(f"a new purchase order is pending or open, not {status}")
        ordered: dict[str, int] = {}
        for line in lines:
            ordered[line.sku] = ordered.get(line.sku, 0) + line.quantity
        return cls(po_id=po_id, supplier=supplier, expected_on=expected_on, created_by=created_by, status=status,
                   lines=[PurchaseOrderLineState(sku=sku, ordered=qty) for sku, qty in ordered.items()])

    def due(self) -> dict[str, int]:
        """What this order still brings per SKU (nothing unless it is open or partially delivered)."""
        if self.status not in DUE_STATUSES:
            return {}
        return {line.sku: line.outstanding for line in self.lines if line.outstanding}

    def open(self) -> "PurchaseOrder":
        """A pending order sent to the supplier."""
        if self.status != PurchaseOrderStatus.PENDING:
            raise PurchaseOrderRefused(f"purchase order {self.po_id} is {self.status}: only a pending order opens")
        return self.model_copy(update={"status": PurchaseOrderStatus.OPEN})

    def cancel(self, reason: str) -> "PurchaseOrder":
        """Nothing more will arrive: what was outstanding is no longer due. Received stock stays received."""
        if self.status in (PurchaseOrderStatus.DELIVERED, PurchaseOrderStatus.CANCELLED):
            raise PurchaseOrderRefused(f"purchase order {self.po_id} is already {self.status}")
        return self.model_copy(update={"status": PurchaseOrderStatus.CANCELLED, "cancel_reason": reason})

    def receive(self, lines: list[PurchaseOrderLine]) -> "PurchaseOrder":
        """The order after a delivery; OverDelivery (naming every bad line) when more arrives than is due."""
        if self.status not in DUE_STATUSES:
            hint = " (open it first)" if self.status == PurchaseOrderStatus.PENDING else ""
            raise PurchaseOrderRefused(
                f"purchase order {self.po_id} is {self.status}: no delivery can be received{hint}")
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
