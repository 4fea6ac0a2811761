"""Allocations per second through the real broker and database, against a raw baseline measured in the same run.

    python benchmarks/inventory_allocations.py [--allocations 500] [--skus 10] [--json build/bench/inventory.json]

Needs KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL, and no other inventory worker consuming that broker (its consumer
group would share the commands): `make bench`'s own infrastructure, or `python infra/omsinfra.py up` with the
services stopped. Runs the inventory worker (the real subscribers, handlers and MongoDB repository) in this
process on a database of its own, seeds the SKUs, then:

1. pipeline: `--allocations` AllocateStock commands (one unit each, SKUs round-robin) published to
   oms.inventory.commands; time from the first publish until every stock document shows its last ledger seq.
2. baseline: the same number of bare PyMongo `update_one($inc)` on documents of the same SKUs, one after another
   per SKU and the SKUs side by side (as the worker's partitions are), with the same AsyncMongoClient.
"""

import argparse
import asyncio
import json
import os
import secrets
import time
import uuid
from pathlib import Path

from oms_contracts import topics
from oms_contracts.inventory.v1 import AdjustStock, AllocateStock
from oms_platform.messaging import Bus, ensure_topics
from inventory.bootstrap import build_worker
from inventory.config import Settings


async def wait_for_seqs(collection, want: dict[str, int], *, timeout: float) -> None:
    """Until every SKU's stock document reaches its seq (read-only polling), or SystemExit at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        docs = await collection.find({"_id": {"$in": list(want)}}, {"seq": 1}).to_list(length=None)
        seqs = {doc["_id"]: doc["seq"] for doc in docs}
        if all(seqs.get(sku, 0) >= seq for sku, seq in want.items()):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker did not finish within {timeout:.0f} s: {seqs} of {want}")
        await asyncio.sleep(0.05)


async def run(allocations: int, sku_count: int) -> dict:
    run_id = uuid.uuid4().hex[:8]
    os.environ.setdefault("OMS_API_KEYS", f"ops:{secrets.token_hex(16)}")
    os.environ["INVENTORY_DATABASE"] = f"oms_inventory_bench_{run_id}"
    settings = Settings()
    await ensure_topics(settings.kafka_bootstrap_servers, [topics.INVENTORY_COMMANDS, topics.INVENTORY_EVENTS,
                                                           f"{topics.INVENTORY_COMMANDS}.dlq"],
                        partitions=settings.topic_partitions)
    broker, repo, mongo = build_worker(settings)
    raw = mongo[f"oms_inventory_bench_{run_id}_raw"]["stock"]
    await repo.create_indexes()
    await broker.start()
    try:
        bus = Bus(broker, "benchmark")
        skus = [f"BENCH-{run_id}-{n}" for n in range(sku_count)]
        for sku in skus:
            seed = AdjustStock(sku=sku, delta=allocations, reason="benchmark stock", adjusted_by="benchmark")
            await bus.publish(bus.envelope(seed), key=sku)
        await wait_for_seqs(repo.stock, {sku: 1 for sku in skus}, timeout=120)

        commands = [AllocateStock(order_id=uuid.uuid4(), sku=skus[n % sku_count], quantity=1)
                    for n in range(allocations)]
        want = {sku: 1 + sum(1 for c in commands if c.sku == sku) for sku in skus}
        started = time.perf_counter()
        for command in commands:
            await bus.publish(bus.envelope(command), key=command.sku)
        await wait_for_seqs(repo.stock, want, timeout=600)
        pipeline_seconds = time.perf_counter() - started

        await raw.insert_many([{"_id": sku, "on_hand": allocations, "allocated": 0} for sku in skus])

        async def bare(sku: str, count: int) -> None:
            for _ in range(count):
                await raw.update_one({"_id": sku}, {"$inc": {"allocated": 1}})

        started = time.perf_counter()
        await asyncio.gather(*(bare(sku, want[sku] - 1) for sku in skus))
        baseline_seconds = time.perf_counter() - started
    finally:
        await broker.stop()
        await mongo.drop_database(settings.database)
        await mongo.drop_database(raw.database.name)
        await mongo.close()
    return {
        "allocations": allocations,
        "skus": sku_count,
        "pipeline_seconds": round(pipeline_seconds, 3),
        "pipeline_allocations_per_second": round(allocations / pipeline_seconds, 1),
        "baseline_seconds": round(baseline_seconds, 3),
        "baseline_updates_per_second": round(allocations / baseline_seconds, 1),
        "pipeline_vs_baseline": round(baseline_seconds / pipeline_seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=500)
    parser.add_argument("--skus", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = asyncio.run(run(args.allocations, args.skus))
    print(f"inventory allocations: {result['pipeline_allocations_per_second']}/s through Kafka + MongoDB "
          f"({result['allocations']} in {result['pipeline_seconds']} s over {result['skus']} SKUs)")
    print(f"raw baseline:          {result['baseline_updates_per_second']}/s bare PyMongo $inc updates "
          f"(same count, same run); pipeline at {result['pipeline_vs_baseline']:.1%} of the baseline")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
