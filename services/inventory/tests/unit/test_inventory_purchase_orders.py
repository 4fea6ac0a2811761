"""Purchase orders: created and received once per command, over-delivery refused, deliveries raising on_hand."""

import datetime
import uuid

import pytest

from oms_contracts.inventory.v1 import (
    CountStock,
    CancelPurchaseOrder,
    ChangeStockDue,
    CreatePurchaseOrder,
    DefineStockItem,
    OpenPurchaseOrder,
    PurchaseOrderChanged,
    PurchaseOrderLine,
    PurchaseOrderRejected,
    ReceivePurchaseOrder,
    ReceiveStock,
    StockLow,
)
from oms_platform.messaging import PermanentError
from inventory.domain.verify import verify
from inventory.service_layer.handlers import handle_command

PO_ID = uuid.UUID(int=42)


@pytest.fixture
def handle(repo, bus, clock):
    async def run(envelope):
        await handle_command(envelope, repo=repo, bus=bus, clock=clock)

    return run


def create(status="open", **lines) -> CreatePurchaseOrder:
    return CreatePurchaseOrder(po_id=PO_ID, supplier="Potteries Ltd", expected_on=datetime.date(2026, 12, 5),
                               created_by="ops", status=status,
                               lines=[PurchaseOrderLine(sku=s, quantity=q) for s, q in lines.items()])


def receive(**lines) -> ReceivePurchaseOrder:
    return ReceivePurchaseOrder(po_id=PO_ID, received_by="ops",
                                lines=[PurchaseOrderLine(sku=s, quantity=q) for s, q in lines.items()])


async def apply_stock_commands(bus, handle):
    """Run the stock commands the PO handler sent (each once), as the stock consumer would."""
    handled = getattr(bus, "handled", set())
    bus.handled = handled
    for envelope, _ in list(bus.published):
        if isinstance(envelope.payload, (ReceiveStock, ChangeStockDue)) and envelope.event_id not in handled:
            handled.add(envelope.event_id)
            await handle(envelope)


class TestCreatePurchaseOrder:
    async def test_a_new_order_is_open_with_its_lines(self, handle, command, repo, bus):
        await handle(command(create(MUG=10, TEE=4)))
        doc = repo.purchase_orders.docs[str(PO_ID)]
        assert doc["status"] == "open" and doc["purchase_order"]["supplier"] == "Potteries Ltd"
        assert [(li["sku"], li["ordered"], li["received"]) for li in doc["purchase_order"]["lines"]] == [
            ("MUG", 10, 0), ("TEE", 4, 0)]
        [(changed, key)] = [(e, k) for e, k in bus.published if isinstance(e.payload, PurchaseOrderChanged)]
        assert changed.payload.status == "open" and key == str(PO_ID)
        assert [(p.sku, p.delta) for p in bus.payloads(ChangeStockDue)] == [("MUG", 10), ("TEE", 4)]

    async def test_creating_the_same_id_again_with_another_command_is_rejected(self, handle, command, repo, bus):
        await handle(command(create(MUG=10)))
        await handle(command(create(MUG=99)))
        [rejected] = bus.payloads(PurchaseOrderRejected)
        assert "already exists" in rejected.reason
        assert repo.purchase_orders.docs[str(PO_ID)]["purchase_order"]["lines"][0]["ordered"] == 10


