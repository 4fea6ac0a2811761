"""Stock of one SKU per location, the arithmetic of every change, and the ledger entry that records it.

Orders carry no location: an order allocates at its SKU's allocation location (the stock item's default location,
else `default`), and shipping or releasing takes from wherever that order's allocation is (the ledger knows).
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from oms_contracts import Message
from oms_contracts.inventory.v1 import (
    DEFAULT_LOCATION,
    AdjustStock,
    AllocateStock,
    ChangeStockDue,
    CountStock,
    ReceiveStock,
    ReceiveTransfer,
    ReleaseStock,
    ShipStock,
    StockAllocated,
    StockAvailableChanged,
    StockLevelChanged,
    TransferStock,
)
from inventory.domain.errors import StockRefused

# Location names become keys of the stock document, so no dots or dollars.
LOCATION_PATTERN = r"^[A-Za-z0-9_-]{1,50}$"


class Levels(BaseModel):
    """Stock at one location (or summed over all of them)."""

    model_config = ConfigDict(frozen=True)

    on_hand: int = 0
    allocated: int = 0

    @property
    def available(self) -> int:
        """What can still be promised; below zero means oversold."""
        return self.on_hand - self.allocated


class Change(BaseModel):
    """What one command does to one location of a SKU."""

    model_config = ConfigDict(frozen=True)

    location: str
    on_hand_delta: int = 0
    allocated_delta: int = 0
    due_delta: int = 0
    reason: str
    order_id: uuid.UUID | None = None
    short: int = Field(0, ge=0, description="Allocation only: how much of the request was not available.")


class Stock(BaseModel):
    """All stock of one SKU. `seq` is the ledger sequence its levels reflect; `due` is what open purchase orders
    will still bring (for the SKU, not per location)."""

    model_config = ConfigDict(frozen=True)

    sku: str
    seq: int = 0
    locations: dict[str, Levels] = Field(default_factory=dict)
    due: int = 0
    updated_at: datetime | None = None

    @classmethod
    def new(cls, sku: str) -> "Stock":
        """A SKU with nothing anywhere yet."""
        return cls(sku=sku)

    def at(self, location: str) -> Levels:
        """Levels at one location (zero where nothing was ever recorded)."""
        return self.locations.get(location, Levels())

    @property
    def totals(self) -> Levels:
        """Levels summed over every location."""
        return Levels(
            on_hand=sum(levels.on_hand for levels in self.locations.values()),
            allocated=sum(levels.allocated for levels in self.locations.values()),
        )

    def adjust(self, *, location: str, delta: int, reason: str) -> Change:
        """Stock counted in or out at a location; refused when on_hand would drop below zero."""
        _check_location(location)
        on_hand = self.at(location).on_hand
        if on_hand + delta < 0:
            raise StockRefused(
                f"adjusting {self.sku} at {location} by {delta} would leave on_hand at {on_hand + delta}"
                f" (on hand: {on_hand})"
            )
        return Change(location=location, on_hand_delta=delta, reason=reason)

    def allocate(self, *, order_id: uuid.UUID, quantity: int, location: str = DEFAULT_LOCATION) -> Change:
        """Reserve the whole quantity for an order; `short` says how much of it was not available."""
        available = self.at(location).available
        short = quantity - min(quantity, max(available, 0))
        reason = f"allocated to order {order_id}"
        if short:
            reason += f" ({short} short: oversold)"
        return Change(location=location, allocated_delta=quantity, reason=reason, order_id=order_id, short=short)

    def ship(self, *, order_id: uuid.UUID, quantity: int, location: str = DEFAULT_LOCATION) -> Change:
        """Take a shipped order's quantity off the shelf and release its allocation, neither below zero."""
        before = self.at(location)
        taken = min(quantity, before.on_hand)
        released = min(quantity, before.allocated)
        reason = f"shipped order {order_id}"
        if taken < quantity:
            reason += f" (only {before.on_hand} on hand: on_hand clamped at 0, {quantity - taken} unaccounted for)"
        if released < quantity:
            reason += f" (only {before.allocated} allocated)"
        return Change(
            location=location, on_hand_delta=-taken, allocated_delta=-released, reason=reason, order_id=order_id
        )

    def release(self, *, order_id: uuid.UUID, quantity: int, location: str = DEFAULT_LOCATION) -> Change:
        """An order no longer needs its stock (locked or cancelled): release its allocation, not below zero."""
        before = self.at(location)
        released = min(quantity, max(before.allocated, 0))
        reason = f"released from order {order_id}"
        if released < quantity:
            reason += f" (only {before.allocated} allocated)"
        return Change(location=location, allocated_delta=-released, reason=reason, order_id=order_id)

    def apply(self, change: Change) -> "Stock":
        """The stock after `change`; the rules above keep both levels at zero or more."""
        before = self.at(change.location)
        after = Levels(
            on_hand=before.on_hand + change.on_hand_delta, allocated=before.allocated + change.allocated_delta
        )
        if after.on_hand < 0 or after.allocated < 0 or self.due + change.due_delta < 0:
            raise StockRefused(f"{self.sku} at {change.location} would become {after.model_dump()}"
                               f" with due {self.due + change.due_delta}")
        return self.model_copy(update={"locations": {**self.locations, change.location: after},
                                       "due": self.due + change.due_delta})

    def with_levels(self, location: str, levels: Levels, *, seq: int, at: datetime, due: int | None = None) -> "Stock":
        """The stock with one location set to recorded levels (and the SKU's due), as of ledger entry `seq`."""
        return self.model_copy(update={"locations": {**self.locations, location: levels}, "seq": seq,
                                       "updated_at": at, "due": self.due if due is None else due})


