"""Handlers of inventory: each stock command is recorded in the ledger, applied to the stock, then published.

Only the consumer of oms.inventory.commands (key: SKU) runs `handle_command`, so each SKU has one writer.
The ledger is the idempotency record: an entry's `_id` is the command's event id, and it holds the envelopes
the command published. The order of writes is: claim the position (SKU, seq) and insert the entry (both unique),
add it to the order's holding (guarded by seq), replace the stock document guarded by its previous seq, publish.
A crash after the insert leaves a *pending* entry (seq above the stock's); whoever handles that SKU next finishes
it first, so nothing is lost or done twice. The stock's seq is where the search for newer entries starts, so the
latest entry is found by `_id`, whatever the ledger's length.

Stock items (collection `stock_items`, key SKU) are written by the same consumer through `define_stock_item`,
with the `handled` map of oms_platform.documents as their idempotency record. A stock change that leaves
`available` below the item's minimum level also publishes `inventory.stock_low` (recorded in the ledger entry),
its reorder suggestion counting what open purchase orders still have due. Purchase orders (`purchase_orders`,
key PO id) are written by the same consumer through `handle_purchase_order`.

Order events are turned into stock commands by `forward_event`; it stores nothing.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

from oms_contracts import Envelope, Message, decode, derived_id, encode
from oms_contracts.inventory.v1 import (
    DEFAULT_LOCATION,
    AdjustStock,
    AllocateStock,
    CancelPurchaseOrder,
    ChangeStockDue,
    CountStock,
    CreatePurchaseOrder,
    DefineStockItem,
    OpenPurchaseOrder,
    PurchaseOrderChanged,
    PurchaseOrderRejected,
    ReceivePurchaseOrder,
    ReceiveStock,
    ReceiveTransfer,
    ReleaseStock,
    ShipStock,
    StockAllocated,
    TransferStock,
)
from oms_contracts.orders.v1 import (
    OrderCancelled,
    OrderLocked,
    OrderOpened,
    OrderProcessed,
    OrderSnapshot,
    OrderUnlocked,
    ReturnReceived,
)
from oms_platform.documents import drill_crash, handle_once
from oms_platform.messaging import Bus, PermanentError
from inventory.adapters.repository import StockRepository
from inventory.domain.errors import StockRefused
from inventory.domain.items import StockItem, low_stock
from inventory.domain.model import Change, Decision, LedgerEntry, RecordedMessage, Stock, StockCommand, decide
from inventory.service_layer import order_edits
from inventory.domain.purchase_orders import PurchaseOrder, PurchaseOrderStatus

Clock = Callable[[], datetime]
STOCK_COMMANDS = (AdjustStock, AllocateStock, ShipStock, ReleaseStock, ReceiveStock, CountStock, TransferStock,
                  ReceiveTransfer, ChangeStockDue)
PURCHASE_ORDER_COMMANDS = (CreatePurchaseOrder, OpenPurchaseOrder, CancelPurchaseOrder, ReceivePurchaseOrder)


async def handle_command(envelope: Envelope, *, repo: StockRepository, bus: Bus, clock: Clock) -> None:
    """Apply one inventory command exactly once, then publish what it caused (again, same ids, on redelivery)."""
    command = envelope.payload
    if isinstance(command, DefineStockItem):
        await define_stock_item(envelope, repo=repo, bus=bus, clock=clock)
        return
    if isinstance(command, PURCHASE_ORDER_COMMANDS):
        await handle_purchase_order(envelope, repo=repo, bus=bus, clock=clock)
        return
    if not isinstance(command, STOCK_COMMANDS):
        raise PermanentError(f"inventory cannot handle {envelope.type}")
    stock = await repo.get_stock(command.sku)
    head = await repo.ledger_head(command.sku, after_seq=stock.seq if stock else 0)
    latest = head.latest
    if latest is not None and latest.is_pending(stock):
        stock = await _finish(latest, stock, repo=repo, bus=bus)
        if latest.entry_id == envelope.event_id:
            return
    recorded = await repo.get_entry(envelope.event_id)
    if recorded is not None:
        if recorded.sku != command.sku:
            raise PermanentError(f"event id {envelope.event_id} was already used for SKU {recorded.sku}")
        await bus.publish_all(_unpack(recorded))  # a redelivery: same events, same ids
        if recorded.refused:
            raise PermanentError(recorded.refused)
        return

    now = clock()
    seq = head.seq + 1
    item = await stock_item(repo, command.sku)
    # An order allocates where its SKU is kept, and ships or releases from wherever it holds stock.
    allocate_at = item.default_location if item else DEFAULT_LOCATION
    held = None
    if isinstance(command, (ShipStock, ReleaseStock)):
        held = await repo.order_allocation(command.sku, command.order_id)
    try:
        decision = decide(stock, command, command_id=envelope.event_id, allocate_at=allocate_at,
                          order_allocation=held)
    except StockRefused as refusal:
        entry = _entry(envelope, command, seq=seq, now=now, stock=stock, change=None, refused=str(refusal))
        await repo.add_entry(entry)
        raise PermanentError(str(refusal)) from refusal
    if decision.stock is not None:
        if item is not None and decision.stock.totals.available < item.minimum_level:
            decision.events.append(low_stock(item, decision.stock.totals, due=decision.stock.due))
    published = _envelopes(decision, cause=envelope, bus=bus, now=now)
    entry = _entry(envelope, command, seq=seq, now=now, stock=decision.stock or stock, change=decision.change,
                   applies_to_stock=decision.stock is not None, published=published)
    await repo.add_entry(entry)
    drill_crash("store")  # the fault drill's worst moment: ledger entry stored, levels not yet (see _finish)
    if decision.stock is not None:
        await repo.save_order_allocation(entry)
        await repo.save_stock(entry.roll_forward(stock), previous_seq=stock.seq if stock else None)
    await bus.publish_all(published)
    drill_crash("publish")


async def define_stock_item(envelope: Envelope, *, repo: StockRepository, bus: Bus, clock: Clock) -> None:
    """Create or replace a SKU's stock item, once per command (a redelivery changes nothing)."""
    command: DefineStockItem = envelope.payload

    async def decide_item(doc: dict | None) -> tuple[dict, list]:
        item = StockItem.of(command)
        created_at = doc["created_at"] if doc else clock().isoformat()
        return {**item.model_dump(), "created_at": created_at, "updated_at": clock().isoformat(),
                "defined_by": command.defined_by}, []

    await handle_once(envelope, aggregate_id=command.sku, store=repo.items, bus=bus, decide=decide_item)


