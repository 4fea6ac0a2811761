"""handle_once's idempotency record: a redelivery re-sends what was recorded, and the record stays bounded."""

import uuid

from oms_contracts import new_envelope
from oms_contracts.inventory.v1 import AdjustStock, StockLevelChanged
from oms_platform.documents import KEEP_OUTCOMES, handle_once, recorded_outcome
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