@dataclass(frozen=True)
class Decision:
    """What a command does: the change, the stock after it (None: not written) and the events to publish."""

    change: Change
    stock: Stock | None
    events: list[Message] = field(default_factory=list)


StockCommand = (
    AdjustStock | AllocateStock | ShipStock | ReleaseStock | ReceiveStock | CountStock | TransferStock | ReceiveTransfer
    | ChangeStockDue
)


def decide(
    stock: Stock | None,
    command: StockCommand,
    *,
    command_id: uuid.UUID | None = None,
    allocate_at: str = DEFAULT_LOCATION,
    order_allocation: dict[str, int] | None = None,
) -> Decision:
    """Apply the stock rules to one command; raises StockRefused when the command is not allowed.

    `allocate_at` is where an order allocates; `order_allocation` is what the command's order holds per location
    (read from the ledger), so a ship or release takes from there. A change of the SKU's total available adds
    `inventory.stock_available_changed`.
    """
    decision = _decide(stock, command, command_id=command_id, allocate_at=allocate_at,
                       order_allocation=order_allocation or {})
    if decision.stock is None:
        return decision
    before, after = (stock or Stock.new(command.sku)).totals, decision.stock.totals
    if before.available != after.available:
        decision.events.append(StockAvailableChanged(
            sku=command.sku, available=after.available, previous_available=before.available,
            on_hand=after.on_hand, allocated=after.allocated))
    return decision


def _held_at(order_allocation: dict[str, int], fallback: str) -> str:
    """The location holding most of an order's allocation (the fallback when it holds nothing)."""
    held = {location: quantity for location, quantity in order_allocation.items() if quantity > 0}
    return max(sorted(held), key=held.__getitem__) if held else fallback


def _decide(
    stock: Stock | None, command: StockCommand, *, command_id: uuid.UUID | None, allocate_at: str,
    order_allocation: dict[str, int],
) -> Decision:
    if isinstance(command, ChangeStockDue):
        current = stock or Stock.new(command.sku)
        delta = max(command.delta, -current.due)  # a cancelled order cannot take due below zero
        reason = command.reason if delta == command.delta else f"{command.reason} (only {current.due} was due)"
        change = Change(location=allocate_at, due_delta=delta, reason=reason)
        after = current.apply(change)
        return Decision(change, after, [level_changed(after, change)])
    if isinstance(command, CountStock):
        current = stock or Stock.new(command.sku)
        _check_location(command.location)
        was = current.at(command.location).on_hand
        difference = command.counted - was
        reason = f"stock count at {command.location}: counted {command.counted}, was {was} ({difference:+d}): " \
                 f"{command.reason}"
        change = Change(location=command.location, on_hand_delta=difference, reason=reason)
        after = current.apply(change)
        return Decision(change, after, [level_changed(after, change)])
    if isinstance(command, TransferStock):
        current = stock or Stock.new(command.sku)
        _check_location(command.to_location)
        if command.from_location == command.to_location:
            raise StockRefused(f"a transfer needs two different locations (both are {command.from_location})")
        out = current.adjust(location=command.from_location, delta=-command.quantity,
                             reason=f"transfer of {command.quantity} to {command.to_location}: {command.reason}")
        after = current.apply(out)
        arrive = ReceiveTransfer(
            sku=command.sku, transfer_id=command_id or uuid.uuid4(), from_location=command.from_location,
            to_location=command.to_location, quantity=command.quantity, reason=command.reason,
            transferred_by=command.transferred_by,
        )
        return Decision(out, after, [level_changed(after, out), arrive])
    if isinstance(command, ReceiveTransfer):
        current = stock or Stock.new(command.sku)
        change = current.adjust(location=command.to_location, delta=command.quantity,
                                reason=f"transfer of {command.quantity} from {command.from_location}: {command.reason}")
        after = current.apply(change)
        return Decision(change, after, [level_changed(after, change)])
    if isinstance(command, ReceiveStock):
        current = stock or Stock.new(command.sku)
        change = current.adjust(location=command.location, delta=command.quantity,
                                reason=f"received on purchase order {command.po_id}")
        change = change.model_copy(update={"due_delta": -min(command.quantity, current.due)})
        after = current.apply(change)
        return Decision(change, after, [level_changed(after, change)])
    if isinstance(command, AdjustStock):
        current = stock or Stock.new(command.sku)
        change = current.adjust(location=command.location, delta=command.delta, reason=command.reason)
        after = current.apply(change)
        return Decision(change, after, [level_changed(after, change)])
    if isinstance(command, AllocateStock):
        if stock is None:
            # An unknown SKU (typo, not stocked yet) is reported short, and no stock item is invented for it.
            change = Change(
                location=DEFAULT_LOCATION,
                reason=f"unknown SKU: {command.quantity} for order {command.order_id} not allocated",
                order_id=command.order_id,
                short=command.quantity,
            )
            allocated = StockAllocated(
                order_id=command.order_id, sku=command.sku, requested=command.quantity, short=command.quantity,
                known_sku=False,
            )
            return Decision(change, None, [allocated])
        change = stock.allocate(order_id=command.order_id, quantity=command.quantity, location=allocate_at)
        after = stock.apply(change)
        allocated = StockAllocated(
            order_id=command.order_id, sku=command.sku, requested=command.quantity, short=change.short
        )
        return Decision(change, after, [level_changed(after, change), allocated])
    if isinstance(command, ShipStock):
        if stock is None:
            change = Change(
                location=DEFAULT_LOCATION,
                reason=f"unknown SKU: shipped {command.quantity} for order {command.order_id}, nothing to take",
                order_id=command.order_id,
            )
            return Decision(change, None, [])
        change = stock.ship(order_id=command.order_id, quantity=command.quantity,
                            location=_held_at(order_allocation, allocate_at))
        after = stock.apply(change)
        return Decision(change, after, [level_changed(after, change)])
    if isinstance(command, ReleaseStock):
        if stock is None:
            change = Change(
                location=DEFAULT_LOCATION,
                reason=f"unknown SKU: released {command.quantity} from order {command.order_id}, nothing allocated",
                order_id=command.order_id,
            )
            return Decision(change, None, [])
        change = stock.release(order_id=command.order_id, quantity=command.quantity,
                               location=_held_at(order_allocation, allocate_at))
        after = stock.apply(change)
        return Decision(change, after, [level_changed(after, change)])
    raise TypeError(f"inventory cannot handle {type(command).__name__}")


