"""The stock forwarder on FastStream's in-memory broker: a batch of inventory events becomes one push command per
SKU with its latest value; an undecodable event goes to the DLQ and the rest of its batch still flows."""

from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker

from ingest.entrypoints.worker import subscribe_stock_changes
from oms_contracts import DeadLetter, decode, encode, topics
from oms_contracts.inventory.v1 import StockAvailableChanged
from oms_platform.messaging import Bus
from oms_platform.testing import RecordingBus


def changed(sku: str, available: int):
    return RecordingBus("inventory").envelope(StockAvailableChanged(
        sku=sku, available=available, previous_available=0, on_hand=available, allocated=0))


def wired():
    broker = KafkaBroker()
    subscribe_stock_changes(broker, bus=Bus(broker, "ingest"), max_attempts=2)
    commands, dead = [], []

    @broker.subscriber(topics.INGEST_COMMANDS)
    async def collect(message: KafkaMessage) -> None:
        commands.append(decode(message.body).payload)

    @broker.subscriber(topics.dlq(topics.INVENTORY_EVENTS))
    async def collect_dead(body: dict) -> None:
        dead.append(DeadLetter.model_validate(body))

    return broker, commands, dead


class TestStockForwarder:
    async def test_a_batch_of_changes_is_one_command_per_sku_with_the_latest_value(self):
        broker, commands, _ = wired()
        events = [encode(changed("MUG-1", n)) for n in (9, 8, 7)] + [encode(changed("TEE-L", 2))]
        async with TestKafkaBroker(broker) as br:
            await br.publish_batch(*events, topic=topics.INVENTORY_EVENTS)
        assert sorted((c.sku, c.available) for c in commands) == [("MUG-1", 7), ("TEE-L", 2)]

    async def test_an_undecodable_event_goes_to_the_dlq_and_the_rest_still_flows(self):
        broker, commands, dead = wired()
        async with TestKafkaBroker(broker) as br:
            await br.publish_batch(b"{not json", encode(changed("MUG-1", 4)), topic=topics.INVENTORY_EVENTS)
        assert [(c.sku, c.available) for c in commands] == [("MUG-1", 4)]
        assert [d.reason.split(":")[0] for d in dead] == ["not JSON"] and dead[0].consumer_group == "ingest.inventory-events"
