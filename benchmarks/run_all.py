"""`make bench`: every benchmark in turn, then one table of the figures and build/bench/results.json.

    python benchmarks/run_all.py [--short] [--only pipeline,documents,orders_list,webhooks]

Needs KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL (`make bench` starts infrastructure of its own and sets them).
--short runs each benchmark for seconds instead of minutes: for trying the scripts, not for quoting figures.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "build" / "bench"

FULL = {
    "pipeline": ["--rate", "60", "--seconds", "180", "--burst"],
    "documents": ["--invoices", "2000", "--labels", "7800", "--pdf-labels", "200"],
    "orders_list": ["--orders", "100000", "--runs", "40"],
    "webhooks": ["--rate", "30", "--seconds", "60", "--burst-seconds", "10"],
}
SHORT = {
    "pipeline": ["--rate", "10", "--seconds", "15", "--burst", "--burst-seconds", "3", "--drain-timeout", "150"],
    "documents": ["--invoices", "250", "--labels", "2000", "--pdf-labels", "20"],
    "orders_list": ["--orders", "5000", "--runs", "10"],
    "webhooks": ["--rate", "5", "--seconds", "10", "--burst-seconds", "2", "--drain-timeout", "150"],
}


def rows(name: str, r: dict) -> list[tuple[str, str, str, str]]:
    """(measure, value, baseline beside it, target result) rows of one benchmark's JSON."""
    if name == "pipeline":
        s, b = r["steady"], r["baseline"]
        out = [
            ("pipeline orders/s, webhook -> allocated", f"{s['orders_per_s']:.1f}",
             f"raw {b['orders_per_s']:.1f}/s", ""),
            ("webhook answer p50 / p99 ms", f"{s['answer_p50_ms']:.0f} / {s['answer_p99_ms']:.0f}", "", ""),
            ("end-to-end p50 / p99 ms", _pair(s["e2e_p50_ms"], s["e2e_p99_ms"]), "", ""),
        ]
        cpu = s.get("cpu_ms_per_order", {})
        if cpu:
            top = sorted(cpu.items(), key=lambda item: -item[1])[:3]
            out.append(("CPU ms/order, all (" + ", ".join(f"{n} {ms:.0f}" for n, ms in top) + ")",
                        f"{sum(cpu.values()):.0f}", "", ""))
        if "burst" in r:
            u = r["burst"]
            out.append((f"burst {u['rate']:.0f}/s x {u['seconds']:.0f}s: answer p99 / max ms",
                        f"{u['answer_p99_ms']:.0f} / {u['answer_max_ms']:.0f}", "", ""))
    elif name == "documents":
        i, label = r["invoices"], r["labels"]
        rss = r["rss_mb"]
        out = [
            ("invoices/s per core (WeasyPrint, warm)", f"{i['per_s_per_core']:.1f}",
             f"HTML only {i['baseline_html_only_per_s']:.0f}/s", ""),
            ("ZPL labels/s per core", f"{label['per_s_per_core']:.0f}", "", ""),
            (f"RSS MB start / warm / after {r.get('memory_window', {}).get('renders', i['renders'] + label['renders'])} "
             "renders",
             f"{rss['start']:.0f} / {rss['after_warmup']:.0f} / {rss['end']:.0f}", "", ""),
        ]
    elif name == "webhooks":
        base = r["baseline"]["orders_per_s"]
        out = []
        for phase in ("steady", "burst"):
            p = r[phase]
            raw = r["baseline"].get("raw_accept", {}).get(phase)
            out += [(f"{phase} {p['rate']:.0f}/s: webhooks accepted/s", f"{p['accepted_per_s']:.1f}",
                     f"raw {raw['accepted_per_s']:.1f}/s" if raw else "", ""),
                    (f"{phase} {p['rate']:.0f}/s: webhook answer p99 ms", "n/a" if p["answer_p99_ms"] is None else f"{p['answer_p99_ms']:.0f}",
                     f"raw {raw['answer_p99_ms']:.0f} ms" if raw and raw["answer_p99_ms"] is not None else "", ""),
                    (f"{phase} {p['rate']:.0f}/s: webhook -> Open Order p50 / p99 ms",
                     _pair(p["open_p50_ms"], p["open_p99_ms"]), f"raw I/O {base:.1f} orders/s" if base else "", "")]
    else:
        q = r["queries"]
        base = q["baseline: one order by id"]["p50_ms"]
        out = [(f"{k} p50 ms ({r['orders']:,} orders)", f"{v['p50_ms']:.1f}", f"by id {base:.1f} ms", "")
               for k, v in q.items() if not k.startswith("baseline")]
    out += [(f"target: {c['target']}", c["measured"], "", "PASS" if c["pass"] else "FAIL") for c in r.get("checks", [])]
    return out


def _pair(a, b) -> str:
    return "n/a" if a is None else f"{a:.0f} / {b:.0f}"


# The benchmarks that start the services on the local infrastructure (`make bench`'s own), each on a fresh one.
FRESH_INFRA = {"pipeline", "orders_list", "webhooks"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="seconds, not minutes (figures not for quoting)")
    parser.add_argument("--only", default="pipeline,documents,orders_list,webhooks")
    args = parser.parse_args()
    plan = SHORT if args.short else FULL
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"cores": os.cpu_count(), "short": args.short, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                              time.gmtime())}
    failed = []
    for name in args.only.split(","):
        target = OUT / f"{name}.json"
        target.unlink(missing_ok=True)
        if name in FRESH_INFRA:
            # The services use the same consumer groups in every benchmark: a backlog the previous one left (the
            # pipeline at 60/s does not drain) would be read by this one's services, behind its own orders.
            subprocess.run([sys.executable, str(REPO / "infra" / "omsinfra.py"), "up", "--reset"], check=True)
        command = [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), *plan[name], "--json", str(target)]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        if subprocess.run(command, check=False).returncode != 0 or not target.exists():
            failed.append(name)
            continue
        results[name] = json.loads(target.read_text())
    (OUT / "results.json").write_text(json.dumps(results, indent=2))

    kind = "SHORT run (seconds per benchmark; not for quoting)" if args.short else "full run"
    print(f"\n\nBenchmarks, {kind}, {os.cpu_count()} cores, {results['started']}")
    print(f"| {'benchmark':<11} | {'measure':<66} | {'value':>15} | {'baseline, same run':<20} | result |")
    print(f"|{'-' * 13}|{'-' * 68}|{'-' * 17}|{'-' * 22}|--------|")
    for name in args.only.split(","):
        if name in failed:
            print(f"| {name:<11} | {'(the benchmark failed: see its output above)':<66} | {'':>15} | {'':<20} | FAIL   |")
            continue
        for measure, value, baseline, verdict in rows(name, results[name]):
            print(f"| {name:<11} | {measure[:66]:<66} | {value:>15} | {baseline:<20} | {verdict:<6} |")
    print(f"\nwritten: {OUT / 'results.json'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