def level_changed(stock: Stock, change: Change) -> StockLevelChanged:
    """The event announcing a location's new levels."""
    levels = stock.at(change.location)
    return StockLevelChanged(
        sku=stock.sku,
        location=change.location,
        on_hand=levels.on_hand,
        allocated=levels.allocated,
        available=levels.available,
        reason=change.reason,
        order_id=change.order_id,
        due=stock.due,
    )


class RecordedMessage(BaseModel):
    """One message a ledger entry's command published: the envelope as sent (JSON) and its Kafka key."""

    model_config = ConfigDict(frozen=True)

    envelope: str
    key: str


class LedgerEntry(BaseModel):
    """One handled command of a SKU. Its id is the command's event id, so finding it means "already handled"."""

    model_config = ConfigDict(frozen=True)

    entry_id: uuid.UUID
    sku: str
    seq: int = Field(ge=1, description="Position in the SKU's ledger; unique per SKU.")
    command_type: str
    location: str
    on_hand_delta: int
    allocated_delta: int
    due_delta: int = 0
    reason: str
    order_id: uuid.UUID | None = None
    purchase_order_id: uuid.UUID | None = None
    short: int = Field(0, ge=0, description="Allocation only: how much of it was not available (oversold).")
    by: str | None = None
    at: datetime
    levels: Levels = Field(description="The location's levels after the entry.")
    totals: Levels = Field(description="The SKU's levels over all locations after the entry.")
    due: int | None = Field(
        None, description="The SKU's due after the entry (None in entries from before due was kept).")
    applies_to_stock: bool = Field(
        description="False when the stock document was not written (unknown SKU, refused command)."
    )
    refused: str | None = None
    published: list[RecordedMessage] = Field(default_factory=list)

    def is_pending(self, stock: Stock | None) -> bool:
        """True when the entry changes stock but the stock document does not show it yet (a crash in between)."""
        return self.applies_to_stock and self.seq > (stock.seq if stock else 0)

    def roll_forward(self, stock: Stock | None) -> Stock:
        """The stock document as it should be after this entry."""
        return (stock or Stock.new(self.sku)).with_levels(self.location, self.levels, seq=self.seq, at=self.at,
                                                          due=self.due)


def _check_location(location: str) -> None:
    """Refuse a location name that cannot be a document key."""
    if not re.fullmatch(LOCATION_PATTERN, location):
        raise StockRefused(f"location {location!r} is not a valid name (letters, digits, '_' and '-', up to 50)")


def overselling(on_hand: int, holdings: list[tuple[uuid.UUID, int]]) -> list[tuple[uuid.UUID, int, int]]:
    """The orders that took a SKU below zero available: (order, allocated, short), from its holdings in the order
    they were first allocated. On-hand stock covers the earliest orders; whatever is allocated beyond it is short."""
    result, covered = [], 0
    for order_id, allocated in holdings:
        covered += allocated
        short = min(allocated, covered - on_hand)
        if short > 0:
            result.append((order_id, allocated, short))
    return result
