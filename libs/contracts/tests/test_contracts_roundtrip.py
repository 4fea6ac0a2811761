"""Every registered message survives encode → decode unchanged; bad input is refused with a reason."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from oms_contracts import ContractError, UnknownMessageType, decode, encode, new_envelope, registered
from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_contracts.common import PaymentDetails, PaymentItem
from oms_contracts.deadletters import v1 as deadletters
from oms_contracts.fulfilment import v1 as fulfilment
from oms_contracts.ingest import v1 as ingest
from oms_contracts.inventory import v1 as inventory
from oms_contracts.orders import v1 as orders
from oms_contracts.printing import v1 as printing

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORDER_ID = uuid.UUID("0b5f3f4e-1b7b-4c44-8c4b-7f1f0e3c2a11")
DETAILS = OrderDetails(
    channel="ebay",
    channel_order_id="12-34567-89012",
    order_number="12-34567-89012",
    buyer=Buyer(name="Zoë Brontë", email="zoe@example.org"),
    shipping_address=Address(name="Zoë Brontë", line1="1 Haworth Rd", city="Keighley", postcode="BD22 8DR",
                             country="GB"),
    lines=[OrderLine(line_id="1", sku="MUG-1", title="Mug ☕", quantity=3, unit_price=Decimal("4.99"))],
    shipping=Shipping(service="Tracked 48", cost=Decimal("2.50")),
    currency="GBP",
    paid=True,
)
PAYMENT = PaymentDetails(
    transaction_id="9RT17742MN3305519", kind="payment", status="Completed", currency="GBP", gross=Decimal("34.60"),
    fee=Decimal("-1.30"), net=Decimal("33.30"), invoice="1002", payer_email="asa@example.se", source="ipn",
    shipping_address=DETAILS.shipping_address, items=[PaymentItem(name="Mug", number="MUG-1", quantity=2)],
    paid_at=NOW,
)
SNAPSHOT = orders.OrderSnapshot(order_id=ORDER_ID, details=DETAILS, opened_at=NOW)
JOB_ID = printing.print_job_id(ORDER_ID, "invoice", 1)

SAMPLES = [
    deadletters.RetryDeadLetter(service="orders", letter_id="oms.orders.commands.dlq:0:7", reason="fixed the SKU",
                                requested_by="alice"),
    deadletters.DiscardDeadLetter(service="orders", letter_id="oms.orders.commands.dlq:0:8", reason="test junk",
                                  requested_by="alice"),
    ingest.OrderReceived(intake_id=uuid.uuid4(), channel_updated_at=NOW, order=DETAILS),
    ingest.WriteBackToChannel(writeback_id=ingest.writeback_id_for(ORDER_ID, "ship"), order_id=ORDER_ID,
                              action="ship", order=DETAILS, carrier="OMS Post", tracking_number="OM1",
                              shipped_at=NOW),
    ingest.AttemptWriteBack(writeback_id=ingest.writeback_id_for(ORDER_ID, "ship"), order_id=ORDER_ID, attempt=2),
    ingest.RetryWriteBack(writeback_id=ingest.writeback_id_for(ORDER_ID, "ship"), order_id=ORDER_ID,
                          requested_by="ops-key-1"),
    ingest.PushStock(sku="MUG-1", available=7, as_of=NOW),
    ingest.AttemptStockPush(sku="MUG-1", attempt=1),
    ingest.PaymentReceived(intake_id=uuid.uuid4(), payment=PAYMENT, open_order_if_unmatched=True),
    orders.FilePayment(payment_id=orders.payment_id_for("paypal", "9RT17742MN3305519"), payment=PAYMENT),
    orders.MatchPayment(payment_id=orders.payment_id_for("paypal", "9RT17742MN3305519"), order_id=ORDER_ID,
                        requested_by="ops-key-1"),
    orders.RecordPayment(order_id=ORDER_ID, payment=PAYMENT, matched_by="invoice", requested_by="payments"),
    orders.PaymentRecorded(order_id=ORDER_ID, payment=PAYMENT, paid=True, by="payments"),
    orders.PaymentMatchRefused(payment_id=orders.payment_id_for("paypal", "9RT17742MN3305519"), order_id=ORDER_ID,
                               command_id=uuid.uuid4(), reason="payment is matched"),
    orders.PlaceOrder(order_id=ORDER_ID, order=DETAILS, source="channel", placed_by="channel:ebay",
                      channel_updated_at=NOW),
    orders.ProcessOrder(order_id=ORDER_ID, requested_by="ops-key-1"),
    orders.RecordStockAllocation(order_id=ORDER_ID, sku="MUG-1", requested=3, short=1),
    orders.ConfirmShipment(order_id=ORDER_ID, shipment_id=uuid.uuid4(), carrier="OMS Post", tracking_number="OM1",
                           shipped_at=NOW),
    orders.OrderOpened(order=SNAPSHOT),
    orders.OrderProcessingStarted(order=SNAPSHOT, requested_by="ops-key-1"),
    orders.OrderProcessed(order=SNAPSHOT, carrier="OMS Post", tracking_number="OM1", processed_at=NOW),
    orders.CommandRejected(order_id=ORDER_ID, command_type="orders.process_order", command_id=uuid.uuid4(),
                           reason="order is not paid"),
    orders.ParkOrder(order_id=ORDER_ID, reason="buyer asked to wait", requested_by="ops-key-1"),
    orders.UnparkOrder(order_id=ORDER_ID, reason="buyer confirmed", requested_by="ops-key-1"),
    orders.LockOrder(order_id=ORDER_ID, reason="fraud check", requested_by="ops-key-1"),
    orders.UnlockOrder(order_id=ORDER_ID, reason="fraud check passed", requested_by="ops-key-1"),
    orders.CancelOrder(order_id=ORDER_ID, reason="buyer cancelled", requested_by="ops-key-1"),
    orders.OrderParked(order_id=ORDER_ID, reason="buyer asked to wait", by="ops-key-1"),
    orders.OrderUnparked(order_id=ORDER_ID, reason="buyer confirmed", by="ops-key-1"),
    orders.OrderLocked(order=SNAPSHOT, reason="fraud check", by="ops-key-1"),
    orders.OrderUnlocked(order=SNAPSHOT, reason="fraud check passed", by="ops-key-1"),
    orders.OrderCancelled(order=SNAPSHOT, reason="buyer cancelled", by="ops-key-1", stock_held=True),
    orders.SplitOrder(order_id=ORDER_ID, new_order_id=uuid.uuid4(), lines=[orders.LineQuantity(line_id="1", quantity=1)],
                      reason="ship what is in stock", requested_by="ops-key-1"),
    orders.OpenLinkedOrder(order_id=uuid.uuid4(), order=DETAILS, link=orders.OrderLink(kind="split_from",
                           order_id=ORDER_ID), allocations=[orders.AllocationShare(sku="MUG-1", requested=3, short=0)],
                           reason="split", requested_by="ops-key-1"),
    orders.MergeOrder(order_id=ORDER_ID, merged_order_id=uuid.uuid4(), merge_key="k", originals=[ORDER_ID, uuid.uuid4()],
                      requested_by="ops-key-1"),
    orders.AbsorbMergedOrder(order_id=uuid.uuid4(), original_order_id=ORDER_ID, order=DETAILS, allocations=[],
                             originals=[ORDER_ID], requested_by="ops-key-1"),
    orders.ResendOrder(order_id=ORDER_ID, resend_order_id=uuid.uuid4(), lines=[orders.LineQuantity(line_id="1",
                       quantity=1)], reason="lost in post", requested_by="ops-key-1"),
    orders.BookReturn(order_id=ORDER_ID, rma_id=uuid.uuid4(), lines=[orders.ReturnLine(line_id="1", quantity=1,
                      action="restock")], reason_category="damaged", refund=Decimal("4.99"), requested_by="ops-key-1"),
    orders.ReceiveReturn(order_id=ORDER_ID, rma_id=uuid.uuid4(), requested_by="ops-key-1"),
    orders.OrderSplit(order_id=ORDER_ID, new_order_id=uuid.uuid4(), order=DETAILS, allocations=[], reason="split",
                      by="ops-key-1"),
    orders.OrderMerged(order_id=ORDER_ID, merged_order_id=uuid.uuid4(), order=DETAILS, allocations=[],
                       originals=[ORDER_ID], by="ops-key-1"),
    orders.OrderResent(order_id=ORDER_ID, resend_order_id=uuid.uuid4(), order=DETAILS, reason="lost", by="ops-key-1"),
    orders.ReturnBooked(order_id=ORDER_ID, rma_id=uuid.uuid4(), lines=[orders.ReturnLine(line_id="1", quantity=1,
                        action="scrap")], reason_category="damaged", refund=Decimal("0"), by="ops-key-1"),
    orders.ReturnReceived(order_id=ORDER_ID, rma_id=uuid.uuid4(), lines=[orders.ReturnedStock(sku="MUG-1", quantity=1,
                          action="restock")], by="ops-key-1"),
    orders.AddOrderNote(order_id=ORDER_ID, note_id=uuid.uuid4(), text="gift wrap", internal=False,
                        requested_by="ops-key-1"),
    orders.RemoveOrderNote(order_id=ORDER_ID, note_id=uuid.uuid4(), requested_by="ops-key-1"),
    orders.EditOrder(order_id=ORDER_ID, shipping_address=DETAILS.shipping_address, shipping_service="Express",
                     tags=["vip"], folder="wholesale", requested_by="ops-key-1"),
    orders.ChangeOrderLines(order_id=ORDER_ID, add=DETAILS.lines[:0], remove=["2"],
                            quantities=[orders.LineQuantity(line_id="1", quantity=2)], requested_by="ops-key-1"),
    orders.ReopenOrder(order_id=ORDER_ID, shipment_id=uuid.uuid4(), tracking_number="OM1", reason="label torn",
                       requested_by="ops-key-1"),
    orders.OrderEdited(order=SNAPSHOT, changed=["tags"], by="ops-key-1"),
    orders.OrderLinesChanged(order=SNAPSHOT, deltas=[orders.SkuDelta(sku="MUG-1", delta=-1)], by="ops-key-1"),
    orders.OrderReopened(order=SNAPSHOT, reason="label torn", by="ops-key-1"),
    inventory.AdjustStock(sku="MUG-1", delta=10, reason="stock take", adjusted_by="ops"),
    inventory.AllocateStock(order_id=ORDER_ID, sku="MUG-1", quantity=3),
    inventory.ShipStock(order_id=ORDER_ID, sku="MUG-1", quantity=3),
    inventory.ReleaseStock(order_id=ORDER_ID, sku="MUG-1", quantity=3),
    inventory.StockAllocated(order_id=ORDER_ID, sku="MUG-1", requested=3, short=0),
    inventory.StockLevelChanged(sku="MUG-1", location="default", on_hand=7, allocated=0, available=7,
                                reason="shipped", order_id=ORDER_ID),
    inventory.DefineStockItem(sku="MUG-1", title="Blue mug", barcode="5012345678900", weight=0.35,
                              minimum_level=5, supplier="Potteries Ltd", defined_by="ops"),
    inventory.StockLow(sku="MUG-1", available=4, allocated=2, minimum_level=5, suggested_reorder=3),
    inventory.CreatePurchaseOrder(po_id=uuid.UUID(int=4), supplier="Potteries Ltd", expected_on=NOW.date(),
                                  created_by="ops", lines=[inventory.PurchaseOrderLine(sku="MUG-1", quantity=10)]),
    inventory.ReceivePurchaseOrder(po_id=uuid.UUID(int=4), received_by="ops",
                                   lines=[inventory.PurchaseOrderLine(sku="MUG-1", quantity=4)]),
    inventory.ReceiveStock(sku="MUG-1", quantity=4, po_id=uuid.UUID(int=4)),
    inventory.PurchaseOrderChanged(po_id=uuid.UUID(int=4), status="partially_delivered",
                                   received=[inventory.PurchaseOrderLine(sku="MUG-1", quantity=4)]),
    inventory.PurchaseOrderRejected(po_id=uuid.UUID(int=4), command_type="inventory.receive_purchase_order",
                                    reason="MUG-1: 12 would exceed the 10 ordered"),
    inventory.OpenPurchaseOrder(po_id=uuid.UUID(int=4), opened_by="ops"),
    inventory.CancelPurchaseOrder(po_id=uuid.UUID(int=4), reason="supplier out of stock", cancelled_by="ops"),
    inventory.CountStock(sku="MUG-1", location="main", counted=12, reason="stock take", counted_by="ops"),
    inventory.TransferStock(sku="MUG-1", from_location="main", to_location="shop", quantity=2, reason="restock shop",
                            transferred_by="ops"),
    inventory.ReceiveTransfer(sku="MUG-1", transfer_id=uuid.UUID(int=5), from_location="main", to_location="shop",
                              quantity=2, reason="restock shop", transferred_by="ops"),
    inventory.StockAvailableChanged(sku="MUG-1", available=5, previous_available=7, on_hand=7, allocated=2),
    inventory.ChangeStockDue(sku="MUG-1", po_id=uuid.UUID(int=4), delta=10, reason="purchase order 4 opened"),
    fulfilment.CreateShipment(order=SNAPSHOT),
    fulfilment.RecordDocumentOutcome(order_id=ORDER_ID, job_id=JOB_ID, document_type="invoice", printed=True),
    fulfilment.ShipmentCreated(order_id=ORDER_ID, shipment_id=uuid.uuid4(), carrier="OMS Post",
                               tracking_number="OM1", documents=["invoice", "shipping_label"]),
    fulfilment.ShipmentVoided(order_id=ORDER_ID, shipment_id=uuid.uuid4(), tracking_number="OM1",
                              reason="label damaged", by="ops-key-1"),
    fulfilment.IssueTrackingNumber(order_id=ORDER_ID, shipment_id=uuid.UUID(int=7), carrier="OMS Post"),
    fulfilment.RecordTrackingNumber(order_id=ORDER_ID, shipment_id=uuid.UUID(int=7), tracking_number="OM1234"),
    fulfilment.VoidShipment(order_id=ORDER_ID, reason="wrong address", requested_by="ops-key-1"),
    fulfilment.ScanItem(order_id=ORDER_ID, code="5012345678900", station="bench-1", scanned_by="packer-1"),
    fulfilment.CreateBatch(batch_id=uuid.UUID(int=8), order_ids=[ORDER_ID], requested_by="ops-key-1"),
    fulfilment.PrintBatchDocuments(order_id=ORDER_ID, batch_id=uuid.UUID(int=8)),
    fulfilment.ProcessBatch(batch_id=uuid.UUID(int=8), requested_by="ops-key-1"),
    fulfilment.ConfirmBatchShipment(order_id=ORDER_ID, batch_id=uuid.UUID(int=8), requested_by="ops-key-1"),
    fulfilment.SetShippingRules(
        rules=[fulfilment.ShippingRule(name="heavy abroad", countries=["FR", "DE"], min_weight_kg=2.0,
                                       max_value=Decimal("100"), service="Courier", carrier="DPD",
                                       manual_tracking=True)],
        default=fulfilment.ShippingDefault(carrier="OMS Post"), requested_by="admin-key-1"),
    fulfilment.SetChannelSettings(channel="ebay", flow="pack", documents=["invoice", "shipping_label"],
                                  requested_by="admin-key-1"),
    fulfilment.CommandRejected(aggregate_id=str(ORDER_ID), command_type="fulfilment.scan_item",
                               command_id=uuid.uuid4(), reason="MUG-2 is not in order 1001"),
    printing.PrintPickList(job_id=uuid.uuid4(), batch_id=uuid.uuid4(),
                           lines=[printing.PickListLine(sku="MUG-1", title="Mug", location="A", bin="A-01-2",
                                                        quantity=3, order_numbers=["1001", "1002"])]),
    fulfilment.ShipmentConfirmed(order_id=ORDER_ID, shipment_id=uuid.uuid4(), carrier="OMS Post",
                                 tracking_number="OM1", shipped_at=NOW),
    printing.PrintDocument(job_id=JOB_ID, document_type="invoice", order=SNAPSHOT, carrier="OMS Post",
                           tracking_number="OM1"),
    printing.ReprintJob(job_id=JOB_ID, reason="label smudged", requested_by="ops-key-1"),
    printing.RecordDelivery(job_id=JOB_ID, attempt=1, printed=False, printer="socket://x:9100", tries=3,
                            reason="connection reset"),
    printing.JobPrinted(job_id=JOB_ID, order_id=ORDER_ID, document_type="invoice", printer="socket://x:9100",
                        size_bytes=1234),
    printing.JobFailed(job_id=JOB_ID, order_id=ORDER_ID, document_type="shipping_label", reason="connection refused"),
]


class TestRoundTrip:
    def test_there_is_a_sample_of_every_registered_message(self):
        assert {(type(s).TYPE, type(s).VERSION) for s in SAMPLES} == set(registered())

    @pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: p.TYPE)
    def test_encode_then_decode_gives_the_same_message(self, payload):
        envelope = new_envelope(payload, producer="test")
        decoded = decode(encode(envelope))
        assert decoded == envelope
        assert type(decoded.payload) is type(payload)

    def test_money_travels_as_a_decimal_string(self):
        envelope = new_envelope(orders.OrderOpened(order=SNAPSHOT), producer="test")
        wire = json.loads(encode(envelope))
        assert wire["payload"]["order"]["details"]["lines"][0]["unit_price"] == "4.99"


class TestRefusals:
    def envelope_dict(self) -> dict:
        return json.loads(encode(new_envelope(orders.ProcessOrder(order_id=ORDER_ID, requested_by="x"),
                                              producer="test")))

    def test_an_unknown_type_is_refused(self):
        data = self.envelope_dict() | {"type": "orders.teleport_order"}
        with pytest.raises(UnknownMessageType, match="teleport_order"):
            decode(json.dumps(data))

    def test_an_unknown_version_is_refused(self):
        data = self.envelope_dict() | {"version": 2}
        with pytest.raises(UnknownMessageType, match="version 2"):
            decode(json.dumps(data))

    def test_a_payload_breaking_its_schema_names_the_field(self):
        data = self.envelope_dict()
        data["payload"]["order_id"] = "not-a-uuid"
        with pytest.raises(ContractError, match="order_id"):
            decode(json.dumps(data))

    def test_not_json_is_refused(self):
        with pytest.raises(ContractError, match="not JSON"):
            decode(b"\xff\xfe")

    def test_unknown_fields_are_ignored(self):
        data = self.envelope_dict()
        data["payload"]["added_in_a_later_minor"] = True
        data["trace"] = "x"
        assert decode(json.dumps(data)).payload.order_id == ORDER_ID

    def test_a_naive_timestamp_is_refused(self):
        data = self.envelope_dict() | {"occurred_at": "2026-11-28T12:00:00"}
        with pytest.raises(ContractError, match="occurred_at"):
            decode(json.dumps(data))


class TestCausation:
    def test_a_caused_message_carries_correlation_and_causation(self):
        first = new_envelope(orders.ProcessOrder(order_id=ORDER_ID, requested_by="x"), producer="orders-api")
        second = new_envelope(orders.OrderOpened(order=SNAPSHOT), producer="orders", cause=first)
        assert second.correlation_id == first.correlation_id
        assert second.causation_id == first.event_id

    def test_the_same_order_from_a_channel_always_maps_to_one_id(self):
        assert orders.order_id_for("ebay", "1") == orders.order_id_for("ebay", "1")
        assert orders.order_id_for("ebay", "1") != orders.order_id_for("amazon", "1")