async def handle_purchase_order(envelope: Envelope, *, repo: StockRepository, bus: Bus, clock: Clock) -> None:
    """Create, open or cancel a purchase order or receive a delivery against it, once per command.

    A delivery sends one ReceiveStock per line (keyed by SKU, ids derived from this command), so stock rises
    exactly once even when this command is redelivered. A refusal (over-delivery, a delivery on a pending or
    cancelled order, opening an open one...) is recorded as PurchaseOrderRejected and changes nothing.
    """
    command: CreatePurchaseOrder | OpenPurchaseOrder | CancelPurchaseOrder | ReceivePurchaseOrder = envelope.payload

    async def decide_po(doc: dict | None) -> tuple[dict, list]:
        po_key = str(command.po_id)
        current = None if doc is None else PurchaseOrder.model_validate(doc["purchase_order"])
        kept = {k: v for k, v in doc.items() if k not in ("_id", "version", "handled")} if doc else {}

        def rejected(reason: str) -> tuple[dict, list]:
            refusal = PurchaseOrderRejected(po_id=command.po_id, command_type=envelope.type, reason=reason)
            return kept, [(refusal, po_key)]

        outgoing: list = []
        if isinstance(command, CreatePurchaseOrder):
            if current is not None:
                return rejected(f"purchase order {command.po_id} already exists")
            after = PurchaseOrder.create(po_id=command.po_id, supplier=command.supplier, lines=command.lines,
                                         expected_on=command.expected_on, created_by=command.created_by,
                                         status=PurchaseOrderStatus(command.status))
        else:
            if current is None:
                # Nothing to record it in (and no document is invented for it): dead-lettered with the reason.
                raise PermanentError(f"purchase order {command.po_id} does not exist")
            try:
                if isinstance(command, OpenPurchaseOrder):
                    after = current.open()
                elif isinstance(command, CancelPurchaseOrder):
                    after = current.cancel(command.reason)
                else:
                    after = current.receive(command.lines)
                    for line in command.lines:  # delivered to where the SKU is kept; each lowers its due
                        item = await stock_item(repo, line.sku)
                        location = item.default_location if item else DEFAULT_LOCATION
                        outgoing.append((ReceiveStock(sku=line.sku, quantity=line.quantity, po_id=command.po_id,
                                                      location=location), line.sku))
            except StockRefused as refusal:
                return rejected(str(refusal))
        # Opening, creating open or cancelling changes what is due: the SKUs' ledgers record it.
        before_due, after_due = (current.due() if current else {}), after.due()
        if not isinstance(command, ReceivePurchaseOrder):
            for sku in sorted(set(before_due) | set(after_due)):
                delta = after_due.get(sku, 0) - before_due.get(sku, 0)
                if delta:
                    reason = f"purchase order {command.po_id} {after.status.value}"
                    outgoing.append((ChangeStockDue(sku=sku, po_id=command.po_id, delta=delta, reason=reason), sku))
        changed = PurchaseOrderChanged(po_id=command.po_id, status=after.status.value,
                                       received=command.lines if isinstance(command, ReceivePurchaseOrder) else [])
        fields = {"purchase_order": after.model_dump(mode="json"), "status": after.status.value,
                  "skus": sorted(line.sku for line in after.lines),
                  "created_at": doc["created_at"] if doc else clock().isoformat(), "updated_at": clock().isoformat()}
        return fields, [*outgoing, (changed, po_key)]

    await handle_once(envelope, aggregate_id=command.po_id, store=repo.purchase_orders, bus=bus, decide=decide_po)


