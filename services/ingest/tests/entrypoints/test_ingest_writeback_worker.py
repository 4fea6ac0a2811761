"""The write-back subscribers, wired on FastStream's in-memory test broker: an orders event becomes a write-back
through the ingest command topic; the same event twice writes back once; a bad command goes to the DLQ."""

import sys
from pathlib import Path

from faststream.kafka import KafkaBroker, TestKafkaBroker

from ingest.connectors.registry import CAPABILITIES
from ingest.entrypoints.worker import register_subscribers
from ingest.service_layer.stock_push import StockPushRunner
from oms_contracts import DeadLetter, encode, topics
from oms_contracts.ingest.v1 import writeback_id_for
from oms_platform.messaging import Bus

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from test_ingest_writeback_handlers import FakeChannel, FakeWriteBacks, make_runner, processed  # noqa: E402


def wired(channel: FakeChannel):
    broker = KafkaBroker()
    runner = make_runner(channel)
    runner.bus = Bus(broker, "ingest")
    stock = StockPushRunner(store=FakeWriteBacks(), channels=runner.channels, clock=runner.clock,
                            build=runner.build, capabilities=CAPABILITIES)
    register_subscribers(broker, runner=runner, stock=stock, follow_up=False, max_attempts=2)
    dead: list[DeadLetter] = []

    @broker.subscriber(topics.dlq(topics.INGEST_COMMANDS))
    async def collect(body: dict) -> None:
        dead.append(DeadLetter.model_validate(body))

    return broker, runner, dead


class TestWriteBackSubscribers:
    async def test_a_processed_order_is_written_back_to_its_channel_once(self):
        channel = FakeChannel()
        broker, runner, _ = wired(channel)
        event = processed()
        order_id = event.payload.order.order_id
        async with TestKafkaBroker(broker) as br:
            for _ in range(2):  # the same event delivered twice
                await br.publish(encode(event), topics.ORDERS_EVENTS, key=str(order_id).encode())
        doc = await runner.store.get(writeback_id_for(order_id, "ship"))
        assert doc["state"] == "confirmed" and len(channel.calls) == 1

    async def test_a_bad_command_goes_to_the_dlq_and_the_next_one_still_flows(self):
        channel = FakeChannel()
        broker, runner, dead = wired(channel)
        event = processed()
        async with TestKafkaBroker(broker) as br:
            await br.publish(b"{not json", topics.INGEST_COMMANDS)
            await br.publish(encode(event), topics.ORDERS_EVENTS)
        assert [d.reason.split(":")[0] for d in dead] == ["not JSON"]
        assert (await runner.store.get(writeback_id_for(event.payload.order.order_id, "ship")))["state"] == "confirmed"