class TestReceiveDelivery:
    async def test_a_partial_delivery_raises_on_hand_with_the_po_in_the_ledger(self, handle, command, repo, bus):
        await handle(command(create(MUG=10, TEE=4)))
        await handle(command(receive(MUG=4)))
        await apply_stock_commands(bus, handle)
        assert repo.purchase_orders.docs[str(PO_ID)]["status"] == "partially_delivered"
        assert (repo.stock["MUG"]["on_hand"], repo.stock["MUG"]["due"]) == (4, 6)
        assert (repo.stock["TEE"]["on_hand"], repo.stock["TEE"]["due"]) == (0, 4)
        due, entry = repo.entries_of("MUG")
        assert (due["due_delta"], due["reason"]) == (10, f"purchase order {PO_ID} open")
        assert entry["due_delta"] == -4
        assert entry["purchase_order_id"] == str(PO_ID) and entry["reason"] == f"received on purchase order {PO_ID}"
        assert [k for e, k in bus.published if isinstance(e.payload, ReceiveStock)] == ["MUG"]

    async def test_receiving_everything_outstanding_makes_it_delivered(self, handle, command, repo, bus):
        await handle(command(create(MUG=10, TEE=4)))
        await handle(command(receive(MUG=4)))
        await handle(command(receive(MUG=6, TEE=4)))
        await apply_stock_commands(bus, handle)
        assert repo.purchase_orders.docs[str(PO_ID)]["status"] == "delivered"
        assert (repo.stock["MUG"]["on_hand"], repo.stock["TEE"]["on_hand"]) == (10, 4)
        assert [p.status for p in bus.payloads(PurchaseOrderChanged)] == ["open", "partially_delivered", "delivered"]

    async def test_over_delivery_is_rejected_with_the_reason_and_changes_nothing(self, handle, command, repo, bus):
        await handle(command(create(MUG=10)))
        await handle(command(receive(MUG=8)))
        before = repo.purchase_orders.docs[str(PO_ID)]["purchase_order"]
        await handle(command(receive(MUG=3, JUG=1)))
        [rejected] = bus.payloads(PurchaseOrderRejected)
        assert "MUG: receiving 3 would exceed the 10 ordered (8 already received, 2 outstanding)" in rejected.reason
        assert "JUG is not on purchase order" in rejected.reason
        assert repo.purchase_orders.docs[str(PO_ID)]["purchase_order"] == before
        assert len(bus.payloads(ReceiveStock)) == 1

    async def test_same_delivery_twice_changes_nothing_and_resends_the_same_stock_commands(
        self, handle, command, repo, bus
    ):
        await handle(command(create(MUG=10)))
        delivery = command(receive(MUG=4))
        await handle(delivery)
        stored = repo.purchase_orders.docs[str(PO_ID)]
        await handle(delivery)
        await apply_stock_commands(bus, handle)
        assert repo.purchase_orders.docs[str(PO_ID)] == stored
        first, second = [e.event_id for e, _ in bus.published if isinstance(e.payload, ReceiveStock)]
        assert first == second and repo.stock["MUG"]["on_hand"] == 4

    async def test_a_delivery_for_an_unknown_order_is_refused_permanently_and_stores_nothing(
        self, handle, command, repo
    ):
        with pytest.raises(PermanentError, match="does not exist"):
            await handle(command(receive(MUG=1)))
        assert repo.purchase_orders.docs == {}


class TestDue:
    async def test_open_orders_count_as_due_in_the_reorder_suggestion_until_received(
        self, handle, command, repo, bus
    ):
        await handle(command(DefineStockItem(sku="MUG", title="Mug", minimum_level=5, defined_by="ops")))
        await handle(command(create(MUG=10)))
        await handle(command(receive(MUG=4)))
        await apply_stock_commands(bus, handle)
        assert await repo.purchase_orders.due("MUG") == 6 and repo.stock["MUG"]["due"] == 6
        low_before = len(bus.payloads(StockLow))
        await handle(command(CountStock(sku="MUG", counted=1, reason="found", counted_by="ops")))
        low = bus.payloads(StockLow)[low_before]
        # minimum + open orders − available − due = 5 + 0 − 1 − 6, not below zero
        assert (low.due, low.suggested_reorder) == (6, 0)
        await handle(command(receive(MUG=6)))
        await apply_stock_commands(bus, handle)
        assert await repo.purchase_orders.due("MUG") == 0 and repo.stock["MUG"]["due"] == 0


