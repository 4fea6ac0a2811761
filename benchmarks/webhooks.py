"""Webhook intake: signed Shopify webhooks accepted per second and the time from webhook to Open Order, at a steady
rate and in a 10x burst, beside a raw baseline of the same run.

    python benchmarks/webhooks.py [--rate 30] [--seconds 60] [--burst-seconds 10] [--json build/bench/webhooks.json]

Needs KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL (`make bench` starts its own infrastructure and sets them).
Reuses pipeline.py's harness and baseline; where pipeline.py measures up to "stock allocated", this one stops at
the order being open (its "opened" timeline entry, written by the orders worker):

1. steady: one new order every 1/rate s for `seconds` (open loop); accepted/s = 2xx answers / (last answer -
   first send); answer p50/p99; webhook -> Open Order p50/p99.
2. baseline, same run: the Kafka records and document writes the steady phase caused, replayed with bare aiokafka
   and PyMongo (pipeline.py's `raw_baseline`): orders/s the raw I/O alone allows.
3. burst: ten times the rate for `burst-seconds`: the same figures, and when the backlog was open.
4. raw acceptance baseline: a bare Starlette endpoint in its own process that does only what accepting needs
   (HMAC check, one insert, one Kafka send), driven at the steady and the burst rate: accepted/s and answer p99.
"""

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from pipeline import count_writes, pct, raw_baseline, read_records, say, topic_ends

from oms_devtools.faults.harness import Harness, _epoch, order_id

REPO = Path(__file__).resolve().parents[1]


async def opened_at(harness: Harness, order_ids: list[str]) -> dict[str, float]:
    """For each order already open: when the orders worker opened it (its "opened" timeline entry)."""
    found: dict[str, float] = {}
    orders = harness.db("orders")["orders"]
    for start in range(0, len(order_ids), 500):
        chunk = order_ids[start:start + 500]
        async for doc in orders.find({"_id": {"$in": chunk}}, {"order.timeline": 1}):
            for entry in doc.get("order", {}).get("timeline", []):
                if entry.get("what") == "opened":
                    found[doc["_id"]] = _epoch(entry["at"])
                    break
    return found


async def wait_opened(harness: Harness, order_ids: list[str], *, timeout: float) -> dict[str, float]:
    """Poll until every order is open or the deadline passes; returns what was found."""
    deadline = time.monotonic() + timeout
    while True:
        found = await opened_at(harness, order_ids)
        say(f"  open {len(found)}/{len(order_ids)}")
        if len(found) == len(order_ids) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1.0)


