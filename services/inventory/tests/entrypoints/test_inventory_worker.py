"""The inventory subscribers, wired on FastStream's in-memory test broker."""

import json
import uuid

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from oms_contracts import ContractError, DeadLetter, Envelope, decode, encode, new_envelope, topics
from oms_contracts.inventory.v1 import (
    AdjustStock,
    AllocateStock,
    CreatePurchaseOrder,
    DefineStockItem,
    PurchaseOrderLine,
    ReceivePurchaseOrder,
    ReceiveStock,
    StockAllocated,
    StockLow,
)
from oms_contracts.orders.v1 import OrderOpened
from oms_platform.messaging import Bus
from inventory.entrypoints.worker import register_subscribers


class Wiring:
    """A broker with the inventory subscribers, plus listeners recording what reaches other topics."""

    def __init__(self, repo, clock) -> None:
        self.broker = KafkaBroker()
        register_subscribers(self.broker, repo=repo, bus=Bus(self.broker, "inventory"), clock=clock, max_attempts=2)
        self.commands: list[Envelope] = []
        self.events: list[Envelope] = []
        self.dead: dict[str, list[DeadLetter]] = {topics.ORDERS_EVENTS: [], topics.INVENTORY_COMMANDS: []}
        self._listen(topics.INVENTORY_COMMANDS, self.commands)
        self._listen(topics.INVENTORY_EVENTS, self.events)
        for topic, letters in self.dead.items():
            self._collect_dead(topic, letters)

    def _listen(self, topic: str, into: list[Envelope]) -> None:
        @self.broker.subscriber(topic, group_id=f"test.{topic}")
        async def listen(body: dict) -> None:
            try:
                into.append(decode(json.dumps(body)))
            except ContractError:
                pass  # the consumer under test dead-letters it; this listener only records valid messages

    def _collect_dead(self, topic: str, into: list[DeadLetter]) -> None:
        @self.broker.subscriber(topics.dlq(topic))
        async def collect(body: dict) -> None:
            into.append(DeadLetter.model_validate(body))


@pytest.fixture
def wiring(repo, clock) -> Wiring:
    return Wiring(repo, clock)


def adjust(sku="MUG", delta=10) -> Envelope:
    return new_envelope(AdjustStock(sku=sku, delta=delta, reason="delivery", adjusted_by="ops"), producer="test")


class TestOrderEventForwarder:
    async def test_an_opened_order_sends_allocate_stock_commands_that_get_applied(
        self, wiring, repo, command, make_order
    ):
        order = make_order(("MUG", 2), ("TEE", 1))
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(adjust("MUG", 10)), topics.INVENTORY_COMMANDS, key=b"MUG")
            await br.publish(encode(command(OrderOpened(order=order))), topics.ORDERS_EVENTS,
                             key=str(order.order_id).encode())
        allocations = [e.payload for e in wiring.commands if isinstance(e.payload, AllocateStock)]
        assert [(c.sku, c.quantity) for c in allocations] == [("MUG", 2), ("TEE", 1)]
        assert (repo.stock["MUG"]["allocated"], repo.stock["MUG"]["available"]) == (2, 8)
        outcomes = {e.payload.sku: e.payload for e in wiring.events if isinstance(e.payload, StockAllocated)}
        assert outcomes["MUG"].short == 0 and outcomes["TEE"].known_sku is False

    async def test_a_malformed_message_goes_to_the_dlq_and_the_next_one_still_flows(
        self, wiring, repo, command, make_order
    ):
        order = make_order(("MUG", 1))
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(b"{not json", topics.ORDERS_EVENTS, key=b"k")
            await br.publish(json.dumps({"type": "orders.order_opened", "version": 1, "payload": {}}).encode(),
                             topics.ORDERS_EVENTS, key=b"k")
            await br.publish(encode(command(OrderOpened(order=order))), topics.ORDERS_EVENTS, key=b"k")
        first, second = wiring.dead[topics.ORDERS_EVENTS]
        assert first.reason.startswith("not JSON") and first.value == "{not json"
        assert second.reason.startswith("orders.order_opened v1 invalid: order")
        assert first.consumer_group == "inventory.order-events" and first.topic == topics.ORDERS_EVENTS
        assert [e.payload.sku for e in wiring.commands if isinstance(e.payload, AllocateStock)] == ["MUG"]


class TestStockCommandConsumer:
    async def test_same_message_twice_changes_nothing(self, wiring, repo):
        envelope = adjust("MUG", 10)
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(envelope), topics.INVENTORY_COMMANDS, key=b"MUG")
            stock, ledger = dict(repo.stock["MUG"]), dict(repo.ledger)
            await br.publish(encode(envelope), topics.INVENTORY_COMMANDS, key=b"MUG")
        assert repo.stock["MUG"] == stock and repo.ledger == ledger
        # level changed and available changed, each sent twice with the same id
        assert len({e.event_id for e in wiring.events}) == 2 and len(wiring.events) == 4

    async def test_a_refused_adjustment_goes_to_the_dlq_with_its_reason_and_the_next_one_flows(self, wiring, repo):
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(adjust("MUG", -4)), topics.INVENTORY_COMMANDS, key=b"MUG")
            await br.publish(b'{"type": "inventory.adjust_stock", "version": 7}', topics.INVENTORY_COMMANDS,
                             key=b"MUG")
            await br.publish(encode(adjust("MUG", 3)), topics.INVENTORY_COMMANDS, key=b"MUG")
        refused, unknown = wiring.dead[topics.INVENTORY_COMMANDS]
        assert "would leave on_hand at -4" in refused.reason and refused.attempts == 1
        assert refused.consumer_group == "inventory"
        assert unknown.reason.startswith("unknown message type 'inventory.adjust_stock' version 7")
        assert repo.stock["MUG"]["on_hand"] == 3

    async def test_a_failing_database_is_retried_and_the_update_is_finished(self, wiring, repo):
        repo.crash_before_stock_save = True
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(adjust("MUG", 6)), topics.INVENTORY_COMMANDS, key=b"MUG")
        assert repo.stock["MUG"]["on_hand"] == 6 and wiring.dead[topics.INVENTORY_COMMANDS] == []
        assert [e.type for e in wiring.events] == ["inventory.stock_level_changed", "inventory.stock_available_changed"]



