"""Open Orders list latency at scale: p50/p95 of the list staff use, against a lookup by id in the same run.

    python benchmarks/orders_list.py [--orders 100000] [--runs 40] [--budget 60] [--json build/bench/orders_list.json]
                                     [--keep bench_orders_100k]

Needs MONGODB_URL (`make bench` sets it from the local infrastructure). Fills a throwaway database with open orders
shaped exactly as the orders service stores them (same list fields, same indexes; `insert_many` in batches of
1,000, not one API call per order), times the repository's own list, count and grid-count calls (and a list page
with its total, as GET /orders answers), prints the figures with the machine's cores and load, and each query's
plan (the server's `explain`: the index a MongoDB server picks, or FerretDB's SQLite plan and whether it pushed the
filter down; our FerretDB build also reads sorted lists in index order, which its explain does not show), and
drops the database. `--keep NAME` uses and keeps that database instead (filled only if it does not hold
`--orders` orders), so a second run skips the loading.
A query stops after `--budget` seconds of samples (at least 3, or 1 after twice the budget), so a server that
scans stays measurable.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_platform.mongo import mongo_client
from orders.adapters.repository import SORTS, MongoOrderRepository, OrderFilter, filter_query, list_fields
from orders.domain.model import Order, SkuAllocation

CHANNELS = ["ebay", "amazon", "magento", "woocommerce", "shopify", "phone"]
COUNTRIES = ["GB", "DE", "FR", "US", "NL", "IE"]
TAGS = ["vip", "gift", "wholesale", "fragile", "repeat"]
FOLDERS = [None, None, None, "b2b", "returns-desk", "priority"]
NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov",
         "Margaret Hamilton", "Donald Knuth", "Frances Allen", "Tim Berners-Lee"]


def make_document(n: int, rng: random.Random, start: datetime) -> dict:
    """One order document as the orders worker writes it."""
    channel = rng.choice(CHANNELS)
    name = f"{rng.choice(NAMES)} {n}"
    details = OrderDetails(
        channel=channel,
        channel_order_id=f"{n:08d}",
        order_number=f"{channel[:2].upper()}-{n:08d}",
        buyer=Buyer(name=name, email=f"buyer{n}@example.org"),
        shipping_address=Address(name=name, line1=f"{n} High Street", city="Town",
                                 postcode=f"PC{n % 9999:04d}", country=rng.choice(COUNTRIES)),
        lines=[OrderLine(line_id="1", sku=f"SKU-{rng.randrange(2000):04d}", title="Thing", quantity=1,
                         unit_price=Decimal("9.99"))],
        shipping=Shipping(service="Standard"),
        currency="GBP",
        paid=rng.random() < 0.8,
    )
    order = Order(order_id=uuid.uuid4(), details=details, source="channel",
                  opened_at=start + timedelta(seconds=n),
                  tags=sorted(rng.sample(TAGS, k=rng.choice((0, 0, 0, 1, 2)))), folder=rng.choice(FOLDERS),
                  parked=rng.random() < 0.05)
    short = 1 if rng.random() < 0.1 else 0  # one order in ten is out of stock
    order.allocations = {line.sku: SkuAllocation(requested=line.quantity, short=short) for line in details.lines}
    return {"_id": str(order.order_id), "version": 1, "handled": {}, **list_fields(order),
            "order": order.model_dump(mode="json")}


async def timed(call, runs: int, budget: float) -> list[float]:
    """Milliseconds per call, over `runs` calls or until `budget` seconds are spent (at least 3 calls, or 1 call
    once twice the budget is spent)."""
    samples: list[float] = []
    spent = time.perf_counter()
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
        elapsed = time.perf_counter() - spent
        if (len(samples) >= 3 and elapsed > budget) or elapsed > 2 * budget:
            break
    return samples


def p(samples: list[float], q: int) -> float:
    """The q-th percentile (inclusive, so three samples give a figure; one sample is its own figure)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


async def explain(repo: MongoOrderRepository, where: OrderFilter, sort: str = "newest", limit: int = 50) -> str:
    """How the server runs the list query: MongoDB's winning plan (stages, index), or FerretDB's SQLite plan."""
    field, direction = SORTS[sort]
    answer = await repo.orders.database.command("explain", {
        "find": repo.orders.name, "filter": filter_query(where), "sort": {field: direction, "_id": direction},
        "limit": limit})
    planner = answer.get("queryPlanner", {})
    if "winningPlan" in planner:
        return " <- ".join(_stages(planner["winningPlan"]))
    pushed = ", ".join(f"{k}={answer[k]}" for k in ("filterPushdown", "sortPushdown", "limitPushdown") if k in answer)
    return f"{'; '.join(map(str, planner.get('Plan', [])))} ({pushed})"


def _stages(plan: dict) -> list[str]:
    """A MongoDB plan as its stages, outermost first, with the index each IXSCAN uses."""
    stage = plan.get("stage", "?") + (f"[{plan['indexName']}]" if "indexName" in plan else "")
    inner = plan.get("inputStage") or (plan.get("inputStages") or [None])[0]
    return [stage, *(_stages(inner) if inner else [])]


