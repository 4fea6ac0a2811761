"""Orders commands and events, version 1. Key: the order id."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from oms_contracts.common import Address, Money, OrderDetails, OrderLine, Sku
from oms_contracts import topics
from oms_contracts.envelope import Message, derived_id
from oms_contracts.registry import register
from oms_contracts.common import PaymentDetails


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
    lock_reason: str | None = Field(None, max_length=500, description="Open it locked, holding no stock (e.g. FBA).")
    shipped_on_channel: bool = Field(False, description="The channel already marks it shipped: flagged for staff.")


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
    invoice_note: str | None = Field(None, description="Staff notes marked for the invoice (printing shows them).")


@register
class OrderOpened(Message):
    """A new order entered Open Orders."""

    TYPE = "orders.order_opened"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    allocates_stock: bool = Field(
        True, description="False when the order took over stock already allocated (a split or merge result)."
    )


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
    guard: str | None = Field(None, description="The processing guard that refused it: open, paid, parked, locked, stock.")


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


# Edits of an open order; a shipment voided in fulfilment reopens its order

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class OrderNote(BaseModel):
    """A note staff wrote on an order: internal, or printed on the invoice."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    note_id: uuid.UUID
    text: str = Field(min_length=1, max_length=2000)
    internal: bool = True
    by: str
    at: datetime


@register
class AddOrderNote(Message):
    """Write a note on an order (`internal` false: it is printed on the invoice)."""

    TYPE = "orders.add_order_note"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    note_id: uuid.UUID
    text: str = Field(min_length=1, max_length=2000)
    internal: bool = True
    requested_by: str


@register
class RemoveOrderNote(Message):
    """Delete a note from an order."""

    TYPE = "orders.remove_order_note"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    note_id: uuid.UUID
    requested_by: str


@register
class EditOrder(Message):
    """Change an open order's addresses, shipping service, tags or folder; a field left out (None) stays as it is."""

    TYPE = "orders.edit_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    shipping_address: Address | None = None
    billing_address: Address | None = None
    shipping_service: str | None = Field(None, min_length=1, max_length=100)
    shipping_cost: Money | None = None
    tags: list[Tag] | None = Field(None, max_length=50, description="The order's whole set of tags.")
    folder: str | None = Field(None, max_length=50, description="'' takes the order out of its folder.")
    requested_by: str


@register
class ChangeOrderLines(Message):
    """Add lines, remove lines (by id) and set line quantities of an open order; stock follows the per-SKU delta."""

    TYPE = "orders.change_order_lines"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    add: list[OrderLine] = Field(default_factory=list, max_length=500)
    remove: list[str] = Field(default_factory=list, max_length=500)
    quantities: list["LineQuantity"] = Field(default_factory=list, max_length=500)
    requested_by: str


@register
class ReopenOrder(Message):
    """Fulfilment voided the order's shipment: the order leaves processing and is open again (stock stays)."""

    TYPE = "orders.reopen_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    shipment_id: uuid.UUID
    tracking_number: str
    reason: str
    requested_by: str


class SkuDelta(BaseModel):
    """How much of one SKU an order needs more (positive) or less (negative) than before."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sku: Sku
    delta: int


@register
class OrderEdited(Message):
    """An open order's addresses, shipping, notes, tags or folder changed (`changed` names which)."""

    TYPE = "orders.order_edited"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    changed: list[str]
    by: str


@register
class OrderLinesChanged(Message):
    """An open order's lines changed; when `stock_held`, inventory allocates (delta > 0) or releases (< 0) the delta."""

    TYPE = "orders.order_lines_changed"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    deltas: list[SkuDelta]
    stock_held: bool = True
    by: str


@register
class OrderReopened(Message):
    """The order left processing (its shipment was voided) and is open again; its stock stays allocated."""

    TYPE = "orders.order_reopened"
    TOPIC = topics.ORDERS_EVENTS
    order: OrderSnapshot
    reason: str
    by: str


# Split, merge, resend and return (links between orders; RMAs on processed orders)


class OrderLink(BaseModel):
    """A link from one order to another, e.g. ("split_from", source id)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    kind: Literal["split_from", "split_into", "merged_from", "merged_into", "resend_of", "resent_as"]
    order_id: uuid.UUID


class LineQuantity(BaseModel):
    """How much of one order line an action takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=100_000)


class AllocationShare(BaseModel):
    """Inventory's answer for one SKU, handed from one order to another with the stock it stands for."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sku: Sku
    requested: int = Field(ge=0)
    short: int = Field(ge=0)
    known_sku: bool = True


class ReturnLine(BaseModel):
    """One line of a return: how much comes back and whether it goes back on the shelf or in the bin."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=100_000)
    action: Literal["restock", "scrap"]


