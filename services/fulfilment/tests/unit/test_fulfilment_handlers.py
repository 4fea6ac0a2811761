"""The fulfilment handlers: carriers, shipping rules, channel settings, batches, void and the three process flows,
with exactly-once effects over at-least-once delivery."""

import uuid

import pytest

from oms_contracts import derived_id, new_envelope
from oms_contracts.fulfilment.v1 import (
    CommandRejected,
    ConfirmBatchShipment,
    CreateBatch,
    CreateShipment,
    IssueTrackingNumber,
    ProcessBatch,
    RecordDocumentOutcome,
    RecordTrackingNumber,
    ScanItem,
    SetChannelSettings,
    SetShippingRules,
    ShipmentConfirmed,
    ShipmentCreated,
    ShipmentVoided,
    ShippingDefault,
    ShippingRule,
    VoidShipment,
)
from oms_contracts.orders.v1 import OrderOpened, OrderProcessingStarted
from oms_contracts.printing.v1 import JobFailed, JobPrinted, PrintDocument, PrintPickList, print_job_id
from oms_platform.messaging import PermanentError
from fulfilment.adapters.carriers import is_valid_s10, s10_tracking_number
from fulfilment.service_layer.handlers import forward_event, handle_command


def printed(order_id, document_type, revision=1, ok=True, reason=None):
    return RecordDocumentOutcome(order_id=order_id, job_id=print_job_id(order_id, document_type, revision),
                                 document_type=document_type, printed=ok, reason=reason)


async def set_channel(worker, channel, flow, documents=("invoice", "shipping_label")):
    await worker.send(SetChannelSettings(channel=channel, flow=flow, documents=list(documents), requested_by="admin"))


def rejections(bus):
    return [p.reason for p in bus.payloads(CommandRejected)]


class TestBuiltInCarrier:
    async def test_a_shipment_gets_the_next_number_of_the_range_then_prints(self, worker, bus, make_order):
        first, second = make_order(), make_order()
        await worker.send(CreateShipment(order=first))
        await worker.send(CreateShipment(order=second))
        assert worker.shipment(first.order_id)["tracking_number"] == s10_tracking_number("OM", 100, "GB")
        assert worker.shipment(second.order_id)["tracking_number"] == s10_tracking_number("OM", 101, "GB")
        [request, _] = bus.payloads(IssueTrackingNumber)
        key = next(k for e, k in bus.published if e.payload is request)
        assert key == "OMS Post"  # the range's one writer
        created = bus.payloads(ShipmentCreated)[0]
        assert created.carrier == "OMS Post" and is_valid_s10(created.tracking_number)
        assert [(p.document_type, p.tracking_number) for p in bus.payloads(PrintDocument)][:2] == [
            ("invoice", created.tracking_number), ("shipping_label", created.tracking_number)]

    async def test_a_redelivered_number_request_records_the_same_number_once(self, worker, bus, ctx, make_order):
        order = make_order()
        await worker.send(CreateShipment(order=order), settle=False)
        [(request, _)] = [(e, k) for e, k in bus.published if isinstance(e.payload, IssueTrackingNumber)]
        await handle_command(request, ctx=ctx)
        await handle_command(request, ctx=ctx)
        records = [e for e, _ in bus.published if isinstance(e.payload, RecordTrackingNumber)]
        assert len(records) == 2 and records[0].event_id == records[1].event_id
        assert records[0].payload.tracking_number == records[1].payload.tracking_number


class TestManualCarrier:
    async def test_the_shipment_waits_until_staff_type_the_number(self, worker, bus, make_order):
        await worker.send(SetShippingRules(
            rules=[ShippingRule(name="dpd", countries=["GB"], service="Next Day", carrier="DPD",
                                manual_tracking=True)],
            default=ShippingDefault(carrier="OMS Post"), requested_by="admin"))
        order = make_order()
        await worker.send(CreateShipment(order=order))
        shipment = worker.shipment(order.order_id)
        assert (shipment["status"], shipment["carrier"], shipment["service"]) == ("awaiting_tracking", "DPD",
                                                                                   "Next Day")
        assert not bus.payloads(IssueTrackingNumber) and not bus.payloads(PrintDocument)
        await worker.send(RecordTrackingNumber(order_id=order.order_id, tracking_number="DPD1234567",
                                               entered_by="ops-key-1"))
        assert worker.shipment(order.order_id)["tracking_number"] == "DPD1234567"
        assert [p.tracking_number for p in bus.payloads(PrintDocument)] == ["DPD1234567"] * 2

    async def test_typing_a_number_for_the_range_carrier_or_twice_is_refused(self, worker, bus, make_order):
        order = make_order()
        await worker.send(CreateShipment(order=order))
        await worker.send(RecordTrackingNumber(order_id=order.order_id, tracking_number="X1234", entered_by="ops"))
        assert rejections(bus) == [f"the shipment is printing and has tracking number "
                                   f"{worker.shipment(order.order_id)['tracking_number']}"]


