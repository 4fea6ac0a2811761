"""Inventory's side of split, merge and returns: taken-over stock is not allocated twice; restock raises on_hand."""

import uuid

from inventory.service_layer.handlers import forward_event, handle_command
from oms_contracts import derived_id
from oms_contracts.inventory.v1 import AdjustStock, AllocateStock
from oms_contracts.orders.v1 import OrderOpened, ReturnedStock, ReturnReceived


def received(*lines: tuple[str, int, str]) -> ReturnReceived:
    return ReturnReceived(order_id=uuid.uuid4(), rma_id=uuid.uuid4(), by="ops-key-1",
                          lines=[ReturnedStock(sku=sku, quantity=qty, action=action) for sku, qty, action in lines])


class TestOrdersThatTakeOverStock:
    async def test_an_order_opened_by_a_split_or_merge_allocates_nothing(self, bus, command, make_order):
        await forward_event(command(OrderOpened(order=make_order(("MUG", 2)), allocates_stock=False)), bus=bus)
        assert bus.published == []

    async def test_an_ordinary_opened_order_still_allocates(self, bus, command, make_order):
        await forward_event(command(OrderOpened(order=make_order(("MUG", 2)))), bus=bus)
        assert [p.quantity for p in bus.payloads(AllocateStock)] == [2]


class TestReceivedReturns:
    async def test_restock_lines_become_one_adjustment_per_sku_naming_the_rma(self, bus, command):
        event = command(received(("MUG", 1, "restock"), ("TEE", 2, "scrap"), ("MUG", 2, "restock")))
        await forward_event(event, bus=bus)
        [(envelope, key)] = bus.published
        assert isinstance(envelope.payload, AdjustStock) and key == "MUG"
        assert envelope.payload.delta == 3 and str(event.payload.rma_id) in envelope.payload.reason
        assert envelope.event_id == derived_id(event.event_id, "restock", "MUG")

    async def test_scrapped_lines_change_no_stock(self, bus, command):
        await forward_event(command(received(("TEE", 2, "scrap"))), bus=bus)
        assert bus.published == []

    async def test_the_same_return_received_twice_raises_on_hand_once(self, repo, bus, clock, command):
        await handle_command(command(AdjustStock(sku="MUG", delta=5, reason="count", adjusted_by="ops")),
                             repo=repo, bus=bus, clock=clock)
        event = command(received(("MUG", 2, "restock")))
        await forward_event(event, bus=bus)
        await forward_event(event, bus=bus)
        restocks = [e for e, _ in bus.published if isinstance(e.payload, AdjustStock) and e.payload.delta == 2]
        for envelope in restocks:
            await handle_command(envelope, repo=repo, bus=bus, clock=clock)
        assert len(restocks) == 2 and (await repo.get_stock("MUG")).totals.on_hand == 7
