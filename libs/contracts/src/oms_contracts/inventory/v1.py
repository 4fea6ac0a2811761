"""Inventory commands and events, version 1. Key: the SKU, except order-facing events (the order id)."""

import datetime
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.common import Sku
from oms_contracts import topics
from oms_contracts.envelope import Message
from oms_contracts.registry import register

DEFAULT_LOCATION = "default"

# Commands (topic oms.inventory.commands, key: SKU)


@register
class AdjustStock(Message):
    """Change on_hand at a location by `delta` (positive: stock in), with a reason."""

    TYPE = "inventory.adjust_stock"
    TOPIC = topics.INVENTORY_COMMANDS
    sku: Sku
    location: str = DEFAULT_LOCATION
    delta: int
    reason: str = Field(min_length=1, max_length=200)
    adjusted_by: str


@register
class AllocateStock(Message):
    """Reserve stock of one SKU for an open order."""

    TYPE = "inventory.allocate_stock"
    TOPIC = topics.INVENTORY_COMMANDS
    order_id: uuid.UUID
    sku: Sku
    quantity: int = Field(gt=0)


@register
class ShipStock(Message):
    """The order shipped: take its quantity off the shelf and release its allocation."""

    TYPE = "inventory.ship_stock"
    TOPIC = topics.INVENTORY_COMMANDS
    order_id: uuid.UUID
    sku: Sku
    quantity: int = Field(gt=0)


@register
class ReleaseStock(Message):
    """An order no longer needs its stock (locked or cancelled): release its allocation, not below zero."""

    TYPE = "inventory.release_stock"
    TOPIC = topics.INVENTORY_COMMANDS
    order_id: uuid.UUID
    sku: Sku
    quantity: int = Field(gt=0)


# Events (topic oms.inventory.events)


@register
class StockAllocated(Message):
    """Allocation outcome of one SKU of an order; key: the order id. `short` > 0 means out of stock."""

    TYPE = "inventory.stock_allocated"
    TOPIC = topics.INVENTORY_EVENTS
    order_id: uuid.UUID
    sku: Sku
    requested: int
    short: int = Field(ge=0)
    known_sku: bool = True


@register
class StockLevelChanged(Message):
    """New levels of a SKU after any change; key: the SKU."""

    TYPE = "inventory.stock_level_changed"
    TOPIC = topics.INVENTORY_EVENTS
    sku: Sku
    location: str
    on_hand: int
    allocated: int
    available: int
    reason: str
    order_id: uuid.UUID | None = None
    due: int = Field(0, description="The SKU's total due on open purchase orders.")


# Stock items and low stock (issue 4)


@register
class DefineStockItem(Message):
    """Create or update the stock item of a SKU (key: the SKU); every field is replaced."""

    TYPE = "inventory.define_stock_item"
    TOPIC = topics.INVENTORY_COMMANDS
    sku: Sku
    title: str = Field(min_length=1, max_length=200)
    barcode: str | None = Field(None, max_length=64)
    weight: float | None = Field(None, ge=0, description="Kilograms.")
    default_location: str = DEFAULT_LOCATION
    default_bin: str | None = Field(None, max_length=50, description="Bin within the default location (pick order).")
    minimum_level: int = Field(0, ge=0)
    supplier: str | None = Field(None, max_length=200)
    defined_by: str


@register
class StockLow(Message):
    """A change left a SKU's available stock below its minimum level; key: the SKU.

    suggested_reorder = minimum_level + allocated (open orders) − available − due, never below zero.
    """

    TYPE = "inventory.stock_low"
    TOPIC = topics.INVENTORY_EVENTS
    sku: Sku
    available: int
    allocated: int
    minimum_level: int
    due: int = 0
    suggested_reorder: int = Field(ge=0)
    supplier: str | None = None


# Purchase orders (issue 4). PO commands are keyed by the PO id; ReceiveStock by the SKU.


class PurchaseOrderLine(BaseModel):
    """A quantity of one SKU on a purchase order or a delivery."""

    model_config = ConfigDict(frozen=True)

    sku: Sku
    quantity: int = Field(gt=0)


@register
class CreatePurchaseOrder(Message):
    """Order stock from a supplier; key: the PO id."""

    TYPE = "inventory.create_purchase_order"
    TOPIC = topics.INVENTORY_COMMANDS
    po_id: uuid.UUID
    supplier: str = Field(min_length=1, max_length=200)
    lines: list[PurchaseOrderLine] = Field(min_length=1)
    expected_on: datetime.date | None = None
    created_by: str
    status: Literal["pending", "open"] = Field(
        "open", description="pending: a draft, nothing due yet (open it later); open: sent to the supplier, due.")


