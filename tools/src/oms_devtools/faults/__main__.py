"""`make faults`: steady load through the whole OMS, one fault per phase, then the four invariants.

    python -m oms_devtools.faults [--faults none,kill-orders-worker,...] [--rate 4] [--seconds 30]

Needs KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL, and OMS_INFRA_DIR (+ its ports) of that infrastructure for the
Kafka fault. Each phase has its own SKUs and orders: Shopify webhooks at `rate`/s for `seconds`, a clerk that
processes every allocated order (so invoices and labels print), the fault a third of the way in; then it waits
until every accepted order is processed and printed (or the deadline), and checks the invariants.
"""

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from oms_devtools.faults import injectors
from oms_devtools.faults.harness import REPO, Harness, Sent, order_id
from oms_devtools.faults.invariants import SpoolIndex, Verdict, check

OPENING_STOCK = 100_000


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def no_fault(harness: Harness) -> str:
    return "nothing broken (control)"


# name → (inject, webhook copies)
FAULTS: dict[str, tuple[Callable[[Harness], Awaitable[str]], int]] = {
    "none": (no_fault, 1),
    "kill-orders-worker": (lambda h: injectors.kill_and_restart(h, "orders", "worker"), 1),
    "kill-inventory-worker": (lambda h: injectors.kill_and_restart(h, "inventory", "worker"), 1),
    "kill-fulfilment-worker": (lambda h: injectors.kill_and_restart(h, "fulfilment", "worker"), 1),
    "kill-printing-worker": (lambda h: injectors.kill_and_restart(h, "printing", "worker"), 1),
    "kill-ingest-api": (lambda h: injectors.kill_and_restart(h, "ingest", "api"), 1),
    "kafka-restart": (injectors.kafka_restart, 1),
    "poison-every-topic": (injectors.poison_every_topic, 1),
    "same-webhook-3x": (no_fault, 3),
}
DEFAULT = "none,kill-orders-worker,kill-inventory-worker,kafka-restart,poison-every-topic,same-webhook-3x"


async def clerk(harness: Harness, sent: list[Sent], stop: asyncio.Event, asked: dict[str, float]) -> None:
    """Process every order of the phase once it is open with its stock allocated (again if it stays open 60 s)."""
    orders = harness.db("orders")["orders"]
    async with httpx.AsyncClient(headers=harness.ops_headers(), timeout=20) as http:
        while not stop.is_set():
            ids = [order_id(s.webhook.channel_order_id) for s in list(sent) if s.accepted]
            ready = []
            for start in range(0, len(ids), 500):
                async for doc in orders.find({"_id": {"$in": ids[start:start + 500]}, "status": "open"},
                                             {"order.timeline.what": 1}):
                    allocated = any(e.get("what") == "stock allocated" for e in doc["order"]["timeline"])
                    if allocated and time.monotonic() - asked.get(doc["_id"], -1e9) > 60:
                        ready.append(doc["_id"])
            for oid in ready:
                asked[oid] = time.monotonic()
                try:
                    await http.post(f"{harness.url('orders')}/orders/{oid}/process")
                except httpx.HTTPError:
                    pass  # a clerk presses again later
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass


async def settled(harness: Harness, sent: list[Sent], timeout: float) -> tuple[bool, str]:
    """Wait until every accepted order is processed and its print jobs are printed."""
    ids = list({order_id(s.webhook.channel_order_id) for s in sent if s.accepted})
    orders, jobs = harness.db("orders")["orders"], harness.db("printing")["print_jobs"]
    deadline = time.monotonic() + timeout
    while True:
        processed = await orders.count_documents({"_id": {"$in": ids}, "status": "processed"})
        printed = await jobs.count_documents({"order_id": {"$in": ids}, "state": "printed"})
        state = f"{processed}/{len(ids)} processed, {printed}/{2 * len(ids)} documents printed"
        if processed == len(ids) and printed >= 2 * len(ids):
            return True, state
        if time.monotonic() > deadline:
            return False, state
        await asyncio.sleep(2)