async def main(orders: int, runs: int, budget: float, keep: str | None = None, grid: bool = True) -> dict:
    client = mongo_client(os.environ["MONGODB_URL"])
    db_name = keep or f"bench_orders_{uuid.uuid4().hex[:6]}"
    repo = MongoOrderRepository(client[db_name])
    print(f"{os.cpu_count()} cores, load average {load()} (1/5/15 min)")
    loads = [os.getloadavg()[0]]
    try:
        if keep and await repo.orders.count_documents({}) != orders:
            await client.drop_database(db_name)
        ids = [d["_id"] async for d in repo.orders.find({}, {"_id": 1}).limit(5000)]
        if len(ids) < min(orders, 5000):
            await repo.create_indexes()
            rng = random.Random(42)
            start = datetime(2026, 11, 1, tzinfo=UTC)
            began = time.perf_counter()
            ids = []
            for batch_start in range(0, orders, 1000):
                docs = [make_document(n, rng, start) for n in range(batch_start, min(orders, batch_start + 1000))]
                ids.extend(d["_id"] for d in docs[:50])
                await repo.orders.insert_many(docs, ordered=False)
            print(f"loaded {orders:,} open orders in {time.perf_counter() - began:.1f}s (load {load()})")
        else:
            print(f"using the {orders:,} orders already in {db_name}")
        rng = random.Random(7)

        two_filters_and_text = OrderFilter(status="open", channel="ebay", paid=True, text="hopper")
        open_orders = OrderFilter(status="open")
        lists = {
            "list newest 50, no filter": open_orders,
            "list 50: channel + paid + free text": two_filters_and_text,
            "list 50: tag + folder": OrderFilter(status="open", tag="vip", folder="b2b"),
            "list 50: out of stock + country": OrderFilter(status="open", out_of_stock=True, country="DE"),
        }
        async def page_with_total(where: OrderFilter) -> None:
            """What GET /orders does for one page: the page and the total of the filter."""
            await repo.list(where=where, limit=51)
            await repo.count(where=where)

        cases = {
            **{name: (lambda where=where: repo.list(where=where, limit=50)) for name, where in lists.items()},
            "count: open orders (no filter)": lambda: repo.count(where=open_orders),
            "count: channel + paid + free text": lambda: repo.count(where=two_filters_and_text),
            "page + total: no filter": lambda: page_with_total(open_orders),
            "page + total: channel + paid + free text": lambda: page_with_total(two_filters_and_text),
            "grid counts (7 filters) of open orders": lambda: repo.counts(where=open_orders),
        }
        if not grid:
            del cases["grid counts (7 filters) of open orders"]
        # The baseline runs last: a server's first queries may set it up (our FerretDB build refreshes its SQLite
        # statistics in the background), which would slow a baseline taken first.
        cases["baseline: one order by id"] = lambda: repo.get(uuid.UUID(rng.choice(ids)))
        plans = {name: await explain(repo, where) for name, where in lists.items()}
        results = {}
        for name, call in cases.items():
            results[name] = await timed(call, runs, budget)
            loads.append(os.getloadavg()[0])
            print(f"  {name}: {len(results[name])} runs, p50 {p(results[name], 50):.1f} ms (load {load()})",
                  flush=True)
        base = statistics.median(results["baseline: one order by id"])
        print(f"\n{'query':<42} {'runs':>5} {'p50 ms':>9} {'p95 ms':>9} {'p50 / baseline':>15}")
        for name, samples in results.items():
            print(f"{name:<42} {len(samples):>5} {p(samples, 50):>9.1f} {p(samples, 95):>9.1f}"
                  f" {statistics.median(samples) / base:>14.1f}x")
        print(f"\n{os.cpu_count()} cores; 1-minute load average during the queries {min(loads):.1f}-{max(loads):.1f}")
        print("\nplans (explain):")
        for name, plan in plans.items():
            print(f"  {name}: {plan}")
        if any("Pushdown=" in plan for plan in plans.values()):
            print("  (FerretDB: our build reads these sorted lists in the order of an index and stops at the page's"
                  " end; its explain shows only the filter pushdown)")
        return {"cores": os.cpu_count(), "load_1m": [min(loads), max(loads)], "orders": orders, "runs": runs,
                "plans": plans,
                "queries": {name: {"p50_ms": p(samples, 50), "p95_ms": p(samples, 95), "runs": len(samples)}
                            for name, samples in results.items()}}
    finally:
        if not keep:
            await client.drop_database(db_name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of samples per query at most")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", metavar="DB", help="use and keep this database (filled only when needed)")
    parser.add_argument("--no-grid", action="store_true",
                        help="skip the grid counts (on FerretDB v1 they decode every open order: minutes at 100,000)")
    args = parser.parse_args()
    figures = asyncio.run(main(args.orders, args.runs, args.budget, args.keep, not args.no_grid))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