async def stock_item(repo: StockRepository, sku: str) -> StockItem | None:
    """The stock item of a SKU (read only), or None when it was never defined."""
    doc = await repo.items.get(sku)
    return None if doc is None else item_of(doc)


def item_of(doc: dict) -> StockItem:
    """A stock item from its stored document."""
    return StockItem.model_validate({name: doc.get(name) for name in StockItem.model_fields if name in doc})


async def _finish(entry: LedgerEntry, stock: Stock | None, *, repo: StockRepository, bus: Bus) -> Stock:
    """Complete an entry whose stock update was lost: write the levels it recorded, then publish its events."""
    after = entry.roll_forward(stock)
    await repo.save_order_allocation(entry)
    await repo.save_stock(after, previous_seq=stock.seq if stock else None)
    await bus.publish_all(_unpack(entry))
    return after


def _entry(
    envelope: Envelope,
    command: StockCommand,
    *,
    seq: int,
    now: datetime,
    stock: Stock | None,
    change: Change | None,
    applies_to_stock: bool = False,
    refused: str | None = None,
    published: Sequence[tuple[Envelope, str]] = (),
) -> LedgerEntry:
    """The ledger entry recording what `command` did (or why it was refused) and what it published."""
    location = change.location if change else getattr(command, "location", getattr(command, "from_location",
                                                                                     DEFAULT_LOCATION))
    stock = stock or Stock.new(command.sku)
    return LedgerEntry(
        entry_id=envelope.event_id,
        sku=command.sku,
        seq=seq,
        command_type=envelope.type,
        location=location,
        on_hand_delta=change.on_hand_delta if change else 0,
        allocated_delta=change.allocated_delta if change else 0,
        due_delta=change.due_delta if change else 0,
        reason=change.reason if change else f"refused: {refused}",
        order_id=getattr(command, "order_id", None),
        purchase_order_id=getattr(command, "po_id", None),
        short=change.short if change else 0,
        by=next((getattr(command, name) for name in ("adjusted_by", "counted_by", "transferred_by")
                 if hasattr(command, name)), None),
        at=now,
        levels=stock.at(location),
        totals=stock.totals,
        due=stock.due,
        applies_to_stock=applies_to_stock,
        refused=refused,
        published=[RecordedMessage(envelope=encode(e).decode(), key=key) for e, key in published],
    )


