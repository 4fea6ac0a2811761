"""Open Orders list latency at scale: p50/p95 of the list staff use, against a lookup by id in the same run.

    python benchmarks/orders_list.py [--orders 100000] [--runs 40] [--json build/bench/orders_list.json]

Needs MONGODB_URL (`make bench` sets it from the local infrastructure). Fills a throwaway database with orders
shaped exactly as the orders service stores them (same list fields, same indexes), times the repository's own
list and count calls, prints the figures, and drops the database.
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
from orders.adapters.repository import MongoOrderRepository, OrderFilter, list_fields
from orders.domain.model import Order

CHANNELS = ["ebay", "amazon", "magento", "woocommerce", "shopify", "phone"]
COUNTRIES = ["GB", "DE", "FR", "US", "NL", "IE"]
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
                  opened_at=start + timedelta(seconds=n))
    return {"_id": str(order.order_id), "version": 1, "handled": {}, **list_fields(order),
            "order": order.model_dump(mode="json")}


async def timed(call, runs: int) -> list[float]:
    """Milliseconds per call, over `runs` calls."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def p(samples: list[float], q: int) -> float:
    """The q-th percentile."""
    return statistics.quantiles(samples, n=100)[q - 1]


async def main(orders: int, runs: int) -> dict:
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
        cases = {
            "baseline: one order by id": lambda: repo.get(uuid.UUID(rng.choice(ids))),
            "list newest 50, no filter": lambda: repo.list(where=OrderFilter(status="open"), limit=50),
            "list 50: channel + paid + free text": lambda: repo.list(where=two_filters_and_text, limit=50),
            "count: channel + paid + free text": lambda: repo.count(where=two_filters_and_text),
        }
        results = {name: await timed(call, runs) for name, call in cases.items()}
        base = statistics.median(results["baseline: one order by id"])
        print(f"\n{'query':<40} {'p50 ms':>8} {'p95 ms':>8} {'p50 / baseline':>15}")
        for name, samples in results.items():
            print(f"{name:<40} {p(samples, 50):>8.1f} {p(samples, 95):>8.1f} {statistics.median(samples) / base:>14.1f}x")
        return {"cores": os.cpu_count(), "orders": orders, "runs": runs,
                "queries": {name: {"p50_ms": p(samples, 50), "p95_ms": p(samples, 95)}
                            for name, samples in results.items()}}
    finally:
        await client.drop_database(db_name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(main(args.orders, args.runs))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
