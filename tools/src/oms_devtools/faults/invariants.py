"""The four invariants a fault must not break, checked by reading the services' databases and the printer's spool.

1. no accepted order lost: every webhook answered 2xx has its order in the order book;
2. no order duplicated: one order per channel order id, one allocation and one shipment per (order, SKU) in the
   stock ledger;
3. stock conserved: each SKU's levels equal the sum of its ledger entries, and (once every order is processed)
   on_hand = opening stock - what shipped, allocated = 0;
4. each print job printed once: per processed order, one invoice and one label reached the printer (a second copy
   is allowed only for a job that was in flight at the fault: its document shows more than one attempt, or it was
   rendered and not yet settled when the fault stopped the printing worker, `Harness.in_flight_jobs`).
"""

import re
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from oms_devtools.faults.harness import Harness, Sent, order_id


@dataclass
class Verdict:
    """One invariant's result and, when it failed, a few examples why."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class SpoolIndex:
    """Which order numbers each printed file mentions (PDFs read with pdftotext), remembered between checks."""

    directory: Path
    pattern: re.Pattern
    seen: dict[Path, tuple[str, list[str]]] = field(default_factory=dict)

    def refresh(self) -> None:
        for path in sorted(self.directory.glob("job-*")):
            if path in self.seen:
                continue
            if path.suffix == ".pdf":
                text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=False).stdout
                kind = "invoice"
            else:
                text = path.read_text(errors="replace")
                kind = "label" if path.suffix == ".zpl" else "other"
            self.seen[path] = (kind, sorted(set(self.pattern.findall(text))))

    def counts(self) -> Counter:
        """(kind, order number) → how many files printed it."""
        self.refresh()
        return Counter((kind, number) for kind, numbers in self.seen.values() for number in numbers)


async def check(harness: Harness, *, sent: list[Sent], skus: list[str], opening: int, spool: SpoolIndex,
                expect_processed: bool) -> list[Verdict]:
    """The four invariants over the orders of one phase."""
    accepted = {s.webhook.channel_order_id: s.webhook for s in sent if s.accepted}
    ids = {order_id(c): w for c, w in accepted.items()}
    orders = harness.db("orders")["orders"]
    docs = await orders.find({"_id": {"$in": list(ids)}}, {"status": 1, "order.details": 1}).to_list(None)
    found = {d["_id"]: d for d in docs}
    lost = [ids[i].order_number for i in ids if i not in found]
    verdicts = [Verdict("no accepted order lost", not lost,
                        f"{len(lost)} of {len(ids)} missing, e.g. {lost[:3]}" if lost else f"{len(ids)} accepted")]

    # Duplicates: by channel identity in the order book, and by effect in the stock ledger.
    per_channel_id = Counter()
    async for d in orders.find({"order.details.channel": "shopify",
                                "order.details.channel_order_id": {"$in": list(accepted)}},
                               {"order.details.channel_order_id": 1}):
        per_channel_id[d["order"]["details"]["channel_order_id"]] += 1
    ledger = harness.db("inventory")["ledger"]
    entries = await ledger.find({"sku": {"$in": skus}}).to_list(None)
    effects = Counter((e.get("command_type"), e.get("order_id"), e["sku"]) for e in entries
                      if e.get("order_id") and e.get("applies_to_stock"))
    twice = [k for k, n in per_channel_id.items() if n > 1] + [
        f"{t} {o[:8]} {s}" for (t, o, s), n in effects.items()
        if n > 1 and t in ("inventory.allocate_stock", "inventory.ship_stock")]
    verdicts.append(Verdict("no order duplicated", not twice,
                            f"{len(twice)} duplicated, e.g. {twice[:3]}" if twice else ""))

    # Stock conservation.
    by_sku = defaultdict(lambda: [0, 0, 0])
    for e in entries:
        if e.get("applies_to_stock"):
            totals = by_sku[e["sku"]]
            totals[0] += e["on_hand_delta"]
            totals[1] += e["allocated_delta"]
            totals[2] = max(totals[2], e["seq"])
    stock = {d["_id"]: d for d in await harness.db("inventory")["stock"].find({"_id": {"$in": skus}}).to_list(None)}
    wrong = []
    for sku in skus:
        doc = stock.get(sku, {})
        on_hand, allocated, seq = by_sku[sku]
        if (doc.get("on_hand"), doc.get("allocated"), doc.get("seq")) != (on_hand, allocated, seq):
            wrong.append(f"{sku}: on_hand/allocated/seq {doc.get('on_hand')}/{doc.get('allocated')}/{doc.get('seq')}"
                         f" vs ledger {on_hand}/{allocated}/{seq}")
    if expect_processed and not wrong:
        shipped = Counter()
        for d in docs:
            if d.get("status") == "processed":
                for line in d["order"]["details"]["lines"]:
                    shipped[line["sku"]] += line["quantity"]
        all_processed = all(d.get("status") == "processed" for d in docs)
        for sku in skus:
            doc = stock.get(sku, {})
            if doc.get("on_hand") != opening - shipped[sku] or (all_processed and doc.get("allocated") != 0):
                wrong.append(f"{sku}: on_hand {doc.get('on_hand')} allocated {doc.get('allocated')}, expected "
                             f"{opening - shipped[sku]} and 0 after shipping {shipped[sku]}")
    verdicts.append(Verdict("stock conserved", not wrong, "; ".join(wrong[:3])))

    # Printing: once per job.
    processed = [d for d in docs if d.get("status") == "processed"]
    counts = spool.counts()
    jobs = defaultdict(list)
    async for job in harness.db("printing")["print_jobs"].find({"order_id": {"$in": [d["_id"] for d in processed]}},
                                                               {"job": 1, "order_id": 1}):
        jobs[job["order_id"]].append({**job["job"], "in_flight": str(job["_id"]) in harness.in_flight_jobs})
    bad, twice = [], []
    for d in processed:
        number = d["order"]["details"]["order_number"]
        retried = {j["document_type"] for j in jobs[d["_id"]] if j.get("attempts", 1) > 1 or j["in_flight"]}
        for kind, document_type in (("invoice", "invoice"), ("label", "shipping_label")):
            n = counts[(kind, number)]
            if n != 1 and not (n == 2 and document_type in retried):
                bad.append(f"{number} {kind} printed {n}x")
            elif n == 2:
                twice.append(f"{number} {kind}")
    not_processed = len(docs) - len(processed)
    detail = f"{len(processed)} orders x 2 documents" + (
        f"; {len(twice)} printed twice, each in flight at the fault ({', '.join(twice[:3])})" if twice else "")
    if expect_processed and not_processed:
        bad.append(f"{not_processed} orders never processed")
    verdicts.append(Verdict("each print job printed once", not bad,
                            f"{len(bad)} problems, e.g. {bad[:3]}" if bad else detail))
    return verdicts
