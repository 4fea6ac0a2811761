"""The fault drill's crash hook in handle_once: off by default, and a real kill -9 at the chosen point when set."""

import asyncio
import signal
import subprocess
import sys
import textwrap

import pytest

from oms_contracts import new_envelope
from oms_contracts.inventory.v1 import AdjustStock, StockLevelChanged
from oms_platform import documents
from oms_platform.documents import handle_once
from oms_platform.testing import InMemoryDocuments, RecordingBus


def command() -> object:
    return new_envelope(AdjustStock(sku="SKU-1", delta=5, reason="count", adjusted_by="t"), producer="test")


async def decide(doc):
    level = StockLevelChanged(sku="SKU-1", location="main", on_hand=5, allocated=0, available=5, reason="count")
    return {"on_hand": 5}, [(level, "SKU-1")]


class Crashed(Exception):
    pass


@pytest.fixture
def crashes(monkeypatch):
    """Record where the hook would have killed the process instead of killing the test run."""
    points = []

    def fake_kill(pid, sig):
        points.append(sig)
        raise Crashed

    monkeypatch.setattr(documents.os, "kill", fake_kill)
    monkeypatch.setattr(documents, "_drill_counts", {"store": 0, "publish": 0})
    return points


def test_off_by_default(crashes, monkeypatch):
    monkeypatch.delenv("OMS_CRASH_AFTER_STORE", raising=False)
    monkeypatch.delenv("OMS_CRASH_AFTER_PUBLISH", raising=False)
    store, bus = InMemoryDocuments(), RecordingBus()
    for _ in range(3):
        asyncio.run(handle_once(command(), aggregate_id="SKU-1", store=store, bus=bus, decide=decide))
    assert crashes == [] and len(bus.published) == 3


def test_crash_after_store_at_the_nth_command_then_the_redelivery_publishes_the_same_events(crashes, monkeypatch):
    monkeypatch.setenv("OMS_CRASH_AFTER_STORE", "2")
    store, bus = InMemoryDocuments(), RecordingBus()
    first, second = command(), command()
    asyncio.run(handle_once(first, aggregate_id="SKU-1", store=store, bus=bus, decide=decide))
    with pytest.raises(Crashed):
        asyncio.run(handle_once(second, aggregate_id="SKU-1", store=store, bus=bus, decide=decide))
    assert crashes == [signal.SIGKILL]
    assert len(bus.published) == 1  # stored, never published
    assert str(second.event_id) in store.docs["SKU-1"]["handled"]
    monkeypatch.delenv("OMS_CRASH_AFTER_STORE")
    asyncio.run(handle_once(second, aggregate_id="SKU-1", store=store, bus=bus, decide=decide))
    recorded = store.docs["SKU-1"]["handled"][str(second.event_id)]
    assert [str(e.event_id) for e, _ in bus.published[1:]] == [
        str(documents.decode(item["envelope"]).event_id) for item in recorded]


def test_crash_after_publish(crashes, monkeypatch):
    monkeypatch.setenv("OMS_CRASH_AFTER_PUBLISH", "1")
    store, bus = InMemoryDocuments(), RecordingBus()
    with pytest.raises(Crashed):
        asyncio.run(handle_once(command(), aggregate_id="SKU-1", store=store, bus=bus, decide=decide))
    assert crashes == [signal.SIGKILL] and len(bus.published) == 1


def test_probability_one_in_a_fraction_always_hits(crashes, monkeypatch):
    monkeypatch.setenv("OMS_CRASH_AFTER_STORE", "1.0")
    with pytest.raises(Crashed):
        documents.drill_crash("store")
    monkeypatch.setenv("OMS_CRASH_AFTER_STORE", "0.0")
    documents.drill_crash("store")
    assert crashes == [signal.SIGKILL]


def test_it_is_a_real_kill_9():
    code = textwrap.dedent("""
        from oms_platform.documents import drill_crash
        drill_crash("publish")
        print("survived the first", flush=True)
        drill_crash("publish")
        print("survived the second")
    """)
    env = {"OMS_CRASH_AFTER_PUBLISH": "2", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.strip() == "survived the first"
