"""Documents per second per core: invoices (WeasyPrint, warm), shipping labels (ZPL, and 4x6 PDF), and memory
after 100 renders against memory after all of them (the issue: 10,000 invoices; it must stay flat).

    python benchmarks/documents.py [--invoices 10000] [--labels 10000] [--pdf-labels 200] [--json build/bench/documents.json]

Uses the printing service's own renderer (`printing.adapters.renderers.DocumentRenderer`) in this one process, on
one thread, so each rate is a per-core figure. Each order is different (number, buyer, 1-5 lines), as in real
work. Memory is the process's resident set (VmRSS) after the warm-up and after the renders; the baseline beside
each rate is rendering the same template's text alone (Jinja2, no PDF).
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
EARLY = 100  # memory is compared against the RSS after this many renders


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


def timed(render, count: int, *, start: int = 0) -> tuple[float, float, float]:
    """(renders per second, RSS in MB after the first 100 renders, RSS in MB after all `count`).

    The first 100 renders fill the caches (fonts, templates, layout); what matters is whether memory keeps
    growing after that.
    """
    gc.collect()
    settle = start + min(EARLY, count)
    early = None
    began = time.perf_counter()
    for n in range(start, start + count):
        render(n)
        if n + 1 == settle:
            early = rss_mb()
    seconds = time.perf_counter() - began
    gc.collect()
    return count / seconds, early, rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=10_000, help="invoices to render (the issue asks 10,000)")
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--pdf-labels", type=int, default=200, help="4x6 PDF labels (Code128 + QR) to render")
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

    rss_start = rss_mb()
    for n in range(args.warmup):
        invoice(n), label(n), invoice_html(n), pdf_label(n)
    rss_warm = rss_mb()
    invoices_per_s, invoice_early, invoice_late = timed(invoice, args.invoices)
    invoice_growth = invoice_late - invoice_early
    html_per_s, _, _ = timed(invoice_html, max(min(args.invoices, 2000), 200))
    labels_per_s, label_early, label_late = timed(label, args.labels)
    label_growth = label_late - label_early
    pdf_labels_per_s, _, _ = timed(pdf_label, args.pdf_labels) if args.pdf_labels else (0.0, 0.0, 0.0)
    rss_end = rss_mb()
    pdf_bytes = len(invoice(0))
    result = {
        "cores": os.cpu_count(),
        "invoices": {"renders": args.invoices, "per_s_per_core": invoices_per_s, "baseline_html_only_per_s": html_per_s,
                     "rss_growth_mb": invoice_growth, "pdf_bytes": pdf_bytes,
                     "rss_mb_after_100": invoice_early, "rss_mb_after_all": invoice_late},
        "labels": {"renders": args.labels, "per_s_per_core": labels_per_s, "rss_growth_mb": label_growth,
                   "rss_mb_after_100": label_early, "rss_mb_after_all": label_late},
        "pdf_labels": {"renders": args.pdf_labels, "per_s_per_core": pdf_labels_per_s},
        "rss_mb": {"start": rss_start, "after_warmup": rss_warm, "end": rss_end},
    }
    checks = [
        (f"invoices >= {INVOICE_TARGET:.0f}/s per core (warm)", f"{invoices_per_s:.1f}/s", invoices_per_s >= INVOICE_TARGET),
        (f"ZPL labels >= {LABEL_TARGET:.0f}/s per core", f"{labels_per_s:.0f}/s", labels_per_s >= LABEL_TARGET),
        (f"memory flat: RSS after {args.invoices} invoices - after {EARLY} < {RSS_GROWTH_LIMIT_MB:.0f} MB",
         f"{invoice_growth:+.1f} MB", invoice_growth < RSS_GROWTH_LIMIT_MB),
        (f"memory flat: RSS after {args.labels} labels - after {EARLY} < {RSS_GROWTH_LIMIT_MB:.0f} MB",
         f"{label_growth:+.1f} MB", label_growth < RSS_GROWTH_LIMIT_MB),
    ]
    if args.invoices < 10_000:
        checks.append(("invoices rendered for the memory check (issue: 10,000)", f"{args.invoices}", False))
    result["checks"] = [{"target": t, "measured": m, "pass": p} for t, m, p in checks]

    print(f"\nDocuments benchmark, one process on one thread (per core), machine has {os.cpu_count()} cores")
    print(f"{'measure':<56} {'value':>14}")
    for name, value in [
        (f"invoices/s, A4 PDF via WeasyPrint ({pdf_bytes // 1024} KB each)", f"{invoices_per_s:.1f}"),
        ("baseline: invoice HTML only (Jinja2, no layout)/s", f"{html_per_s:.0f}"),
        ("ZPL labels/s", f"{labels_per_s:.0f}"),
        ("4x6 PDF labels/s (Code128 + QR)", f"{pdf_labels_per_s:.1f}"),
        (f"RSS MB after {min(EARLY, args.invoices)} / after {args.invoices} invoices",
         f"{invoice_early:.0f} / {invoice_late:.0f}"),
        (f"RSS MB after {min(EARLY, args.labels)} / after {args.labels} labels", f"{label_early:.0f} / {label_late:.0f}"),
        ("RSS MB: start / after warm-up / end", f"{rss_start:.0f} / {rss_warm:.0f} / {rss_end:.0f}"),
    ]:
        print(f"{name:<56} {value:>14}")
    print(f"\n{'target (issue 9)':<72} {'measured':>10}  result")
    for target, measured, passed in checks:
        print(f"{target:<72} {measured:>10}  {'PASS' if passed else 'FAIL'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