class ReturnedStock(BaseModel):
    """A received return line as inventory needs it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sku: Sku
    quantity: int = Field(gt=0)
    action: Literal["restock", "scrap"]


@register
class SplitOrder(Message):
    """Move chosen lines (and quantities) of an open order into a new linked order `new_order_id`."""

    TYPE = "orders.split_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    new_order_id: uuid.UUID
    lines: list[LineQuantity] = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class OpenLinkedOrder(Message):
    """Open an order made from another one (split off or resent), linked to it.

    With `allocations` the order takes over stock its source had allocated; without, inventory allocates afresh.
    """

    TYPE = "orders.open_linked_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    order: OrderDetails
    link: OrderLink
    allocations: list[AllocationShare] | None = None
    reason: str
    requested_by: str


@register
class MergeOrder(Message):
    """Fold this open order into the merged order `merged_order_id` (one command per original)."""

    TYPE = "orders.merge_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    merged_order_id: uuid.UUID
    merge_key: str = Field(description="What every original must share (buyer, address, channel, ...).")
    originals: list[uuid.UUID] = Field(min_length=2, max_length=50)
    requested_by: str


@register
class AbsorbMergedOrder(Message):
    """Add one merged original's lines and stock to the merged order (created by the first one)."""

    TYPE = "orders.absorb_merged_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    original_order_id: uuid.UUID
    order: OrderDetails
    allocations: list[AllocationShare]
    originals: list[uuid.UUID]
    requested_by: str


@register
class ResendOrder(Message):
    """Send chosen lines of a processed order again, as a new linked zero-value order `resend_order_id`."""

    TYPE = "orders.resend_order"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    resend_order_id: uuid.UUID
    lines: list[LineQuantity] = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class BookReturn(Message):
    """Book an RMA on a processed order; it is actioned when the goods arrive."""

    TYPE = "orders.book_return"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    rma_id: uuid.UUID
    lines: list[ReturnLine] = Field(min_length=1, max_length=500)
    reason_category: str = Field(min_length=1, max_length=100)
    refund: Money
    requested_by: str


@register
class ReceiveReturn(Message):
    """The goods of a booked RMA arrived: restock lines go back to stock, scrap lines do not."""

    TYPE = "orders.receive_return"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    rma_id: uuid.UUID
    requested_by: str


@register
class OrderSplit(Message):
    """Lines left this order for the new order `new_order_id` (`order`), with the stock allocated to them."""

    TYPE = "orders.order_split"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    new_order_id: uuid.UUID
    order: OrderDetails
    allocations: list[AllocationShare]
    reason: str
    by: str


@register
class OrderMerged(Message):
    """This order was folded into `merged_order_id`; its stock now stands for the merged order."""

    TYPE = "orders.order_merged"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    merged_order_id: uuid.UUID
    order: OrderDetails
    allocations: list[AllocationShare]
    originals: list[uuid.UUID]
    by: str


@register
class OrderResent(Message):
    """A processed order is sent again as the new open order `resend_order_id` (`order`)."""

    TYPE = "orders.order_resent"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    resend_order_id: uuid.UUID
    order: OrderDetails
    reason: str
    by: str


@register
class ReturnBooked(Message):
    """An RMA was booked on a processed order."""

    TYPE = "orders.return_booked"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    rma_id: uuid.UUID
    lines: list[ReturnLine]
    reason_category: str
    refund: Money
    by: str


@register
class ReturnReceived(Message):
    """The goods of an RMA arrived: inventory puts the restock lines back on hand."""

    TYPE = "orders.return_received"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    rma_id: uuid.UUID
    lines: list[ReturnedStock]
    by: str


# Payments: a payment document per (provider, transaction id) matches payments to orders (key: the payment id);
# the order records what is matched to it (key: the order id).


def payment_id_for(provider: str, transaction_id: str) -> uuid.UUID:
    """The id of the payment document of one provider transaction."""
    return derived_id("payment", provider, transaction_id)


@register
class FilePayment(Message):
    """File a received payment and match it to its order (invoice, transaction id, buyer email + amount)."""

    TYPE = "orders.file_payment"
    TOPIC = topics.ORDERS_COMMANDS
    payment_id: uuid.UUID
    payment: PaymentDetails
    open_order_if_unmatched: bool = False


@register
class MatchPayment(Message):
    """Match an unmatched payment to an order: staff by hand, or the order it names arrived after it."""

    TYPE = "orders.match_payment"
    TOPIC = topics.ORDERS_COMMANDS
    payment_id: uuid.UUID
    order_id: uuid.UUID
    requested_by: str
    matched_by: str = Field("staff", description="staff, or the rule that matched it (invoice: the order arrived later).")


@register
class RecordPayment(Message):
    """Record a payment (or refund) on its order: a completed payment marks it paid and releases an unpaid park."""

    TYPE = "orders.record_payment"
    TOPIC = topics.ORDERS_COMMANDS
    order_id: uuid.UUID
    payment: PaymentDetails
    payment_id: uuid.UUID | None = None
    matched_by: str = Field(description="How it was matched: invoice, transaction, email_amount, staff, ...")
    requested_by: str


@register
class PaymentRecorded(Message):
    """A payment or refund was recorded on the order; `paid` is the order's paid flag now."""

    TYPE = "orders.payment_recorded"
    TOPIC = topics.ORDERS_EVENTS
    order_id: uuid.UUID
    payment: PaymentDetails
    paid: bool
    by: str


@register
class PaymentMatchRefused(Message):
    """A payment could not be matched to the order staff chose; `reason` says why."""

    TYPE = "orders.payment_match_refused"
    TOPIC = topics.ORDERS_EVENTS
    payment_id: uuid.UUID
    order_id: uuid.UUID
    command_id: uuid.UUID
    reason: str
