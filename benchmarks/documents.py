"""Documents per second per core: invoices (WeasyPrint, warm), shipping labels (ZPL, and 4x6 PDF), and whether
memory stays flat over 10,000 renders (issue 9).

    python benchmarks/documents.py [--invoices 2000] [--labels 7800] [--pdf-labels 200] [--json build/bench/documents.json]

Uses the printing service's own renderer (`printing.adapters.renderers.DocumentRenderer`) in this one process, on
one thread. Each rate is renders per CPU second of this process (`time.process_time`): a per-core figure that
other jobs on a shared machine do not divide; the wall-clock rate and the load average are printed beside it.
Each order is different (number, buyer, 1-5 lines), as in real work. The baseline beside the invoice rate is
rendering the same template's text alone (Jinja2, no PDF).

Memory is the process's resident set (VmRSS). The memory check covers every render of the run after the first
200 invoices (one pass over the 200 different orders, which fills the caches): the invoices, then the ZPL labels,
then the PDF labels (defaults: 2,000 + 7,800 + 200 = 10,000 renders, a few minutes; 10,000 invoices alone take
about a quarter of an hour of CPU). So that 2,000 invoices still say something about 10,000, a second check scales
the invoices' own growth (after 200 against after all of them) to 10,000 invoices, against the same limit.

WeasyPrint subsets the embedded fonts with HarfBuzz-Subset (Debian's libharfbuzz-subset0, `make system-deps`)
and falls back to fontTools, about four times slower per invoice, without it; the run says which it used.
"""

import argparse
import gc
import json
import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from oms_contracts.common import OrderLine
from oms_contracts.orders.v1 import OrderSnapshot
from oms_platform.testing import sample_order_details
from printing.adapters.renderers import DocumentRenderer

INVOICE_TARGET = 5.0  # per core, warm (issue 9)
LABEL_TARGET = 200.0
RSS_GROWTH_LIMIT_MB = 20.0  # "flat": what we accept as noise over the run
EARLY = 200  # memory is compared against the RSS after this many renders: one pass over the 200 orders


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def order(n: int) -> OrderSnapshot:
    """The n-th order: its own number, buyer and 1-5 lines."""
    lines = [OrderLine(line_id=str(k), sku=f"SKU-{n % 97:03d}-{k}", title=f"Thing number {k} of order {n}",
                       quantity=1 + k % 3, unit_price=Decimal("4.50") + k) for k in range(1, 2 + n % 5)]
    details = sample_order_details(order_number=f"BE-{n:08d}", lines=lines)
    return OrderSnapshot(order_id=uuid.uuid4(), details=details, opened_at=datetime.now(UTC))


def timed(render, count: int) -> dict:
    """Render `count` documents: rates per CPU second and per wall second, RSS after the first EARLY and after all.

    The first renders fill the caches (fonts, templates, layout, shaped text); what matters is whether memory keeps
    growing after that.
    """
    gc.collect()
    early = None
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(count):
        render(n)
        if n + 1 == min(EARLY, count):
            early = rss_mb()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    gc.collect()
    return {"renders": count, "per_s_per_core": count / cpu if count else 0.0,
            "per_s_wall": count / wall if count else 0.0, "rss_mb_early": early, "rss_mb_after_all": rss_mb()}