def _envelopes(decision: Decision, *, cause: Envelope, bus: Bus, now: datetime) -> list[tuple[Envelope, str]]:
    """Wrap the decision's events with ids derived from the command, each with its Kafka key."""
    return [
        (bus.envelope(event, cause=cause, event_id=derived_id(cause.event_id, event.TYPE), now=now), _key(event))
        for event in decision.events
    ]


def _key(event: Message) -> str:
    """Order-facing events are keyed by order id, the rest by SKU."""
    return str(event.order_id) if isinstance(event, StockAllocated) else event.sku


def _unpack(entry: LedgerEntry) -> list[tuple[Envelope, str]]:
    """The envelopes an entry recorded, as they were first sent."""
    return [(decode(message.envelope), message.key) for message in entry.published]


async def forward_event(envelope: Envelope, *, bus: Bus) -> None:
    """Turn order events into stock commands, one per SKU; ignore the rest.

    Opened or unlocked: AllocateStock. Processed: ShipStock. Locked, or cancelled while holding stock: ReleaseStock.
    """
    event = envelope.payload
    if isinstance(event, ReturnReceived):
        await _forward_restock(envelope, event, bus=bus)
        return
    if await order_edits.forward(envelope, bus=bus):  # orders.order_lines_changed: allocate or release the delta
        return
    if isinstance(event, OrderOpened) and not event.allocates_stock:
        return  # a split or merge result: it took over stock its source orders had allocated
    if isinstance(event, OrderOpened):
        make, purpose = AllocateStock, "allocate"
    elif isinstance(event, OrderUnlocked):
        make, purpose = AllocateStock, "reallocate"
    elif isinstance(event, OrderProcessed):
        make, purpose = ShipStock, "ship"
    elif isinstance(event, OrderLocked) or (isinstance(event, OrderCancelled) and event.stock_held):
        make, purpose = ReleaseStock, "release"
    else:
        return
    for sku, quantity in quantities_by_sku(event.order).items():
        command = make(order_id=event.order.order_id, sku=sku, quantity=quantity)
        forwarded = bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, purpose, sku))
        await bus.publish(forwarded, key=sku)


async def _forward_restock(envelope: Envelope, event: ReturnReceived, *, bus: Bus) -> None:
    """A received return: one AdjustStock per restocked SKU raises on_hand by exactly that quantity (scrap: nothing)."""
    restock: dict[str, int] = {}
    for line in event.lines:
        if line.action == "restock":
            restock[line.sku] = restock.get(line.sku, 0) + line.quantity
    for sku, quantity in restock.items():
        reason = f"returned on RMA {event.rma_id} (order {event.order_id})"
        command = AdjustStock(sku=sku, delta=quantity, reason=reason, adjusted_by=event.by)
        forwarded = bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, "restock", sku))
        await bus.publish(forwarded, key=sku)


def quantities_by_sku(order: OrderSnapshot) -> dict[str, int]:
    """Total quantity per SKU over the order's lines, in the order SKUs first appear."""
    totals: dict[str, int] = {}
    for line in order.details.lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return totals
