"""Handlers of inventory: each stock command is recorded in the ledger, applied to the stock, then published.

Only the consumer of oms.inventory.commands (key: SKU) runs `handle_command`, so each SKU has one writer.
The ledger is the idempotency record: an entry's `_id` is the command's event id, and it holds the envelopes
the command published. The order of writes is: insert the entry (unique id and unique (SKU, seq)), replace
the stock document guarded by its previous seq, publish. A crash after the insert leaves a *pending* entry
(seq above the stock's); whoever handles that SKU next finishes it first, so nothing is lost or done twice.

Order events are turned into stock commands by `forward_event`; it stores nothing.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

from oms_contracts import Envelope, Message, decode, derived_id, encode
from oms_contracts.inventory.v1 import (
    DEFAULT_LOCATION,
    AdjustStock,
    AllocateStock,
    ReleaseStock,
    ShipStock,
    StockAllocated,
)
from oms_contracts.orders.v1 import (
    OrderCancelled,
    OrderLocked,
    OrderOpened,
    OrderProcessed,
    OrderSnapshot,
    OrderUnlocked,
)
from oms_platform.messaging import Bus, PermanentError
from inventory.adapters.repository import StockRepository
from inventory.domain.errors import StockRefused
from inventory.domain.model import Change, Decision, LedgerEntry, RecordedMessage, Stock, decide

Clock = Callable[[], datetime]
STOCK_COMMANDS = (AdjustStock, AllocateStock, ShipStock, ReleaseStock)


async def handle_command(envelope: Envelope, *, repo: StockRepository, bus: Bus, clock: Clock) -> None:
    """Apply one stock command exactly once, then publish what it caused (again, with the same ids, on redelivery)."""
    command = envelope.payload
    if not isinstance(command, STOCK_COMMANDS):
        raise PermanentError(f"inventory cannot handle {envelope.type}")
    stock = await repo.get_stock(command.sku)
    latest = await repo.latest_entry(command.sku)
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
    seq = (latest.seq if latest else 0) + 1
    try:
        decision = decide(stock, command)
    except StockRefused as refusal:
        entry = _entry(envelope, command, seq=seq, now=now, stock=stock, change=None, refused=str(refusal))
        await repo.add_entry(entry)
        raise PermanentError(str(refusal)) from refusal
    published = _envelopes(decision, cause=envelope, bus=bus, now=now)
    entry = _entry(envelope, command, seq=seq, now=now, stock=decision.stock or stock, change=decision.change,
                   applies_to_stock=decision.stock is not None, published=published)
    await repo.add_entry(entry)
    if decision.stock is not None:
        await repo.save_stock(entry.roll_forward(stock), previous_seq=stock.seq if stock else None)
    await bus.publish_all(published)


async def _finish(entry: LedgerEntry, stock: Stock | None, *, repo: StockRepository, bus: Bus) -> Stock:
    """Complete an entry whose stock update was lost: write the levels it recorded, then publish its events."""
    after = entry.roll_forward(stock)
    await repo.save_stock(after, previous_seq=stock.seq if stock else None)
    await bus.publish_all(_unpack(entry))
    return after


def _entry(
    envelope: Envelope,
    command: AdjustStock | AllocateStock | ShipStock | ReleaseStock,
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
    location = change.location if change else getattr(command, "location", DEFAULT_LOCATION)
    stock = stock or Stock.new(command.sku)
    return LedgerEntry(
        entry_id=envelope.event_id,
        sku=command.sku,
        seq=seq,
        command_type=envelope.type,
        location=location,
        on_hand_delta=change.on_hand_delta if change else 0,
        allocated_delta=change.allocated_delta if change else 0,
        reason=change.reason if change else f"refused: {refused}",
        order_id=getattr(command, "order_id", None),
        by=getattr(command, "adjusted_by", None),
        at=now,
        levels=stock.at(location),
        totals=stock.totals,
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


def quantities_by_sku(order: OrderSnapshot) -> dict[str, int]:
    """Total quantity per SKU over the order's lines, in the order SKUs first appear."""
    totals: dict[str, int] = {}
    for line in order.details.lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return totals