@register
class OpenPurchaseOrder(Message):
    """A pending purchase order was sent to the supplier: its lines become due; key: the PO id."""

    TYPE = "inventory.open_purchase_order"
    TOPIC = topics.INVENTORY_COMMANDS
    po_id: uuid.UUID
    opened_by: str


@register
class CancelPurchaseOrder(Message):
    """Nothing more will arrive on a purchase order: what was still due is due no more; key: the PO id."""

    TYPE = "inventory.cancel_purchase_order"
    TOPIC = topics.INVENTORY_COMMANDS
    po_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=200)
    cancelled_by: str


@register
class ReceivePurchaseOrder(Message):
    """A delivery against a purchase order (partial allowed, more than ordered refused); key: the PO id."""

    TYPE = "inventory.receive_purchase_order"
    TOPIC = topics.INVENTORY_COMMANDS
    po_id: uuid.UUID
    lines: list[PurchaseOrderLine] = Field(min_length=1)
    received_by: str


@register
class ChangeStockDue(Message):
    """What open purchase orders will bring of a SKU changed (opened: +, cancelled: −); key: the SKU.

    Sent by the purchase-order handler so `due` is a level in the SKU's ledger like on_hand and allocated.
    """

    TYPE = "inventory.change_stock_due"
    TOPIC = topics.INVENTORY_COMMANDS
    sku: Sku
    po_id: uuid.UUID
    delta: int
    reason: str = Field(min_length=1, max_length=200)


@register
class ReceiveStock(Message):
    """Delivered stock arrived at a location: raise on_hand and lower due (not below zero); key: the SKU."""

    TYPE = "inventory.receive_stock"
    TOPIC = topics.INVENTORY_COMMANDS
    sku: Sku
    quantity: int = Field(gt=0)
    location: str = DEFAULT_LOCATION
    po_id: uuid.UUID


@register
class PurchaseOrderChanged(Message):
    """A purchase order was created or received a delivery; key: the PO id."""

    TYPE = "inventory.purchase_order_changed"
    TOPIC = topics.INVENTORY_EVENTS
    po_id: uuid.UUID
    status: str
    received: list[PurchaseOrderLine] = Field(default_factory=list, description="This delivery's lines.")


@register
class PurchaseOrderRejected(Message):
    """A purchase-order command was refused (e.g. over-delivery); key: the PO id."""

    TYPE = "inventory.purchase_order_rejected"
    TOPIC = topics.INVENTORY_EVENTS
    po_id: uuid.UUID
    command_type: str
    reason: str


# Stock counts, transfers between locations and availability (issue 4). Key: the SKU.


@register
class CountStock(Message):
    """A stock take: on_hand at a location is set to the counted number; the ledger records the difference."""

    TYPE = "inventory.count_stock"
    TOPIC = topics.INVENTORY_COMMANDS
    sku: Sku
    location: str = DEFAULT_LOCATION
    counted: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=200)
    counted_by: str


@register
class TransferStock(Message):
    """Move stock between locations: taken out of `from_location` now, put into `to_location` by ReceiveTransfer."""

    TYPE = "inventory.transfer_stock"
    TOPIC = topics.INVENTORY_COMMANDS
    sku: Sku
    from_location: str
    to_location: str
    quantity: int = Field(gt=0)
    reason: str = Field(min_length=1, max_length=200)
    transferred_by: str


@register
class ReceiveTransfer(Message):
    """The second leg of a transfer (sent by the inventory consumer itself): stock arrives at `to_location`."""

    TYPE = "inventory.receive_transfer"
    TOPIC = topics.INVENTORY_COMMANDS
    sku: Sku
    transfer_id: uuid.UUID = Field(description="The event id of the TransferStock command.")
    from_location: str
    to_location: str
    quantity: int = Field(gt=0)
    reason: str = Field(min_length=1, max_length=200)
    transferred_by: str


@register
class StockAvailableChanged(Message):
    """A SKU's available stock (over every location) changed; key: the SKU. For pushing stock to channels."""

    TYPE = "inventory.stock_available_changed"
    TOPIC = topics.INVENTORY_EVENTS
    sku: Sku
    available: int
    previous_available: int
    on_hand: int
    allocated: int