async def run_phase(harness: Harness, name: str, args, spool: SpoolIndex) -> dict:
    inject, copies = FAULTS[name]
    tag = re.sub(r"[^A-Za-z0-9]", "", name)[:10].upper()
    skus = [f"F{harness.run_id}-{tag}-{n}" for n in range(3)]
    await harness.seed_stock(skus, OPENING_STOCK)
    source = harness.orders_source(skus=skus, prefix=f"F{harness.run_id}{tag}")
    sent: list[Sent] = []
    stop, asked = asyncio.Event(), {}
    dlq_before = await injectors.dlq_ends(harness.kafka) if name == "poison-every-topic" else None

    async def load() -> None:
        await harness.drive(source, rate=args.rate, seconds=args.seconds, copies=copies, results=sent)

    async def fault() -> str:
        await asyncio.sleep(args.seconds / 3)
        return await inject(harness)

    say(f"[{name}] load {args.rate}/s for {args.seconds}s, fault at {args.seconds / 3:.0f}s")
    clerk_task = asyncio.create_task(clerk(harness, sent, stop, asked))
    began = time.monotonic()
    _, what = await asyncio.gather(load(), fault())
    say(f"[{name}] {what}; waiting for the backlog")
    done, state = await settled(harness, sent, args.settle_timeout)
    stop.set()
    await clerk_task
    await asyncio.sleep(3)  # a straggling duplicate print would land now
    say(f"[{name}] {state} after {time.monotonic() - began:.0f}s")
    verdicts = await check(harness, sent=sent, skus=skus, opening=OPENING_STOCK, spool=spool, expect_processed=True)
    extra = []
    if dlq_before is not None:
        dlq_after = await injectors.dlq_ends(harness.kafka)
        short = [t for t in dlq_after if dlq_after[t] - dlq_before.get(t, 0) < len(injectors.poison_records())]
        added = sum(dlq_after.values()) - sum(dlq_before.values())
        extra.append(Verdict("poison in every DLQ", not short,
                             f"too few dead letters on {short}" if short else f"{added} dead letters"))
    died = [p.name for p in harness.system.processes if p.process.poll() is not None]
    for p in list(harness.system.processes):
        if p.process.poll() is not None:
            harness.restart(p.service, p.role)  # so the next phase runs on a whole system
    if died:
        extra.append(Verdict("no process died", False, f"exited: {died} (restarted)"))
    answers = [s for s in sent if not s.accepted]
    return {
        "fault": name, "what": what, "orders": len({s.webhook.channel_order_id for s in sent}),
        "deliveries": len(sent), "not_accepted": len(answers),
        "settled": done, "state": state,
        "verdicts": [vars(v) for v in verdicts + extra],
        "pass": done and all(v.passed for v in verdicts + extra),
    }


async def main_async(args) -> list[dict]:
    work_dir = Path(args.work_dir) / time.strftime("%Y%m%d-%H%M%S")
    harness = Harness(work_dir=work_dir, port_base=args.port_base, extra_env={
        # The re-publisher sends intakes a Kafka outage left 'received'; soon, so a phase can settle.
        "INGEST_REPUBLISH_AFTER_SECONDS": "20", "INGEST_REPUBLISH_EVERY_SECONDS": "2",
    })
    say(f"faults: starting the services (ports {args.port_base + 1}-{args.port_base + 5}), logs in {work_dir}")
    harness.start()
    spool = SpoolIndex(harness.spool, re.compile(r"#F" + harness.run_id + r"[A-Z0-9]*-\d{6}"))
    results = []
    try:
        for name in args.faults.split(","):
            try:
                results.append(await run_phase(harness, name.strip(), args, spool))
            except Exception as exc:  # noqa: BLE001 - one broken phase must not hide the others' results
                results.append({"fault": name, "what": f"harness error: {type(exc).__name__}: {exc}",
                                "verdicts": [], "pass": False, "settled": False, "state": ""})
    finally:
        await harness.close(drop=not args.keep)
    return results


def print_table(results: list[dict]) -> None:
    names = ["no accepted order lost", "no order duplicated", "stock conserved", "each print job printed once"]
    print(f"\nFault injection on {os.cpu_count()} cores")
    heads = ["none lost", "none duplicated", "stock conserved", "printed once"]
    print(f"{'fault':<24} {'orders':>6} {'settled':>8}  " + "  ".join(f"{h:<15}" for h in heads) + "  result")
    for r in results:
        verdicts = {v["name"]: v for v in r["verdicts"]}
        cells = ["PASS" if verdicts.get(n, {}).get("passed") else ("FAIL" if n in verdicts else "-") for n in names]
        print(f"{r['fault']:<24} {r.get('orders', 0):>6} {'yes' if r['settled'] else 'NO':>8}  "
              + "  ".join(f"{c:<15}" for c in cells) + f"  {'PASS' if r['pass'] else 'FAIL'}")
    print()
    for r in results:
        print(f"{r['fault']}: {r['what']}; {r['state']}")
        for v in r["verdicts"]:
            if not v["passed"] or v["name"] not in names:
                print(f"    {'PASS' if v['passed'] else 'FAIL'} {v['name']}: {v['detail']}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="oms_devtools.faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", default=DEFAULT, help=f"comma-separated, from: {', '.join(FAULTS)}")
    parser.add_argument("--rate", type=float, default=4.0, help="orders per second during a phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load of a phase")
    parser.add_argument("--settle-timeout", type=float, default=240.0)
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("OMS_FAULTS_PORT_BASE", "28200")))
    parser.add_argument("--work-dir", default=str(REPO / "build" / "faults"))
    parser.add_argument("--json", type=Path, default=REPO / "build" / "faults" / "results.json")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases")
    args = parser.parse_args()
    unknown = [f for f in args.faults.split(",") if f.strip() not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    results = asyncio.run(main_async(args))
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=2, default=str))
    sys.exit(0 if all(r["pass"] for r in results) else 1)


if __name__ == "__main__":
    main()