def font_subsetting() -> str:
    """Which library WeasyPrint subsets the embedded fonts with in this process."""
    from weasyprint.text.ffi import harfbuzz_subset

    return "HarfBuzz-Subset" if harfbuzz_subset is not None else "fontTools (no libharfbuzz-subset0: make system-deps)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=2_000)
    parser.add_argument("--labels", type=int, default=7_800, help="ZPL labels")
    parser.add_argument("--pdf-labels", type=int, default=200, help="4x6 PDF labels (Code128 + QR)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    renderer = DocumentRenderer(seller_name="OMS Bench")
    orders = [order(n) for n in range(200)]  # built once: we measure rendering, not pydantic

    def invoice(n: int) -> bytes:
        return renderer.invoice_pdf(orders[n % len(orders)])

    def invoice_html(n: int) -> str:
        return renderer.invoice_html(orders[n % len(orders)])

    def label(n: int) -> bytes:
        return renderer.shipping_label_zpl(orders[n % len(orders)], carrier="OMS Post",
                                           tracking_number=f"OM{n:09d}GB")

    def pdf_label(n: int) -> bytes:
        return renderer.shipping_label_pdf(orders[n % len(orders)], carrier="OMS Post",
                                           tracking_number=f"OM{n:09d}GB")

    load_start = os.getloadavg()
    rss_start = rss_mb()
    for n in range(args.warmup):
        invoice(n), label(n), invoice_html(n), pdf_label(n)
    html = timed(invoice_html, max(min(args.invoices, 2000), 200))  # before the memory window: Jinja2 only
    rss_warm = rss_mb()
    # The memory window: RSS after the first EARLY invoices against RSS after every render below.
    invoices = timed(invoice, args.invoices)
    labels = timed(label, args.labels)
    pdf_labels = timed(pdf_label, args.pdf_labels)
    rss_end = rss_mb()
    load_end = os.getloadavg()
    pdf_bytes = len(invoice(0))
    renders = args.invoices + args.labels + args.pdf_labels
    growth = rss_end - invoices["rss_mb_early"]
    invoice_growth = invoices["rss_mb_after_all"] - invoices["rss_mb_early"]
    per_1000 = invoice_growth / (args.invoices - EARLY) * 1000 if args.invoices > EARLY else float("nan")
    result = {
        "cores": os.cpu_count(),
        "load_average_1m": {"start": load_start[0], "end": load_end[0]},
        "font_subsetting": font_subsetting(),
        "invoices": {**invoices, "baseline_html_only_per_s": html["per_s_per_core"], "pdf_bytes": pdf_bytes,
                     "rss_growth_mb": invoice_growth, "rss_growth_mb_per_1000": per_1000},
        "labels": labels,
        "pdf_labels": pdf_labels,
        "memory_window": {"renders": renders, "rss_mb_early": invoices["rss_mb_early"],
                          "rss_mb_after_all": rss_end, "rss_growth_mb": growth},
        "rss_mb": {"start": rss_start, "after_warmup": rss_warm, "end": rss_end},
    }
    early = min(EARLY, args.invoices)
    window = f"{args.invoices} invoices, then {args.labels} ZPL labels, then {args.pdf_labels} PDF labels"
    checks = [
        (f"invoices >= {INVOICE_TARGET:.0f}/s per core (warm, per CPU second)",
         f"{invoices['per_s_per_core']:.1f}/s", invoices["per_s_per_core"] >= INVOICE_TARGET),
        (f"ZPL labels >= {LABEL_TARGET:.0f}/s per core (per CPU second)",
         f"{labels['per_s_per_core']:.0f}/s", labels["per_s_per_core"] >= LABEL_TARGET),
        (f"memory flat: RSS after all {renders} renders - after {early} invoices < {RSS_GROWTH_LIMIT_MB:.0f} MB",
         f"{growth:+.1f} MB", growth < RSS_GROWTH_LIMIT_MB),
        (f"memory flat: invoices' growth {early}->{args.invoices} scaled to 10,000 < {RSS_GROWTH_LIMIT_MB:.0f} MB",
         f"{per_1000 * 10:+.1f} MB" if args.invoices > EARLY else "n/a", per_1000 * 10 < RSS_GROWTH_LIMIT_MB),
    ]
    if renders < 10_000:
        checks.append(("renders in the memory check (issue: 10,000)", f"{renders}", False))
    result["checks"] = [{"target": t, "measured": m, "pass": p} for t, m, p in checks]

    print(f"\nDocuments benchmark, one process on one thread, machine has {os.cpu_count()} cores, load average"
          f" {load_start[0]:.1f} at the start and {load_end[0]:.1f} at the end; fonts subset with {font_subsetting()}")
    print("Rates are per CPU second of this process (per core); wall-clock rates beside them.")
    print(f"Memory check: RSS after the first {early} invoices against RSS after all {renders} renders ({window}).")
    print(f"{'measure':<64} {'value':>14}")
    for name, value in [
        (f"invoices/s, A4 PDF via WeasyPrint ({pdf_bytes // 1024} KB each): CPU / wall",
         f"{invoices['per_s_per_core']:.1f} / {invoices['per_s_wall']:.1f}"),
        ("baseline: invoice HTML only (Jinja2, no layout)/s: CPU / wall",
         f"{html['per_s_per_core']:.0f} / {html['per_s_wall']:.0f}"),
        ("ZPL labels/s: CPU / wall", f"{labels['per_s_per_core']:.0f} / {labels['per_s_wall']:.0f}"),
        ("4x6 PDF labels/s (Code128 + QR): CPU / wall",
         f"{pdf_labels['per_s_per_core']:.1f} / {pdf_labels['per_s_wall']:.1f}"),
        (f"RSS MB after {early} / after {args.invoices} invoices",
         f"{invoices['rss_mb_early']:.0f} / {invoices['rss_mb_after_all']:.0f}"),
        (f"RSS MB after {early} invoices / after all {renders} renders",
         f"{invoices['rss_mb_early']:.0f} / {rss_end:.0f}"),
        ("RSS MB: start / after warm-up / end", f"{rss_start:.0f} / {rss_warm:.0f} / {rss_end:.0f}"),
    ]:
        print(f"{name:<64} {value:>14}")
    print(f"\n{'target (issue 9)':<72} {'measured':>10}  result")
    for target, measured, passed in checks:
        print(f"{target:<72} {measured:>10}  {'PASS' if passed else 'FAIL'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
