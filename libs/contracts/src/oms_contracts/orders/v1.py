"""Orders commands and events, version 1. Key: the order id."""

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oms_contracts.common import OrderDetails, Sku
from oms_contracts import topics
from oms_contracts.envelope import Message, derived_id
from oms_contracts.registry import register


def order_id_for(channel: str, channel_order_id: str) -> uuid.UUID:
    """The order id of (channel, channel order id): the same order from a channel always maps to one id."""
    return derived_id("order", channel, channel_order_id)


# Commands (topic oms.orders.commands)


@register
class PlaceOrder(Message):
    """Open an order, or record a newer version of one already placed."""

    TYPE = "orders.place_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    order: OrderDetails
    source: str = Field(description="'staff' for an order typed in, 'channel' for one downloaded or pushed.")
    placed_by: str
    channel_updated_at: AwareDatetime | None = None


@register
class ProcessOrder(Message):
    """Hand an open order to fulfilment."""

    TYPE = "orders.process_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    requested_by: str


@register
class RecordStockAllocation(Message):
    """Inventory's answer for one SKU of an order: how much it could allocate."""

    TYPE = "orders.record_stock_allocation"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    sku: Sku
    requested: int
    short: int = Field(ge=0)
    known_sku: bool = True


@register
class ConfirmShipment(Message):
    """Fulfilment shipped the order: it becomes Processed."""

    TYPE = "orders.confirm_shipment"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    shipment_id: uuid.UUID
    carrier: str
    tracking_number: str
    shipped_at: AwareDatetime


@register
class ParkOrder(Message):
    """Put an open order on hold; it keeps its stock."""

    TYPE = "orders.park_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class UnparkOrder(Message):
    """Take a parked order off hold."""

    TYPE = "orders.unpark_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class LockOrder(Message):
    """Freeze an open order; its stock is released."""

    TYPE = "orders.lock_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class UnlockOrder(Message):
    """Unfreeze a locked order; its stock is allocated again."""

    TYPE = "orders.unlock_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class CancelOrder(Message):
    """Cancel an open order for good; its stock is released."""

    TYPE = "orders.cancel_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


# Events (topic oms.orders.events)


class OrderSnapshot(BaseModel):
    """An order as the other contexts need to see it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    order_id: uuid.UUID
    details: OrderDetails
    opened_at: datetime


@register
class OrderOpened(Message):
    """A new order entered Open Orders."""

    TYPE = "orders.order_opened"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot


@register
class OrderProcessingStarted(Message):
    """Staff asked to process the order and every guard passed: fulfilment takes it from here."""

    TYPE = "orders.order_processing_started"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    requested_by: str


@register
class OrderProcessed(Message):
    """The order shipped and moved to Processed Orders."""

    TYPE = "orders.order_processed"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    carrier: str
    tracking_number: str
    processed_at: AwareDatetime


@register
class CommandRejected(Message):
    """A command on an order was refused; `reason` says why."""

    TYPE = "orders.command_rejected"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    command_type: str
    command_id: uuid.UUID
    reason: str


@register
class OrderParked(Message):
    """The order is on hold; it keeps its stock."""

    TYPE = "orders.order_parked"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    reason: str
    by: str


@register
class OrderUnparked(Message):
    """The order is off hold."""

    TYPE = "orders.order_unparked"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    reason: str
    by: str


@register
class OrderLocked(Message):
    """The order is frozen: inventory releases its stock."""

    TYPE = "orders.order_locked"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    reason: str
    by: str


@register
class OrderUnlocked(Message):
    """The order is unfrozen: inventory allocates its stock again."""

    TYPE = "orders.order_unlocked"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    reason: str
    by: str


@register
class OrderCancelled(Message):
    """The order is cancelled for good; when `stock_held`, inventory releases its stock (a locked order held none)."""

    TYPE = "orders.order_cancelled"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    reason: str
    by: str
    stock_held: bool = True