class TestShippingRulesAndWeight:
    async def test_weight_comes_from_inventory_and_chooses_the_rule(self, worker, catalogue, make_order):
        catalogue.add("ANVIL", title="Anvil", weight=12.5)
        await worker.send(SetShippingRules(
            rules=[ShippingRule(name="heavy", min_weight_kg=10, service="Freight", carrier="OMS Post")],
            default=ShippingDefault(carrier="OMS Post"), requested_by="admin"))
        light, heavy = make_order(), make_order()
        heavy = make_order(lines=[*light.details.lines,
                                  light.details.lines[0].model_copy(update={"line_id": "9", "sku": "ANVIL"})])
        await worker.send(CreateShipment(order=light))
        await worker.send(CreateShipment(order=heavy))
        assert worker.shipment(light.order_id)["weight_kg"] == pytest.approx(1.0)  # 2 × 0.4 + 0.2
        assert (worker.shipment(light.order_id)["service"], worker.shipment(light.order_id)["rule"]) == (
            "Standard", None)
        assert worker.shipment(heavy.order_id)["weight_kg"] == pytest.approx(26.0)
        assert (worker.shipment(heavy.order_id)["service"], worker.shipment(heavy.order_id)["rule"]) == (
            "Freight", "heavy")


class TestAutomaticFlow:
    async def test_every_document_printed_confirms_once(self, worker, bus, make_order):
        order = make_order()
        await worker.send(CreateShipment(order=order))
        await worker.send(printed(order.order_id, "invoice"))
        assert not bus.payloads(ShipmentConfirmed)
        await worker.send(printed(order.order_id, "shipping_label"))
        await worker.send(printed(order.order_id, "shipping_label"))
        [confirmed] = bus.payloads(ShipmentConfirmed)
        assert confirmed.tracking_number == worker.shipment(order.order_id)["tracking_number"]
        assert worker.shipment(order.order_id)["status"] == "confirmed"

    async def test_a_failed_document_needs_attention_and_never_confirms(self, worker, bus, make_order):
        order = make_order()
        await worker.send(CreateShipment(order=order))
        await worker.send(printed(order.order_id, "invoice", ok=False, reason="paper out"))
        await worker.send(printed(order.order_id, "shipping_label"))
        shipment = worker.shipment(order.order_id)
        assert shipment["status"] == "attention" and shipment["attention_reason"] == "invoice failed: paper out"
        assert not bus.payloads(ShipmentConfirmed)

    async def test_the_documents_follow_the_channel_settings(self, worker, bus, make_order):
        await set_channel(worker, "ebay", "printed", ("packing_slip", "shipping_label"))
        await worker.send(CreateShipment(order=make_order(channel="ebay")))
        await worker.send(CreateShipment(order=make_order(channel="phone")))
        assert [p.document_type for p in bus.payloads(PrintDocument)] == [
            "packing_slip", "shipping_label", "invoice", "shipping_label"]

    async def test_immediately_confirms_as_the_documents_are_sent(self, worker, bus, make_order):
        await set_channel(worker, "web", "immediately")
        await worker.send(CreateShipment(order=make_order(channel="web")))
        assert len(bus.payloads(PrintDocument)) == 2 and len(bus.payloads(ShipmentConfirmed)) == 1


class TestIdempotency:
    async def test_same_command_twice_is_one_shipment_and_republishes_the_same_events(self, ctx, bus, make_order):
        order = make_order()
        envelope = new_envelope(CreateShipment(order=order), producer="test")
        await handle_command(envelope, ctx=ctx)
        stored = ctx.shipments.docs[str(order.order_id)]
        await handle_command(envelope, ctx=ctx)
        assert ctx.shipments.docs == {str(order.order_id): stored}
        [first, second] = bus.published
        assert first[0].event_id == second[0].event_id and first[1] == second[1] == "OMS Post"

    async def test_a_second_create_for_the_same_order_books_and_prints_nothing_new(self, worker, bus, make_order):
        order = make_order()
        await worker.send(CreateShipment(order=order))
        await worker.send(CreateShipment(order=order))
        assert len(bus.payloads(IssueTrackingNumber)) == 1 and len(bus.payloads(PrintDocument)) == 2
        assert worker.shipment(order.order_id)["timeline"][-1]["what"] == "create requested again"

    async def test_an_outcome_for_an_order_without_shipment_is_permanent(self, ctx, make_order):
        with pytest.raises(PermanentError, match="has no shipment"):
            await handle_command(new_envelope(printed(uuid.uuid4(), "invoice"), producer="t"), ctx=ctx)


