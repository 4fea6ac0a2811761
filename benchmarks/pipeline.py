"""Pipeline throughput: signed Shopify webhooks → Open Orders with stock allocated, against a raw baseline of the same run.

    python benchmarks/pipeline.py [--rate 60] [--seconds 180] [--burst] [--json build/bench/pipeline.json]

Needs KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL (`make bench` starts its own infrastructure and sets them).
Starts the five services on their own ports and databases, seeds stock, and then:

1. steady: one new order every 1/rate s for `seconds` (open loop, httpx); measures the webhook answer time
   (p50/p99), the end-to-end time from sending to "stock allocated" in the order's timeline (p50/p99), and
   orders/s = orders / (last allocation − first send).
2. burst (--burst): ten times the rate for 10 s; every webhook answered 2xx within 5 s? backlog drained in 60 s?
3. baseline, same run and machine, once the services are stopped: the Kafka records the steady phase produced
   (counted from topic offsets, the very same keys and values) produced with bare aiokafka and consumed by a bare
   consumer group with commits; and as many document writes as the services made (counted from document versions,
   ledger seqs and intakes) done with bare PyMongo AsyncMongoClient. Baseline orders/s = orders / (Kafka time +
   Mongo time).

Targets of issue 9 are printed as PASS/FAIL, whatever the machine.
"""

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from oms_contracts import topics
from oms_devtools.faults.harness import Harness, order_id
from oms_platform.messaging import is_transient
from pymongo import AsyncMongoClient
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential

REPO = Path(__file__).resolve().parents[1]