def raw_server(port: int, secret: str, database: str) -> None:
    """The raw acceptance baseline: verify the HMAC, insert the body, send it to Kafka, answer 200. Nothing else."""
    import uvicorn
    from aiokafka import AIOKafkaProducer
    from pymongo import AsyncMongoClient
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    state: dict = {}

    async def accept(request):
        raw = await request.body()
        mac = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest())
        if not hmac.compare_digest(mac, request.headers.get("x-shopify-hmac-sha256", "").encode()):
            return JSONResponse({"detail": "invalid webhook signature"}, status_code=401)
        delivery = request.headers.get("x-shopify-webhook-id")
        await state["intake"].insert_one({"_id": delivery, "body": raw.decode(), "received_at": time.time()})
        await state["producer"].send_and_wait("bench.raw.webhooks", raw, key=delivery.encode())
        return JSONResponse({"status": "published"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["mongo"] = AsyncMongoClient(os.environ["MONGODB_URL"])
        state["intake"] = state["mongo"][database]["intake"]
        state["producer"] = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        await state["producer"].start()
        try:
            yield
        finally:
            await state["producer"].stop()
            await state["mongo"].drop_database(database)
            await state["mongo"].close()

    app = Starlette(routes=[Route("/webhooks/shopify/raw", accept, methods=["POST"])], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def drive_raw(url: str, source, *, rate: float, seconds: float, max_in_flight: int = 1024) -> dict:
    """Open-loop load on the raw endpoint, like Harness.drive: accepted/s and answer p50/p99 (ms)."""
    count = max(1, round(rate * seconds))
    gate = asyncio.Semaphore(max_in_flight)
    answers: list[tuple[float, float, bool]] = []  # (sent at, answered in, 2xx)

    async def deliver(http, webhook) -> None:
        sent_at, began = time.time(), time.perf_counter()
        try:
            ok = (await http.post(url, content=webhook.raw, headers=webhook.headers, timeout=30)).is_success
        except httpx.HTTPError:
            ok = False
        finally:
            gate.release()
        answers.append((sent_at, time.perf_counter() - began, ok))

    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    async with httpx.AsyncClient(limits=limits) as http:
        tasks, start = [], time.perf_counter()
        for n in range(count):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            tasks.append(asyncio.create_task(deliver(http, source.make())))
        await asyncio.gather(*tasks)
    accepted = [a for a in answers if a[2]]
    span = max(s + d for s, d, _ in answers) - min(s for s, _, _ in answers)
    return {"rate": rate, "sent": len(answers), "accepted": len(accepted),
            "accepted_per_s": len(accepted) / max(span, 1e-9),
            "answer_p50_ms": pct([d * 1000 for _, d, _ in accepted], 50),
            "answer_p99_ms": pct([d * 1000 for _, d, _ in accepted], 99)}


async def raw_acceptance(harness: Harness, *, rates: list[float], seconds: list[float]) -> list[dict]:
    """Start the raw endpoint in its own process, drive it at each rate, stop it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (harness.work_dir / "raw-baseline.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, __file__, "--raw-server", str(port), "--raw-secret", harness.webhook_secret,
         "--raw-database", f"oms_raw_bench_{harness.run_id}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/webhooks/shopify/raw"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    await http.post(url, content=b"{}")  # 401: it is up
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit(f"the raw baseline endpoint did not start; see {log.name}") from None
                    await asyncio.sleep(0.2)
        source = harness.orders_source(skus=["RAW"], prefix=f"R{harness.run_id}")
        return [await drive_raw(url, source, rate=rate, seconds=secs) for rate, secs in zip(rates, seconds)]
    finally:
        process.terminate()
        process.wait(timeout=20)


def phase(sent, opened: dict[str, float], *, rate: float, seconds: float) -> dict:
    """The figures of one phase: accepted/s, answer and webhook -> open latencies (ms)."""
    accepted = [s for s in sent if s.accepted]
    answers = [s.answered_in * 1000 for s in accepted]
    to_open = [(opened[order_id(s.webhook.channel_order_id)] - s.sent_at) * 1000
               for s in accepted if order_id(s.webhook.channel_order_id) in opened]
    first = min(s.sent_at for s in sent)
    last_answer = max(s.sent_at + (s.answered_in or 0) for s in sent)
    return {
        "rate": rate, "seconds": seconds, "sent": len(sent), "accepted": len(accepted), "open": len(opened),
        "accepted_per_s": len(accepted) / max(last_answer - first, 1e-9),
        "open_per_s": len(opened) / max(max(opened.values()) - first, 1e-9) if opened else 0.0,
        "answer_p50_ms": pct(answers, 50), "answer_p99_ms": pct(answers, 99),
        "open_p50_ms": pct(to_open, 50), "open_p99_ms": pct(to_open, 99),
        "errors": sorted({s.error for s in sent if s.error})[:5],
    }


async def run(args) -> dict:
    harness = Harness(work_dir=Path(args.work_dir) / uuid.uuid4().hex[:6], port_base=args.port_base)
    say(f"webhooks: starting the services (ports {args.port_base + 1}-{args.port_base + 5}, run {harness.run_id})")
    harness.start()
    result: dict = {"cores": os.cpu_count(), "rate": args.rate, "seconds": args.seconds}
    try:
        source = harness.orders_source(skus=[f"WH-{harness.run_id}-{n}" for n in range(5)],
                                       prefix=f"W{harness.run_id}")
        warm = await harness.drive(source, rate=5, seconds=max(2.0, args.warmup))
        warm_ids = [order_id(s.webhook.channel_order_id) for s in warm]
        if len(await wait_opened(harness, warm_ids, timeout=120)) < len(warm_ids):
            raise SystemExit(f"warm-up orders not open within 120 s; logs in {harness.work_dir}/logs")

        writes_before, _ = await count_writes(harness.client, list(harness.databases.values()))
        ends_before = await topic_ends(harness.kafka)
        say(f"webhooks: steady {args.rate}/s for {args.seconds}s")
        sent = await harness.drive(source, rate=args.rate, seconds=args.seconds)
        ids = [order_id(s.webhook.channel_order_id) for s in sent if s.accepted]
        result["steady"] = phase(sent, await wait_opened(harness, ids, timeout=args.drain_timeout),
                                 rate=args.rate, seconds=args.seconds)

        # The raw baseline: the same Kafka records and as many document writes, done bare.
        await asyncio.sleep(2)  # let the allocation answers of the last orders land before counting
        ends_after = await topic_ends(harness.kafka)
        records = await read_records(harness.kafka, ends_before, ends_after)
        writes_after, doc_size = await count_writes(harness.client, list(harness.databases.values()))
        result["baseline"] = await raw_baseline(harness, records, ends_after, writes=writes_after - writes_before,
                                                doc_size=doc_size, orders=len(ids))

        rate = args.rate * 10
        say(f"webhooks: burst {rate}/s for {args.burst_seconds}s")
        burst = await harness.drive(source, rate=rate, seconds=args.burst_seconds, max_in_flight=1024)
        ids = [order_id(s.webhook.channel_order_id) for s in burst if s.accepted]
        result["burst"] = phase(burst, await wait_opened(harness, ids, timeout=args.drain_timeout),
                                rate=rate, seconds=args.burst_seconds)

        say("webhooks: raw acceptance baseline at the steady and the burst rate")
        steady_raw, burst_raw = await raw_acceptance(harness, rates=[args.rate, rate],
                                                     seconds=[args.seconds, args.burst_seconds])
        result["baseline"]["raw_accept"] = {"steady": steady_raw, "burst": burst_raw}
    finally:
        await harness.close(drop=not args.keep)
    return result


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def print_report(result: dict) -> None:
    base = result["baseline"]
    print(f"\nWebhook benchmark on {result['cores']} cores (Shopify orders/create, signed)")
    print(f"{'phase':<22} {'offered/s':>9} {'accepted/s':>10} {'open/s':>8} {'answer p50/p99 ms':>18} "
          f"{'to Open p50/p99 ms':>19} {'open':>11}")
    for name in ("steady", "burst"):
        p = result[name]
        print(f"{name:<22} {p['rate']:>9.0f} {p['accepted_per_s']:>10.1f} {p['open_per_s']:>8.1f} "
              f"{_ms(p['answer_p50_ms']) + ' / ' + _ms(p['answer_p99_ms']):>18} "
              f"{_ms(p['open_p50_ms']) + ' / ' + _ms(p['open_p99_ms']):>19} {p['open']:>5}/{p['sent']:<5}")
    k, m = base["kafka"], base["mongo"]
    raw = base["orders_per_s"]
    print(f"{'raw baseline (bare I/O)':<22} {'':>9} {'':>10} {(raw or 0):>8.1f}   "
          f"Kafka {k['records']} records {k['seconds']:.2f} s + Mongo {m['writes']} writes {m['seconds']:.2f} s")
    for name in ("steady", "burst"):
        r = base["raw_accept"][name]
        print(f"{'raw accept ' + name:<22} {r['rate']:>9.0f} {r['accepted_per_s']:>10.1f} {'':>8} "
              f"{_ms(r['answer_p50_ms']) + ' / ' + _ms(r['answer_p99_ms']):>18}   (HMAC + insert + Kafka send, bare)")
    for name in ("steady", "burst"):
        if result[name]["errors"]:
            print(f"{name} errors: {result[name]['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=30.0, help="webhooks per second offered (default 30)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady phase (default 60)")
    parser.add_argument("--burst-seconds", type=float, default=10.0, help="length of the 10x burst (default 10)")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    # 28300: `make faults` runs its services on 28201-28205, so both can run at once.
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("OMS_BENCH_PORT_BASE", "28300")))
    parser.add_argument("--work-dir", default=str(REPO / "build" / "bench" / "webhooks"))
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases")
    parser.add_argument("--raw-server", type=int, help=argparse.SUPPRESS)  # internal: the raw baseline endpoint
    parser.add_argument("--raw-secret", help=argparse.SUPPRESS)
    parser.add_argument("--raw-database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server:
        raw_server(args.raw_server, args.raw_secret, args.raw_database)
        return
    result = asyncio.run(run(args))
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