def define_item(sku="MUG", minimum_level=5) -> Envelope:
    return new_envelope(DefineStockItem(sku=sku, title="Blue mug", minimum_level=minimum_level, defined_by="ops"),
                        producer="test")


class TestStockItemCommands:
    async def test_same_define_command_twice_changes_nothing(self, wiring, repo):
        envelope = define_item()
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(envelope), topics.INVENTORY_COMMANDS, key=b"MUG")
            stored = dict(repo.items.docs["MUG"])
            await br.publish(encode(envelope), topics.INVENTORY_COMMANDS, key=b"MUG")
        assert repo.items.docs["MUG"] == stored and stored["version"] == 1

    async def test_a_bad_define_command_goes_to_the_dlq_and_the_next_one_flows(self, wiring, repo):
        bad = {"type": "inventory.define_stock_item", "version": 1, "event_id": "x", "payload": {"sku": "MUG"}}
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(json.dumps(bad).encode(), topics.INVENTORY_COMMANDS, key=b"MUG")
            await br.publish(encode(define_item("TEE")), topics.INVENTORY_COMMANDS, key=b"TEE")
        [dead] = wiring.dead[topics.INVENTORY_COMMANDS]
        assert "inventory.define_stock_item" in dead.reason and dead.consumer_group == "inventory"
        assert list(repo.items.docs) == ["TEE"]

    async def test_an_allocation_below_the_minimum_level_publishes_stock_low(self, wiring, command, make_order):
        order = make_order(("MUG", 2))
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(define_item("MUG", minimum_level=5)), topics.INVENTORY_COMMANDS, key=b"MUG")
            await br.publish(encode(adjust("MUG", 6)), topics.INVENTORY_COMMANDS, key=b"MUG")
            await br.publish(encode(command(OrderOpened(order=order))), topics.ORDERS_EVENTS, key=b"o")
        [low] = [e.payload for e in wiring.events if isinstance(e.payload, StockLow)]
        assert (low.sku, low.available, low.suggested_reorder) == ("MUG", 4, 3)


PO_ID = uuid.UUID(int=7)


def po_command(payload) -> Envelope:
    return new_envelope(payload, producer="test")


class TestPurchaseOrderCommands:
    async def test_same_delivery_twice_changes_nothing_and_stock_rises_once(self, wiring, repo):
        create = po_command(CreatePurchaseOrder(po_id=PO_ID, supplier="Potteries", created_by="ops",
                                                lines=[PurchaseOrderLine(sku="MUG", quantity=10)]))
        delivery = po_command(ReceivePurchaseOrder(po_id=PO_ID, received_by="ops",
                                                   lines=[PurchaseOrderLine(sku="MUG", quantity=4)]))
        key = str(PO_ID).encode()
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(create), topics.INVENTORY_COMMANDS, key=key)
            await br.publish(encode(delivery), topics.INVENTORY_COMMANDS, key=key)
            stored = dict(repo.purchase_orders.docs[str(PO_ID)])
            await br.publish(encode(delivery), topics.INVENTORY_COMMANDS, key=key)
        assert repo.purchase_orders.docs[str(PO_ID)] == stored and stored["status"] == "partially_delivered"
        assert (repo.stock["MUG"]["on_hand"], repo.stock["MUG"]["due"]) == (4, 6)
        assert [e["command_type"] for e in repo.entries_of("MUG")] == ["inventory.change_stock_due",
                                                                      "inventory.receive_stock"]

    async def test_a_delivery_for_an_unknown_order_goes_to_the_dlq_and_the_next_one_flows(self, wiring, repo):
        unknown = po_command(ReceivePurchaseOrder(po_id=uuid.uuid4(), received_by="ops",
                                                  lines=[PurchaseOrderLine(sku="MUG", quantity=1)]))
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(unknown), topics.INVENTORY_COMMANDS, key=b"x")
            await br.publish(b'{"type": "inventory.receive_stock", "version": 1, "payload": {}}',
                             topics.INVENTORY_COMMANDS, key=b"x")
            await br.publish(encode(po_command(ReceiveStock(sku="MUG", quantity=2, po_id=PO_ID))),
                             topics.INVENTORY_COMMANDS, key=b"MUG")
        missing, malformed = wiring.dead[topics.INVENTORY_COMMANDS]
        assert "does not exist" in missing.reason and "inventory.receive_stock" in malformed.reason
        assert repo.stock["MUG"]["on_hand"] == 2 and repo.purchase_orders.docs == {}
