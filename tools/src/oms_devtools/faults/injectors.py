"""The faults: each is an async function of the harness that breaks something and (where it applies) mends it.

The Kafka broker is stopped and started through its pid file and `infra/omsinfra.py up` (the same state dir:
OMS_INFRA_DIR, OMS_KAFKA_PORT, ... from the environment), so nothing in infra/ had to change.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from oms_contracts import topics

from oms_devtools.faults.harness import REPO, Harness


async def note_in_flight(harness: Harness) -> int:
    """While the printing worker is dead (nothing writes a print job then): remember the jobs rendered and not
    yet settled. Each may print twice after the restart: its printer may have taken it, and its RecordDelivery may
    be on its way, when the worker died; raw 9100 cannot tell, so the restarted worker sends it again."""
    jobs = await harness.db("printing")["print_jobs"].find({"state": "rendered"}, {"_id": 1}).to_list(None)
    harness.in_flight_jobs.update(str(job["_id"]) for job in jobs)
    return len(jobs)


async def kill_and_restart(harness: Harness, service: str, role: str, *, down_for: float = 2.0) -> str:
    """kill -9 one service process, leave it dead for `down_for` s, start it again."""
    process = harness.process_of(service, role)
    os.kill(process.process.pid, signal.SIGKILL)
    process.process.wait()
    jobs = ""
    if (service, role) == ("printing", "worker"):
        jobs = f", {await note_in_flight(harness)} print jobs in flight"
    await asyncio.sleep(down_for)
    harness.restart(service, role)
    return f"killed {service}-{role} (pid {process.process.pid}) with SIGKILL{jobs}, restarted after {down_for:.0f}s"


async def crash_at(harness: Harness, service: str, point: str, *, role: str = "worker", nth: int = 3,
                   timeout: float = 120.0) -> str:
    """The process kills itself (SIGKILL) right after `point` ("store": stored, not yet published; "publish":
    published, offset not yet committed or the intake not yet marked published) of the nth command (for ingest's
    api: webhook) it handles, through the drill hook OMS_CRASH_AFTER_STORE/PUBLISH of `oms_platform.documents`;
    then it is started again without the hook."""
    variable = f"OMS_CRASH_AFTER_{point.upper()}"
    process = harness.process_of(service, role)
    process.process.terminate()  # a clean stop, so the one crash is the one we arm
    await asyncio.to_thread(process.process.wait)
    if (service, role) == ("printing", "worker"):
        await note_in_flight(harness)  # a clean stop leaves deliveries unsettled too
    armed = harness.restart(service, role, **{variable: str(nth)})
    began = time.monotonic()
    while armed.process.poll() is None and time.monotonic() - began < timeout:
        await asyncio.sleep(0.2)
    code = armed.process.poll()
    in_flight = await note_in_flight(harness) if (service, role) == ("printing", "worker") else None
    harness.restart(service, role)
    if code != -signal.SIGKILL:
        raise RuntimeError(f"{service}-{role} with {variable}={nth} did not crash within {timeout:.0f}s "
                           f"(exit {code}); restarted")
    jobs = f", {in_flight} print jobs in flight" if in_flight is not None else ""
    return (f"{service}-{role} killed itself (SIGKILL) after {point} of its command #{nth}, "
            f"{time.monotonic() - began:.0f}s after arming{jobs}; restarted")


def infra_dir() -> Path:
    return Path(os.environ.get("OMS_INFRA_DIR", REPO / ".oms" / "infra")).resolve()


def kafka_pid() -> int:
    """The broker's pid, from the infrastructure's pid file."""
    return int((infra_dir() / "run" / "kafka.pid").read_text().strip())


async def stop_kafka(*, hard: bool = False, timeout: float = 60.0) -> int:
    """Stop the broker (SIGTERM: its controlled shutdown; SIGKILL when hard) and wait until it is gone."""
    pid = kafka_pid()
    os.killpg(pid, signal.SIGKILL if hard else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
    return pid


def _running(pid: int) -> bool:
    """True while any thread of the process lives. (The JVM's main thread ends early in a shutdown and shows
    as a zombie in /proc/<pid>/stat while the shutdown hooks still run, so the process's own state is no guide.)"""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            state = Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            return True
    return False


def ferretdb_pid() -> int:
    """The database's pid, from the infrastructure's pid file."""
    return int((infra_dir() / "run" / "ferretdb.pid").read_text().strip())


async def database_restart(harness: Harness, *, down_for: float = 8.0) -> str:
    """The database (FerretDB) stopped under load (SIGTERM) and started again after `down_for` s."""
    pid = ferretdb_pid()
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _running(pid):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
    began = time.monotonic()
    await asyncio.sleep(down_for)
    await start_kafka()  # `omsinfra.py up` starts whatever is not running
    return f"stopped FerretDB (pid {pid}, SIGTERM), started again; down {time.monotonic() - began:.0f}s"


async def rebalances(harness: Harness, *, services: tuple[str, ...] = ("orders", "inventory", "fulfilment"),
                     seconds: float = 20.0, every: float = 4.0) -> str:
    """Extra workers join and leave the consumer groups every `every` s for `seconds`: one rebalance after
    another. Each round starts an extra worker of the next service and stops (SIGTERM) the one before."""
    began, rounds = time.monotonic(), 0
    while time.monotonic() - began < seconds:
        harness.stop_extras()
        harness.start_extra(services[rounds % len(services)])
        rounds += 1
        await asyncio.sleep(every)
    harness.stop_extras()
    return f"{rounds} extra workers joined and left ({', '.join(services)}), one every {every:.0f}s"


async def printer_drops(harness: Harness, *, every: int = 3, drops: int = 4, timeout: float = 180.0) -> str:
    """The printer resets every `every`-th connection mid-job until it has dropped `drops` jobs (or `timeout` s
    passed: printing may not have started yet when the fault comes), then prints normally again."""
    log = harness.work_dir / "printer.log"

    def dropped() -> int:
        return log.read_text(errors="replace").count("dropped a connection")

    before = dropped()
    harness.start_printer(drop_every=every)
    began = time.monotonic()
    while dropped() - before < drops and time.monotonic() - began < timeout:
        await asyncio.sleep(0.5)
    harness.start_printer()
    return (f"the printer reset one job in {every} mid-way for {time.monotonic() - began:.0f}s: "
            f"{dropped() - before} jobs dropped")


async def start_kafka(attempts: int = 12) -> None:
    """Start the broker again with `omsinfra.py up` (it only starts what is not running) and wait until ready.

    Tried again for up to two minutes: with the broker's port inside the ephemeral range (32768-60999 here), a
    client reconnecting while the broker is down can connect to itself on that very port, and the socket then
    holds the port in TIME-WAIT for 60 s (bind fails: Address already in use). Ports below 32768 avoid it.
    """
    process = await asyncio.create_subprocess_exec(sys.executable, str(REPO / "infra" / "omsinfra.py"), "up",
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0 and attempts > 1:
        await asyncio.sleep(10)
        return await start_kafka(attempts=attempts - 1)
    if process.returncode != 0:
        raise RuntimeError(f"omsinfra up failed: {err.decode()[-800:]}")


async def kafka_restart(harness: Harness, *, down_for: float = 10.0) -> str:
    """The broker stopped under load, and started again after `down_for` s."""
    pid = await stop_kafka()
    began = time.monotonic()
    await asyncio.sleep(down_for)
    await start_kafka()
    return f"stopped Kafka (pid {pid}, SIGTERM), started again; down {time.monotonic() - began:.0f}s"


async def dlq_ends(bootstrap: str) -> dict[str, int]:
    """How many records each dead-letter topic holds (0 for one that does not exist yet)."""
    ends = {topics.dlq(topic): 0 for topic in topics.MAIN_TOPICS}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = [t for t in await admin.list_topics() if t in ends]
        described = await admin.describe_topics(existing) if existing else []
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    if not partitions:
        return ends
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        for tp, end in (await consumer.end_offsets(partitions)).items():
            ends[tp.topic] += end
        return ends
    finally:
        await consumer.stop()


def poison_records() -> list[tuple[str, bytes]]:
    """Per record: a short name and the bytes. Not JSON; JSON but no envelope; an envelope of an unknown type."""
    unknown = {"event_id": str(uuid.uuid4()), "type": "nobody.knows_this", "version": 1,
               "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": str(uuid.uuid4()),
               "causation_id": None, "producer": "fault-harness", "payload": {}}
    return [("not json", b"\xff\xfe not json at all {"), ("not an envelope", b'{"hello": "world"}'),
            ("unknown type", json.dumps(unknown).encode())]


async def poison_every_topic(harness: Harness) -> str:
    """Three poison messages on every main topic, keyed like a real aggregate id."""
    producer = AIOKafkaProducer(bootstrap_servers=harness.kafka, acks="all")
    await producer.start()
    try:
        for topic in topics.MAIN_TOPICS:
            for name, value in poison_records():
                await producer.send_and_wait(topic, value, key=str(uuid.uuid4()).encode())
    finally:
        await producer.stop()
    return f"{len(poison_records())} poison records on each of {len(topics.MAIN_TOPICS)} topics"
