"""Open Orders list latency at scale: p50/p95 of the list staff use, against a lookup by id in the same run.

    python benchmarks/orders_list.py [--orders 100000] [--runs 40] [--budget 60] [--json build/bench/orders_list.json]

Needs MONGODB_URL (`make bench` sets it from the local infrastructure). Fills a throwaway database with open orders
shaped exactly as the orders service stores them (same list fields, same indexes), times the repository's own
list, count and grid-count calls, prints the figures and each query's plan (the server's `explain`: the index a
MongoDB server picks, or FerretDB's SQLite plan and whether it pushed the filter down), and drops the database.
A query stops after `--budget` seconds of samples (at least 3), so a server that scans stays measurable.
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
    """Milliseconds per call, over `runs` calls or until `budget` seconds are spent (at least 3 calls)."""
    samples: list[float] = []
    spent = time.perf_counter()
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
        if len(samples) >= 3 and time.perf_counter() - spent > budget:
            break
    return samples


def p(samples: list[float], q: int) -> float:
    """The q-th percentile (inclusive, so three samples give a figure)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


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


async def main(orders: int, runs: int, budget: float) -> dict:
    client = mongo_client(os.environ["MONGODB_URL"])
    db_name = f"bench_orders_{uuid.uuid4().hex[:6]}"
    repo = MongoOrderRepository(client[db_name])
    try:
        await repo.create_indexes()
        rng = random.Random(42)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        began = time.perf_counter()
        ids = []
        for batch_start in range(0, orders, 1000):
            docs = [make_document(n, rng, start) for n in range(batch_start, min(orders, batch_start + 1000))]
            ids.extend(d["_id"] for d in docs)
            await repo.orders.insert_many(docs, ordered=False)
        print(f"loaded {orders:,} open orders in {time.perf_counter() - began:.1f}s")

        two_filters_and_text = OrderFilter(status="open", channel="ebay", paid=True, text="hopper")
        open_orders = OrderFilter(status="open")
        lists = {
            "list newest 50, no filter": open_orders,
            "list 50: channel + paid + free text": two_filters_and_text,
            "list 50: tag + folder": OrderFilter(status="open", tag="vip", folder="b2b"),
            "list 50: out of stock + country": OrderFilter(status="open", out_of_stock=True, country="DE"),
        }
        cases = {
            "baseline: one order by id": lambda: repo.get(uuid.UUID(rng.choice(ids))),
            **{name: (lambda where=where: repo.list(where=where, limit=50)) for name, where in lists.items()},
            "count: channel + paid + free text": lambda: repo.count(where=two_filters_and_text),
            "grid counts (7 filters) of open orders": lambda: repo.counts(where=open_orders),
        }
        plans = {name: await explain(repo, where) for name, where in lists.items()}
        results = {name: await timed(call, runs, budget) for name, call in cases.items()}
        base = statistics.median(results["baseline: one order by id"])
        print(f"\n{'query':<40} {'runs':>5} {'p50 ms':>9} {'p95 ms':>9} {'p50 / baseline':>15}")
        for name, samples in results.items():
            print(f"{name:<40} {len(samples):>5} {p(samples, 50):>9.1f} {p(samples, 95):>9.1f}"
                  f" {statistics.median(samples) / base:>14.1f}x")
        print("\nplans (explain):")
        for name, plan in plans.items():
            print(f"  {name}: {plan}")
        return {"cores": os.cpu_count(), "orders": orders, "runs": runs, "plans": plans,
                "queries": {name: {"p50_ms": p(samples, 50), "p95_ms": p(samples, 95), "runs": len(samples)}
                            for name, samples in results.items()}}
    finally:
        await client.drop_database(db_name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of samples per query at most")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(main(args.orders, args.runs, args.budget))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