class TestPurchaseOrderStates:
    async def test_a_pending_order_is_not_due_until_opened(self, handle, command, repo, bus):
        await handle(command(create(status="pending", MUG=10)))
        assert repo.purchase_orders.docs[str(PO_ID)]["status"] == "pending"
        assert await repo.purchase_orders.due("MUG") == 0
        await handle(command(OpenPurchaseOrder(po_id=PO_ID, opened_by="ops")))
        assert repo.purchase_orders.docs[str(PO_ID)]["status"] == "open"
        assert await repo.purchase_orders.due("MUG") == 10
        assert [p.status for p in bus.payloads(PurchaseOrderChanged)] == ["pending", "open"]

    async def test_a_delivery_on_a_pending_order_is_refused_and_receives_nothing(self, handle, command, repo, bus):
        await handle(command(create(status="pending", MUG=10)))
        await handle(command(receive(MUG=1)))
        [rejected] = bus.payloads(PurchaseOrderRejected)
        assert "is pending" in rejected.reason and "open it first" in rejected.reason
        assert bus.payloads(ReceiveStock) == [] and repo.purchase_orders.docs[str(PO_ID)]["status"] == "pending"

    async def test_opening_an_order_that_is_not_pending_is_refused(self, handle, command, bus):
        await handle(command(create(MUG=10)))
        await handle(command(OpenPurchaseOrder(po_id=PO_ID, opened_by="ops")))
        [rejected] = bus.payloads(PurchaseOrderRejected)
        assert rejected.reason == f"purchase order {PO_ID} is open: only a pending order opens"

    async def test_cancelling_a_partly_delivered_order_takes_its_outstanding_off_due_and_keeps_the_stock(
        self, handle, command, repo, bus
    ):
        await handle(command(create(MUG=10)))
        await handle(command(receive(MUG=4)))
        await apply_stock_commands(bus, handle)
        assert await repo.purchase_orders.due("MUG") == 6
        await handle(command(CancelPurchaseOrder(po_id=PO_ID, reason="supplier closed", cancelled_by="ops")))
        doc = repo.purchase_orders.docs[str(PO_ID)]
        assert (doc["status"], doc["purchase_order"]["cancel_reason"]) == ("cancelled", "supplier closed")
        assert await repo.purchase_orders.due("MUG") == 0 and repo.stock["MUG"]["on_hand"] == 4

    async def test_a_cancelled_order_cannot_receive_or_be_cancelled_again(self, handle, command, repo, bus):
        await handle(command(create(MUG=10)))
        await handle(command(CancelPurchaseOrder(po_id=PO_ID, reason="not needed", cancelled_by="ops")))
        await handle(command(receive(MUG=1)))
        await handle(command(CancelPurchaseOrder(po_id=PO_ID, reason="again", cancelled_by="ops")))
        reasons = [r.reason for r in bus.payloads(PurchaseOrderRejected)]
        assert reasons == [f"purchase order {PO_ID} is cancelled: no delivery can be received",
                           f"purchase order {PO_ID} is already cancelled"]
        assert bus.payloads(ReceiveStock) == []

    async def test_a_delivered_order_cannot_be_cancelled(self, handle, command, bus):
        await handle(command(create(MUG=2)))
        await handle(command(receive(MUG=2)))
        await handle(command(CancelPurchaseOrder(po_id=PO_ID, reason="late", cancelled_by="ops")))
        [rejected] = bus.payloads(PurchaseOrderRejected)
        assert rejected.reason == f"purchase order {PO_ID} is already delivered"

    async def test_opening_or_cancelling_an_unknown_order_is_refused_permanently(self, handle, command, repo):
        with pytest.raises(PermanentError, match="does not exist"):
            await handle(command(OpenPurchaseOrder(po_id=PO_ID, opened_by="ops")))
        with pytest.raises(PermanentError, match="does not exist"):
            await handle(command(CancelPurchaseOrder(po_id=PO_ID, reason="x", cancelled_by="ops")))
        assert repo.purchase_orders.docs == {}


class TestDueInTheLedger:
    async def test_opening_and_cancelling_are_ledger_entries_of_each_sku_and_verify_counts_them(
        self, handle, command, repo, bus
    ):
        await handle(command(create(status="pending", MUG=10, TEE=3)))
        await apply_stock_commands(bus, handle)
        assert repo.stock == {}  # a pending order brings nothing yet
        await handle(command(OpenPurchaseOrder(po_id=PO_ID, opened_by="ops")))
        await handle(command(receive(MUG=4)))
        await handle(command(CancelPurchaseOrder(po_id=PO_ID, reason="closed", cancelled_by="ops")))
        await apply_stock_commands(bus, handle)
        assert [(e["command_type"], e["due_delta"]) for e in repo.entries_of("MUG")] == [
            ("inventory.change_stock_due", 10), ("inventory.receive_stock", -4), ("inventory.change_stock_due", -6)]
        assert (repo.stock["MUG"]["due"], repo.stock["TEE"]["due"]) == (0, 0)
        for sku in ("MUG", "TEE"):
            check = verify(sku, await repo.get_stock(sku), await repo.entries(sku, after_seq=0, limit=100))
            assert check.consistent and check.due_recomputed == 0

    async def test_stock_received_beyond_what_is_due_takes_due_to_zero_not_below(self, handle, command, repo):
        await handle(command(ReceiveStock(sku="MUG", quantity=3, po_id=PO_ID)))
        assert (repo.stock["MUG"]["on_hand"], repo.stock["MUG"]["due"]) == (3, 0)
        assert repo.entries_of("MUG")[0]["due_delta"] == 0

    async def test_a_stored_due_that_differs_from_the_ledger_is_inconsistent(self, handle, command, repo):
        await handle(command(create(MUG=10)))
        await handle(command(ChangeStockDue(sku="MUG", po_id=PO_ID, delta=10, reason="opened")))
        repo.stock["MUG"]["due"] = 7  # as if a write had been lost
        check = verify("MUG", await repo.get_stock("MUG"), await repo.entries("MUG", after_seq=0, limit=100))
        assert not check.consistent and (check.due_stored, check.due_recomputed) == (7, 10)
