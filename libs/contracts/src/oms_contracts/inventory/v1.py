"""Inventory commands and events, version 1. Key: the SKU, except order-facing events (the order id)."""

import uuid

from pydantic import Field

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