def pct(samples: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), or None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process has used so far (Linux /proc; a process gone is left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime and stime: fields 14 and 15 of stat
    return used


def measured_processes(harness: Harness) -> dict[str, int]:
    """Every process the pipeline's work runs in: the services, the broker, the database and this load driver."""
    pids = {f"{p.service} {p.role}": p.process.pid for p in harness.system.processes}
    run = Path(os.environ.get("OMS_INFRA_DIR", REPO / ".oms" / "infra")) / "run"
    for name in ("kafka", "ferretdb"):
        try:
            pids[name] = int((run / f"{name}.pid").read_text())
        except (OSError, ValueError):
            pass  # infrastructure not started by omsinfra (e.g. MongoDB): not measured
    pids["load driver"] = os.getpid()
    return pids


async def topic_ends(bootstrap: str) -> dict[TopicPartition, int]:
    """End offset of every partition of the main topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics.MAIN_TOPICS))
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def read_records(bootstrap: str, before: dict, after: dict) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of every record written between two offset snapshots."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records = []
    try:
        wanted = {tp: (before.get(tp, 0), end) for tp, end in after.items() if end > before.get(tp, 0)}
        if not wanted:
            return records
        consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        pending = dict(wanted)
        deadline = time.monotonic() + 120
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not read back the run's records from {sorted(map(str, pending))}")
            batch = await consumer.getmany(timeout_ms=2000)
            for tp, got in batch.items():
                if tp not in pending:
                    continue
                end = pending[tp][1]
                records.extend((r.key, r.value) for r in got if r.offset < end)
                if got and got[-1].offset + 1 >= end:
                    del pending[tp]
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return records


async def kafka_baseline(bootstrap: str, records: list[tuple[bytes | None, bytes]], partitions: int) -> dict:
    """Produce the records with bare aiokafka (acks=all), then consume them in a group committing per batch."""
    topic = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        began = time.perf_counter()
        try:
            futures = [await producer.send(topic, value, key=key) for key, value in records]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        produced = time.perf_counter() - began
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}.group",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        began = time.perf_counter()
        await consumer.start()
        seen = 0
        try:
            while seen < len(records):
                batch = await consumer.getmany(timeout_ms=1000)
                seen += sum(len(got) for got in batch.values())
                if batch:
                    await consumer.commit()
        finally:
            await consumer.stop()
        consumed = time.perf_counter() - began
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    return {"records": len(records), "produce_s": produced, "consume_s": consumed, "seconds": produced + consumed}


async def count_writes(client: AsyncMongoClient, databases: list[str]) -> tuple[int, int]:
    """(document writes so far, average document size in bytes) of the services' databases, estimated:
    a versioned document counts its version (one per save), a stock document its ledger seq, an intake two
    (stored, then marked published), any other document one (a ledger entry's seq is its position, not a count)."""
    writes = size = docs = 0
    for name in databases:
        db = client[name]
        for coll in await db.list_collection_names():
            n = await db[coll].count_documents({})
            if not n:
                continue
            cursor = await db[coll].aggregate([{"$group": {"_id": None, "v": {"$sum": "$version"},
                                                         "s": {"$sum": "$seq"}}}])
            sums = await cursor.to_list(1)
            v, s = (sums[0]["v"], sums[0]["s"]) if sums else (0, 0)
            writes += (s if coll == "stock" else v or n) + (n if coll == "intake" else 0)
            stats = await db.command("collStats", coll)
            size += stats.get("size", 0)
            docs += n
    return writes, (size // docs if docs else 0)


async def mongo_baseline(url: str, writes: int, doc_size: int, concurrency: int = 8) -> dict:
    """`writes` document writes with bare PyMongo: half inserts, half version-guarded replaces of them."""
    client = AsyncMongoClient(url)
    db_name = f"bench_baseline_{uuid.uuid4().hex[:6]}"
    coll = client[db_name]["docs"]
    padding = "x" * max(0, doc_size - 120)
    inserts = writes - writes // 2
    gate = asyncio.Semaphore(concurrency)

    retried = 0

    async def busy_retried(write):
        # As the services do: a write refused by a busy database (FerretDB's SQLITE_BUSY on a loaded machine) is
        # tried again; the retries are reported beside the time.
        nonlocal retried
        async for attempt in AsyncRetrying(retry=retry_if_exception(is_transient), wait=wait_exponential(0.05, max=2),
                                           reraise=True):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    retried += 1
                return await write()

    async def insert(n: int) -> None:
        async with gate:
            await busy_retried(lambda: coll.insert_one({"_id": f"d{n}", "version": 1, "status": "open",
                                                        "body": padding}))

    async def replace(n: int) -> None:
        async with gate:
            result = await busy_retried(lambda: coll.replace_one(
                {"_id": f"d{n}", "version": 1}, {"version": 2, "status": "allocated", "body": padding}))
            assert result.matched_count == 1

    try:
        began = time.perf_counter()
        await asyncio.gather(*(insert(n) for n in range(inserts)))
        await asyncio.gather(*(replace(n) for n in range(writes // 2)))
        seconds = time.perf_counter() - began
    finally:
        await client.drop_database(db_name)
        await client.close()
    return {"writes": writes, "doc_bytes": doc_size, "concurrency": concurrency, "seconds": seconds,
            "busy_retries": retried}


async def raw_baseline(harness: Harness, records, ends_after, *, writes: int, doc_size: int, orders: int) -> dict:
    """The raw baseline of `orders` orders: their Kafka `records` with bare aiokafka, `writes` with bare PyMongo."""
    partitions = len({tp.partition for tp in ends_after}) or 3
    kafka = await kafka_baseline(harness.kafka, records, partitions)
    mongo = await mongo_baseline(harness.mongo_url, writes, doc_size)
    seconds = kafka["seconds"] + mongo["seconds"]
    return {"kafka": kafka, "mongo": mongo, "orders_per_s": orders / seconds if seconds else None}


def latency_summary(sent, allocated: dict[str, float]) -> dict:
    """Answer and end-to-end latencies of a phase, in ms."""
    answers = [s.answered_in * 1000 for s in sent if s.answered_in is not None]
    e2e = [(allocated[order_id(s.webhook.channel_order_id)] - s.sent_at) * 1000
           for s in sent if order_id(s.webhook.channel_order_id) in allocated]
    return {"answer_p50_ms": pct(answers, 50), "answer_p99_ms": pct(answers, 99), "answer_max_ms": max(answers),
            "e2e_p50_ms": pct(e2e, 50), "e2e_p99_ms": pct(e2e, 99)}


async def run(args) -> dict:
    cores = os.cpu_count()
    harness = Harness(work_dir=Path(args.work_dir) / uuid.uuid4().hex[:6], port_base=args.port_base)
    say(f"pipeline: starting the services (ports {args.port_base + 1}-{args.port_base + 5}, run {harness.run_id})")
    harness.start()
    result: dict = {"cores": cores, "rate": args.rate, "seconds": args.seconds}
    try:
        skus = [f"BENCH-{harness.run_id}-{n:02d}" for n in range(args.skus)]
        await harness.seed_stock(skus, 1_000_000)
        source = harness.orders_source(skus=skus, prefix=f"B{harness.run_id}")

        warm = await harness.drive(source, rate=5, seconds=max(2, args.warmup))
        warm_ids = [order_id(s.webhook.channel_order_id) for s in warm]
        if len(await harness.wait_allocated(warm_ids, timeout=120)) < len(warm_ids):
            raise SystemExit(f"warm-up orders were not allocated within 120 s; answers: "
                             f"{sorted({s.error or s.outcome for s in warm})}; logs in {harness.work_dir}/logs")
        say(f"pipeline: warmed up with {len(warm)} orders; steady {args.rate}/s for {args.seconds}s")

        writes_before, _ = await count_writes(harness.client, list(harness.databases.values()))
        ends_before = await topic_ends(harness.kafka)
        processes = measured_processes(harness)
        cpu_before = cpu_seconds(processes)
        sent = await harness.drive(source, rate=args.rate, seconds=args.seconds)
        accepted = [s for s in sent if s.accepted]
        ids = [order_id(s.webhook.channel_order_id) for s in accepted]
        allocated = await harness.wait_allocated(
            ids, timeout=args.drain_timeout,
            progress=lambda done, total: say(f"  allocated {done}/{total}"))
        cpu_after = cpu_seconds(processes)
        first_sent = min(s.sent_at for s in sent)
        last_done = max(allocated.values()) if allocated else time.time()
        steady = {
            "orders_sent": len(sent), "accepted": len(accepted), "allocated": len(allocated),
            "offered_per_s": len(sent) / args.seconds,
            "orders_per_s": len(allocated) / (last_done - first_sent),
            **latency_summary(accepted, allocated),
            "errors": sorted({s.error for s in sent if s.error})[:5],
            # Where the machine's time went: CPU ms per allocated order, each process (measured over the steady
            # phase and its drain, so it includes what the pipeline did for those orders).
            "cpu_ms_per_order": {name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(1, len(allocated)), 1)
                                 for name in cpu_after if name in cpu_before},
        }
        result["steady"] = steady
        say(f"pipeline: {steady['allocated']}/{steady['orders_sent']} allocated, {steady['orders_per_s']:.1f}/s")

        # What the steady phase did, for the baseline (measured at the end, once the services are stopped).
        await asyncio.sleep(2)  # let the last stock_level_changed events land before counting
        ends_after = await topic_ends(harness.kafka)
        records = await read_records(harness.kafka, ends_before, ends_after)
        writes_after, doc_size = await count_writes(harness.client, list(harness.databases.values()))

        if args.burst:
            rate = args.rate * 10
            say(f"pipeline: burst {rate}/s for {args.burst_seconds}s")
            burst = await harness.drive(source, rate=rate, seconds=args.burst_seconds, max_in_flight=1024)
            burst_end = max(s.sent_at + (s.answered_in or 0) for s in burst)
            ok = [s for s in burst if s.accepted]
            ids = [order_id(s.webhook.channel_order_id) for s in ok]
            done = await harness.wait_allocated(ids, timeout=args.drain_timeout,
                                                progress=lambda d, t: say(f"  allocated {d}/{t}"))
            drained_in = (max(done.values()) - burst_end) if len(done) == len(ids) and done else None
            result["burst"] = {
                "rate": rate, "seconds": args.burst_seconds, "sent": len(burst), "accepted": len(ok),
                "answered_2xx_within_5s": sum(1 for s in ok if s.answered_in <= 5.0),
                "allocated": len(done), "drained_in_s": drained_in, **latency_summary(ok, done),
                "errors": sorted({s.error for s in burst if s.error})[:5],
            }
    finally:
        await harness.close(drop=not args.keep)

    # The baseline: the same Kafka traffic and the same number of writes, bare, on a machine the services no longer
    # load (at a rate they cannot keep up with they would still be working through their backlog).
    say(f"pipeline: baseline with {len(records)} Kafka records and {writes_after - writes_before} writes")
    result["baseline"] = await raw_baseline(harness, records, ends_after, writes=writes_after - writes_before,
                                            doc_size=doc_size, orders=len(allocated))
    return result


def checks(result: dict) -> list[tuple[str, str, bool]]:
    """(target, measured, passed) for each target of issue 9."""
    steady, base = result["steady"], result["baseline"]
    ratio = steady["orders_per_s"] / base["orders_per_s"] if base.get("orders_per_s") else 0.0
    rows = [
        ("pipeline >= 50% of raw baseline", f"{ratio:.0%}", ratio >= 0.5),
        (">= 50 orders/s sustained", f"{steady['orders_per_s']:.1f}/s", steady["orders_per_s"] >= 50),
        ("p99 webhook answer < 250 ms", f"{steady['answer_p99_ms']:.0f} ms", steady["answer_p99_ms"] < 250),
        ("every accepted order allocated", f"{steady['allocated']}/{steady['accepted']}",
         steady["allocated"] == steady["accepted"] == steady["orders_sent"]),
    ]
    if "burst" in result:
        b = result["burst"]
        rows.append(("burst: every webhook 2xx within 5 s", f"{b['answered_2xx_within_5s']}/{b['sent']}",
                     b["answered_2xx_within_5s"] == b["sent"]))
        drained = b["drained_in_s"]
        rows.append(("burst: backlog drained within 60 s",
                     "not drained" if drained is None else f"{drained:.1f} s", drained is not None and drained <= 60))
    return rows


def print_report(result: dict) -> None:
    s, base = result["steady"], result["baseline"]
    k, m = base["kafka"], base["mongo"]
    ratio = s["orders_per_s"] / base["orders_per_s"] if base.get("orders_per_s") else 0.0
    print(f"\nPipeline benchmark on {result['cores']} cores: {s['orders_sent']} Shopify webhooks offered at "
          f"{result['rate']}/s for {result['seconds']}s")
    print(f"{'measure':<44} {'value':>14}")
    for name, value in [
        ("offered orders/s (the load's schedule)", f"{s['offered_per_s']:.1f}"),
        ("pipeline orders/s (webhook -> allocated)", f"{s['orders_per_s']:.1f}"),
        ("raw baseline orders/s (same I/O, bare)", f"{base['orders_per_s']:.1f}"),
        ("pipeline / baseline", f"{ratio:.0%}"),
        ("webhook answer p50 / p99 ms", f"{s['answer_p50_ms']:.0f} / {s['answer_p99_ms']:.0f}"),
        ("end-to-end p50 / p99 ms", _pair(s["e2e_p50_ms"], s["e2e_p99_ms"])),
        (f"baseline Kafka: {k['records']} records produce+consume s", f"{k['produce_s']:.2f}+{k['consume_s']:.2f}"),
        (f"baseline Mongo: {m['writes']} writes (~{m['doc_bytes']} B) s", f"{m['seconds']:.2f}"),
    ]:
        print(f"{name:<44} {value:>14}")
    if s.get("cpu_ms_per_order"):
        print(f"\n{'CPU ms per order, by process':<44} {'ms':>14}")
        for name, ms in sorted(s["cpu_ms_per_order"].items(), key=lambda item: -item[1]):
            print(f"{name:<44} {ms:>14.1f}")
        print(f"{'all':<44} {sum(s['cpu_ms_per_order'].values()):>14.1f}")
    if "burst" in result:
        b = result["burst"]
        print(f"\nBurst: {b['sent']} webhooks at {b['rate']}/s for {b['seconds']}s: answers p50/p99/max "
              f"{b['answer_p50_ms']:.0f}/{b['answer_p99_ms']:.0f}/{b['answer_max_ms']:.0f} ms, "
              f"{b['allocated']}/{b['accepted']} allocated, drained "
              f"{_drained(b['drained_in_s'])} after the burst")
    print(f"\n{'target (issue 9)':<44} {'measured':>14}  result")
    for target, measured, passed in checks(result):
        print(f"{target:<44} {measured:>14}  {'PASS' if passed else 'FAIL'}")
    if s["errors"]:
        print(f"errors: {s['errors']}")


def _drained(seconds) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


def _pair(a, b) -> str:
    return "n/a" if a is None else f"{a:.0f} / {b:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=60.0, help="orders per second offered (default 60)")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the steady phase (default 180)")
    parser.add_argument("--burst", action="store_true", help="then ten times the rate for --burst-seconds")
    parser.add_argument("--burst-seconds", type=float, default=10.0)
    parser.add_argument("--skus", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("OMS_BENCH_PORT_BASE", "28100")))
    parser.add_argument("--work-dir", default=str(REPO / "build" / "bench" / "pipeline"))
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    result["checks"] = [{"target": t, "measured": m, "pass": p} for t, m, p in checks(result)]
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