class TestVoid:
    async def test_voiding_before_confirmation_announces_it_and_a_new_attempt_gets_new_jobs(
        self, worker, bus, make_order
    ):
        order = make_order()
        await worker.send(CreateShipment(order=order))
        first_number = worker.shipment(order.order_id)["tracking_number"]
        await worker.send(VoidShipment(order_id=order.order_id, reason="wrong address", requested_by="ops"))
        [voided] = bus.payloads(ShipmentVoided)
        assert (voided.tracking_number, voided.reason, voided.by) == (first_number, "wrong address", "ops")
        await worker.send(printed(order.order_id, "invoice"))
        await worker.send(printed(order.order_id, "shipping_label"))
        assert not bus.payloads(ShipmentConfirmed) and worker.shipment(order.order_id)["status"] == "voided"
        # Orders reopens the order; processing it again is a second attempt with a fresh number and jobs.
        await worker.send(CreateShipment(order=order))
        again = worker.shipment(order.order_id)
        assert again["attempt"] == 2 and again["tracking_number"] not in (None, first_number)
        assert again["earlier"][0]["tracking_number"] == first_number
        assert [p.job_id for p in bus.payloads(PrintDocument)][2:] == [
            print_job_id(order.order_id, "invoice", 2), print_job_id(order.order_id, "shipping_label", 2)]

    async def test_after_confirmation_it_is_refused_with_resend_or_return(self, worker, bus, make_order):
        await set_channel(worker, "web", "immediately")
        order = make_order(channel="web", order_number="W-7")
        await worker.send(CreateShipment(order=order))
        await worker.send(VoidShipment(order_id=order.order_id, reason="late", requested_by="ops"))
        assert rejections(bus) == ["the shipment of order W-7 is confirmed: resend or return instead"]
        assert not bus.payloads(ShipmentVoided)


class TestBatches:
    async def test_a_batch_prints_a_sorted_pick_list_and_packing_slips(self, worker, bus, ctx, make_order):
        first, second = make_order(order_number="1001"), make_order(order_number="1002")
        for order in (first, second):
            await worker.send(CreateShipment(order=order))
        batch_id = uuid.uuid4()
        await worker.send(CreateBatch(batch_id=batch_id, order_ids=[first.order_id, second.order_id],
                                      requested_by="ops"))
        [pick] = bus.payloads(PrintPickList)
        assert pick.job_id == print_job_id(batch_id, "pick_list", 1)
        assert [(l.sku, l.location, l.bin, l.quantity, l.order_numbers) for l in pick.lines] == [
            ("MUG-BLUE", "A", "01", 4, ["1001", "1002"]), ("TEE-L", "B", "02", 2, ["1001", "1002"])]
        slips = [p for p in bus.payloads(PrintDocument) if p.document_type == "packing_slip"]
        assert {p.order.order_id for p in slips} == {first.order_id, second.order_id}
        assert ctx.batches.docs[str(batch_id)]["batch"]["order_ids"] == [str(first.order_id), str(second.order_id)]

    async def test_the_same_batch_command_twice_prints_one_pick_list(self, worker, bus, ctx, make_order):
        order = make_order()
        await worker.send(CreateShipment(order=order))
        create = new_envelope(CreateBatch(batch_id=uuid.uuid4(), order_ids=[order.order_id], requested_by="ops"),
                              producer="test")
        await handle_command(create, ctx=ctx)
        stored = dict(ctx.batches.docs)
        await handle_command(create, ctx=ctx)
        assert ctx.batches.docs == stored
        picks = [e for e, _ in bus.published if isinstance(e.payload, PrintPickList)]
        assert len(picks) == 2 and picks[0].event_id == picks[1].event_id  # re-published; printing prints once

    async def test_batch_flow_holds_the_documents_for_the_batch_and_confirms_when_it_is_processed(
        self, worker, bus, make_order
    ):
        await set_channel(worker, "trade", "batch")
        orders = [make_order(channel="trade") for _ in range(2)]
        for order in orders:
            await worker.send(CreateShipment(order=order))
            assert worker.shipment(order.order_id)["status"] == "awaiting_batch"
        assert not bus.payloads(PrintDocument)
        batch_id = uuid.uuid4()
        await worker.send(CreateBatch(batch_id=batch_id, order_ids=[o.order_id for o in orders], requested_by="ops"))
        assert sorted(p.document_type for p in bus.payloads(PrintDocument)) == sorted(
            ["invoice", "shipping_label", "packing_slip"] * 2)
        for order in orders:  # printing alone does not confirm in the batch flow
            for document_type in ("invoice", "shipping_label", "packing_slip"):
                await worker.send(printed(order.order_id, document_type))
        assert not bus.payloads(ShipmentConfirmed)
        await worker.send(ProcessBatch(batch_id=batch_id, requested_by="ops"))
        assert {c.order_id for c in bus.payloads(ShipmentConfirmed)} == {o.order_id for o in orders}
        await worker.send(ProcessBatch(batch_id=batch_id, requested_by="ops"))
        assert rejections(bus) == [f"batch {batch_id} is processed"]
        assert len(bus.payloads(ConfirmBatchShipment)) == 2


