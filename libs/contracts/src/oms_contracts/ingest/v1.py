"""Ingest events, version 1: normalised orders received from channels."""

import uuid

from pydantic import AwareDatetime

from oms_contracts.common import OrderDetails
from oms_contracts import topics
from oms_contracts.envelope import Message
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
