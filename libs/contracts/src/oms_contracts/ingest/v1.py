"""Ingest messages, version 1: normalised orders received from channels; write-back commands."""

import uuid
from typing import Literal

from pydantic import AwareDatetime, Field

from oms_contracts.common import Money, OrderDetails, PaymentDetails, Sku
from oms_contracts import topics
from oms_contracts.envelope import Message, derived_id
from oms_contracts.registry import register


@register
class OrderReceived(Message):
    """A channel order, normalised; key: `<channel>:<channel_order_id>`."""

    TYPE = "ingest.order_received"
    TOPIC = topics.INGEST_EVENTS
    intake_id: uuid.UUID
    channel_updated_at: AwareDatetime
    order: OrderDetails
    # Optional import marks (defaults = a plain new open order): place it locked with this reason (Amazon FBA),
    # or flag that the channel already marks it shipped (marketplace downloads take those too).
    lock_reason: str | None = None
    shipped_on_channel: bool = False


# Commands (topic oms.ingest.commands, key: the order id): telling channels what happened to their orders.

WriteBackAction = Literal["ship", "cancel", "refund", "follow_up"]


def writeback_id_for(order_id: uuid.UUID, action: str, *parts: str) -> uuid.UUID:
    """The id of an order's write-back of one action (a refund adds its RMA id): one document per (order, action)."""
    return derived_id(order_id, "writeback", action, *parts)


@register
class WriteBackToChannel(Message):
    """Tell the order's channel (or, for `follow_up`, its buyer) that it shipped, was cancelled or refunded.

    Forwarded from orders events with an id derived from the event, so a replay is the same command."""

    TYPE = "ingest.write_back_to_channel"
    TOPIC = topics.INGEST_COMMANDS
    writeback_id: uuid.UUID
    order_id: uuid.UUID
    action: WriteBackAction
    order: OrderDetails | None = Field(None, description="The order; a refund may leave it out (taken from its shipment).")
    carrier: str | None = None
    tracking_number: str | None = None
    shipped_at: AwareDatetime | None = None
    refund: Money | None = None
    reason: str | None = Field(None, max_length=500)


@register
class AttemptWriteBack(Message):
    """Try a pending write-back again (sent by the ingest worker's scheduler when its backoff is over)."""

    TYPE = "ingest.attempt_write_back"
    TOPIC = topics.INGEST_COMMANDS
    writeback_id: uuid.UUID
    order_id: uuid.UUID
    attempt: int = Field(ge=1, description="The attempt number this is; any other is stale and changes nothing.")


@register
class RetryWriteBack(Message):
    """Staff ask for a failed write-back to be tried again (a fresh round of attempts)."""

    TYPE = "ingest.retry_write_back"
    TOPIC = topics.INGEST_COMMANDS
    writeback_id: uuid.UUID
    order_id: uuid.UUID
    requested_by: str


# Payments (PayPal IPN, REST webhooks, activity files), verified and normalised.


@register
class PaymentReceived(Message):
    """A payment or refund, verified with its provider where it can be; key: `<provider>:<transaction_id>`.

    The event id derives from (source, transaction id, status): the same notification or file row again is
    the same event."""

    TYPE = "ingest.payment_received"
    TOPIC = topics.INGEST_EVENTS
    intake_id: uuid.UUID
    payment: PaymentDetails
    open_order_if_unmatched: bool = Field(
        False, description="PayPal as a sales channel: a completed payment matching no order becomes one.")



# Available stock pushed to the channels that take it (commands keyed by the SKU).


@register
class PushStock(Message):
    """A SKU's available stock changed: push it to the channels that take stock updates (debounced per SKU).

    Forwarded from `inventory.stock_available_changed` with an id derived from it; `as_of` orders the values."""

    TYPE = "ingest.push_stock"
    TOPIC = topics.INGEST_COMMANDS
    sku: Sku
    available: int
    as_of: AwareDatetime


@register
class AttemptStockPush(Message):
    """Push a SKU's latest available stock now (sent by the ingest worker's scheduler once the debounce is over)."""

    TYPE = "ingest.attempt_stock_push"
    TOPIC = topics.INGEST_COMMANDS
    sku: Sku
    attempt: int = Field(ge=1, description="The attempt number this is; any other is stale and changes nothing.")