class TestPackStation:
    @pytest.fixture
    async def packing(self, worker, make_order):
        await set_channel(worker, "bench", "pack")
        order = make_order(channel="bench", order_number="B-1")
        await worker.send(CreateShipment(order=order))
        assert worker.shipment(order.order_id)["status"] == "packing"
        return order

    async def scan(self, worker, order, code):
        await worker.send(ScanItem(order_id=order.order_id, code=code, station="bench-1", scanned_by="packer"))

    async def test_the_last_scan_prints_at_the_station_and_confirms(self, worker, bus, packing):
        await self.scan(worker, packing, "MUG-BLUE")
        await self.scan(worker, packing, "5012345678900")  # the mug's barcode
        assert not bus.payloads(PrintDocument)
        await self.scan(worker, packing, "TEE-L")
        jobs = bus.payloads(PrintDocument)
        assert [(j.document_type, j.station) for j in jobs] == [("invoice", "bench-1"), ("shipping_label", "bench-1")]
        assert len(bus.payloads(ShipmentConfirmed)) == 1 and worker.shipment(packing.order_id)["status"] == "confirmed"

    async def test_a_wrong_item_or_an_over_scan_is_refused_and_counts_nothing(self, worker, bus, packing):
        await self.scan(worker, packing, "SOCK-9")
        await self.scan(worker, packing, "TEE-L")
        await self.scan(worker, packing, "TEE-L")
        assert rejections(bus) == ["wrong item: SOCK-9 is not in order B-1",
                                   "over-scan: all 1 of TEE-L in order B-1 are scanned"]
        assert [(i["sku"], i["scanned"]) for i in worker.shipment(packing.order_id)["items"]] == [
            ("MUG-BLUE", 0), ("TEE-L", 1)]

    async def test_a_batch_packing_slip_printing_or_failing_does_not_stop_the_packer(self, worker, bus, packing):
        await worker.send(CreateBatch(batch_id=uuid.uuid4(), order_ids=[packing.order_id], requested_by="ops"))
        assert [p.document_type for p in bus.payloads(PrintDocument)] == ["packing_slip"]
        await worker.send(printed(packing.order_id, "packing_slip", ok=False, reason="jam"))
        shipment = worker.shipment(packing.order_id)
        assert (shipment["status"], shipment["attention_reason"]) == ("packing", "packing_slip failed: jam")
        for code in ("MUG-BLUE", "MUG-BLUE", "TEE-L"):
            await self.scan(worker, packing, code)
        assert worker.shipment(packing.order_id)["status"] == "confirmed" and not rejections(bus)

    async def test_scanning_an_order_of_another_flow_is_refused(self, worker, bus, make_order):
        order = make_order(order_number="P-1")
        await worker.send(CreateShipment(order=order))
        await self.scan(worker, order, "TEE-L")
        assert rejections(bus) == ["order P-1 is not packed at a station (flow printed)"]


class TestForwarder:
    async def test_processing_started_becomes_create_shipment_with_a_derived_id(self, bus, make_order):
        order = make_order()
        event = new_envelope(OrderProcessingStarted(order=order, requested_by="ops"), producer="orders")
        await forward_event(event, bus=bus)
        [(forwarded, key)] = bus.published
        assert forwarded.payload == CreateShipment(order=order) and key == str(order.order_id)
        assert forwarded.event_id == derived_id(event.event_id, "create-shipment")

    async def test_print_outcomes_become_record_document_outcome_and_pick_lists_are_ignored(self, bus, make_order):
        order_id, batch_id = uuid.uuid4(), uuid.uuid4()
        job = print_job_id(order_id, "invoice", 1)
        await forward_event(new_envelope(JobFailed(job_id=job, order_id=order_id, document_type="invoice",
                                                   reason="jam"), producer="printing"), bus=bus)
        await forward_event(new_envelope(JobPrinted(job_id=uuid.uuid4(), order_id=batch_id, document_type="pick_list",
                                                    printer="p", size_bytes=1), producer="printing"), bus=bus)
        await forward_event(new_envelope(OrderOpened(order=make_order(order_id=order_id)), producer="orders"), bus=bus)
        [(forwarded, key)] = bus.published
        assert forwarded.payload == RecordDocumentOutcome(order_id=order_id, job_id=job, document_type="invoice",
                                                          printed=False, reason="jam")
        assert key == str(order_id)

