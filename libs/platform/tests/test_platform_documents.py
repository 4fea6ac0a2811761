"""handle_once's idempotency record: a redelivery re-sends what was recorded, and the record stays bounded."""

import uuid

import pytest

from oms_contracts import new_envelope
from oms_contracts.inventory.v1 import AdjustStock, StockLevelChanged
from oms_platform.documents import KEEP_OUTCOMES, ConcurrentWrite, RememberingStore, handle_once, recorded_outcome
from oms_platform.testing import InMemoryDocuments, RecordingBus


def command():
    return new_envelope(AdjustStock(sku="SKU-1", delta=1, reason="count", adjusted_by="t"), producer="test")


async def count_up(doc):
    on_hand = (doc["on_hand"] if doc else 0) + 1
    level = StockLevelChanged(sku="SKU-1", location="main", on_hand=on_hand, allocated=0, available=on_hand,
                              reason="count")
    return {"on_hand": on_hand}, [(level, "SKU-1")]


class TestHandledRecord:
    async def test_a_recent_command_redelivered_changes_nothing_and_sends_the_same_events(self):
        store, bus = InMemoryDocuments(), RecordingBus()
        envelope = command()
        for _ in range(2):
            await handle_once(envelope, aggregate_id="SKU-1", store=store, bus=bus, decide=count_up)
        assert store.docs["SKU-1"]["on_hand"] == 1 and bus.event_ids()[0] == bus.event_ids()[1]

    async def test_only_the_latest_commands_keep_their_envelopes_and_every_old_one_still_changes_nothing(self):
        store, bus = InMemoryDocuments(), RecordingBus()
        commands = [command() for _ in range(KEEP_OUTCOMES + 5)]
        for envelope in commands:
            await handle_once(envelope, aggregate_id="SKU-1", store=store, bus=bus, decide=count_up)
        doc = store.docs["SKU-1"]
        assert len(doc["handled"]) == len(commands)
        assert [bool(entry) for entry in doc["handled"].values()] == [False] * 5 + [True] * KEEP_OUTCOMES
        assert recorded_outcome(doc, commands[0].event_id) == [] and recorded_outcome(doc, uuid.uuid4()) is None
        published = len(bus.published)
        await handle_once(commands[0], aggregate_id="SKU-1", store=store, bus=bus, decide=count_up)
        await handle_once(commands[-1], aggregate_id="SKU-1", store=store, bus=bus, decide=count_up)
        assert store.docs["SKU-1"]["on_hand"] == len(commands)
        assert bus.event_ids()[published:] == [bus.event_ids()[published - 1]]


class CountingDocuments(InMemoryDocuments):
    """InMemoryDocuments that count the reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, aggregate_id):
        self.reads += 1
        return await super().get(aggregate_id)


class TestRememberingStore:
    async def test_commands_after_the_first_do_not_read_the_document_again(self):
        store, bus = CountingDocuments(), RecordingBus()
        remembering = RememberingStore(store)
        for _ in range(3):
            await handle_once(command(), aggregate_id="SKU-1", store=remembering, bus=bus, decide=count_up)
        assert store.reads == 1 and store.docs["SKU-1"]["on_hand"] == 3 and store.docs["SKU-1"]["version"] == 3

    async def test_a_redelivery_of_a_remembered_command_changes_nothing(self):
        store, bus = CountingDocuments(), RecordingBus()
        remembering, envelope = RememberingStore(store), command()
        for _ in range(2):
            await handle_once(envelope, aggregate_id="SKU-1", store=remembering, bus=bus, decide=count_up)
        assert store.docs["SKU-1"]["on_hand"] == 1 and bus.event_ids()[0] == bus.event_ids()[1]

    async def test_a_stale_document_fails_its_guarded_save_and_the_retry_reads_it_afresh(self):
        store, bus = CountingDocuments(), RecordingBus()
        this_process, other_process = RememberingStore(store), RememberingStore(store)
        await handle_once(command(), aggregate_id="SKU-1", store=this_process, bus=bus, decide=count_up)
        await handle_once(command(), aggregate_id="SKU-1", store=other_process, bus=bus, decide=count_up)
        late = command()
        with pytest.raises(ConcurrentWrite):
            await handle_once(late, aggregate_id="SKU-1", store=this_process, bus=bus, decide=count_up)
        assert store.docs["SKU-1"]["on_hand"] == 2
        await handle_once(late, aggregate_id="SKU-1", store=this_process, bus=bus, decide=count_up)  # the retry
        assert store.docs["SKU-1"]["on_hand"] == 3 and store.docs["SKU-1"]["version"] == 3

    async def test_a_command_that_fails_before_its_save_leaves_nothing_remembered(self):
        store, bus = CountingDocuments(), RecordingBus()
        remembering = RememberingStore(store)
        await handle_once(command(), aggregate_id="SKU-1", store=remembering, bus=bus, decide=count_up)

        async def fail(doc):
            doc["on_hand"] = 99  # a decision that changed the document it was given, then failed
            raise RuntimeError("decision failed")

        with pytest.raises(RuntimeError):
            await handle_once(command(), aggregate_id="SKU-1", store=remembering, bus=bus, decide=fail)
        await handle_once(command(), aggregate_id="SKU-1", store=remembering, bus=bus, decide=count_up)
        assert store.reads == 2 and store.docs["SKU-1"]["on_hand"] == 2

    async def test_it_keeps_at_most_its_limit_forgetting_the_oldest(self):
        store, bus = CountingDocuments(), RecordingBus()
        remembering = RememberingStore(store, limit=2)
        for sku in ("A", "B", "C"):
            await handle_once(command(), aggregate_id=sku, store=remembering, bus=bus, decide=count_up)
        assert list(remembering.kept) == ["B", "C"]
