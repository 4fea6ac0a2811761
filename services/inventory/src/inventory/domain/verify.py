"""Recompute a SKU's levels from its ledger and compare them with the stored stock ("stock is conserved")."""

from pydantic import BaseModel, ConfigDict, Field

from inventory.domain.model import LedgerEntry, Levels, Stock


class LocationCheck(BaseModel):
    """One location: the stored levels next to the ledger's sum."""

    model_config = ConfigDict(frozen=True)

    location: str
    stored: Levels
    recomputed: Levels
    consistent: bool


class LedgerCheck(BaseModel):
    """The verdict for one SKU: consistent when every location's stored levels equal the ledger's sum."""

    model_config = ConfigDict(frozen=True)

    sku: str
    consistent: bool
    entries: int = Field(description="Ledger entries read.")
    stored_seq: int
    ledger_seq: int
    locations: list[LocationCheck]
    due_stored: int = Field(0, description="The SKU's stored due on open purchase orders.")
    due_recomputed: int = Field(0, description="The sum of the ledger's due changes.")


def recompute_due(entries: list[LedgerEntry]) -> int:
    """The SKU's due as the sum of the due changes of every entry that changed stock."""
    return sum(entry.due_delta for entry in entries if entry.applies_to_stock)


def recompute(entries: list[LedgerEntry]) -> dict[str, Levels]:
    """Levels per location as the sum of the deltas of every entry that changed stock."""
    sums: dict[str, tuple[int, int]] = {}
    for entry in entries:
        if not entry.applies_to_stock:
            continue
        on_hand, allocated = sums.get(entry.location, (0, 0))
        sums[entry.location] = (on_hand + entry.on_hand_delta, allocated + entry.allocated_delta)
    return {location: Levels(on_hand=on_hand, allocated=allocated) for location, (on_hand, allocated) in sums.items()}


def verify(sku: str, stock: Stock | None, entries: list[LedgerEntry]) -> LedgerCheck:
    """Compare stored levels (and due) with their recomputation; also inconsistent when a level is negative."""
    recomputed = recompute(entries)
    due_stored, due_recomputed = (stock.due if stock else 0), recompute_due(entries)
    stored = stock.locations if stock else {}
    checks = []
    for location in sorted(set(stored) | set(recomputed)):
        have, want = stored.get(location, Levels()), recomputed.get(location, Levels())
        ok = have == want and have.on_hand >= 0 and have.allocated >= 0
        checks.append(LocationCheck(location=location, stored=have, recomputed=want, consistent=ok))
    return LedgerCheck(
        sku=sku,
        consistent=all(check.consistent for check in checks) and due_stored == due_recomputed >= 0,
        entries=len(entries),
        stored_seq=stock.seq if stock else 0,
        ledger_seq=max((entry.seq for entry in entries), default=0),
        locations=checks,
        due_stored=due_stored,
        due_recomputed=due_recomputed,
    )
