"""The fulfilment command handler and forwarder: exactly-once effects over at-least-once delivery."""

import uuid

import pytest

from oms_contracts import derived_id, new_envelope
from oms_contracts.fulfilment.v1 import CreateShipment, RecordDocumentOutcome, ShipmentConfirmed, ShipmentCreated
from oms_contracts.orders.v1 import OrderOpened, OrderProcessingStarted
from oms_contracts.printing.v1 import JobFailed, JobPrinted, PrintDocument, print_job_id
from oms_platform.messaging import PermanentError
from fulfilment.adapters.carriers import is_valid_s10
from fulfilment.domain.model import ShipmentPolicy
from fulfilment.service_layer.handlers import forward_event, handle_command


def command(payload):
    return new_envelope(payload, producer="test")


def outcome(order_id, document_type, printed=True, reason=None):
    """The command printing's outcome of a document becomes."""
    return command(
        RecordDocumentOutcome(
            order_id=order_id,
            job_id=print_job_id(order_id, document_type, 1),
            document_type=document_type,
            printed=printed,
            reason=reason,
        )
    )


@pytest.fixture
def handle(repo, bus, carrier, policy, clock):
    async def run(envelope, policy=policy):
        await handle_command(envelope, repo=repo, bus=bus, carrier=carrier, policy=policy, clock=clock)

    return run


class TestCreateShipment:
    async def test_books_a_tracking_number_and_sends_each_document_to_print(self, handle, repo, bus, make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)))
        doc = repo.docs[str(order.order_id)]
        assert doc["status"] == "printing" and is_valid_s10(doc["tracking_number"])
        [(created, created_key), (invoice, invoice_key), (label, label_key)] = bus.published
        assert isinstance(created.payload, ShipmentCreated) and created_key == str(order.order_id)
        assert created.payload.carrier == "OMS Post" and created.payload.tracking_number == doc["tracking_number"]
        assert isinstance(invoice.payload, PrintDocument)
        assert invoice.payload.job_id == print_job_id(order.order_id, "invoice", 1)
        assert invoice_key == str(invoice.payload.job_id)
        assert label.payload.document_type == "shipping_label" and label_key == str(label.payload.job_id)

    async def test_same_command_twice_is_one_shipment_and_republishes_the_same_events(self, handle, repo, bus,
                                                                                     make_order):
        order = make_order()
        envelope = command(CreateShipment(order=order))
        await handle(envelope)
        stored = repo.docs[str(order.order_id)]
        await handle(envelope)
        assert repo.docs == {str(order.order_id): stored}
        first, second = bus.published[:3], bus.published[3:]
        assert [(e.event_id, k) for e, k in first] == [(e.event_id, k) for e, k in second]
        assert [e.payload for e, _ in first] == [e.payload for e, _ in second]

    async def test_a_second_create_for_the_same_order_books_and_prints_nothing_new(self, handle, repo, bus,
                                                                                   make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)))
        tracking = repo.docs[str(order.order_id)]["tracking_number"]
        await handle(command(CreateShipment(order=order)))
        assert len(repo.docs) == 1 and repo.docs[str(order.order_id)]["tracking_number"] == tracking
        assert len(bus.payloads(ShipmentCreated)) == 1 and len(bus.payloads(PrintDocument)) == 2
        assert repo.docs[str(order.order_id)]["shipment"]["timeline"][-1]["what"] == "create requested again"

    async def test_only_the_documents_in_the_settings_are_printed(self, handle, bus, make_order):
        await handle(command(CreateShipment(order=make_order())), policy=ShipmentPolicy(documents=("invoice",)))
        assert [p.document_type for p in bus.payloads(PrintDocument)] == ["invoice"]


class TestConfirmationWhenPrinted:
    async def test_confirmed_only_after_every_document_printed(self, handle, repo, bus, make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)))
        await handle(outcome(order.order_id, "invoice"))
        assert bus.payloads(ShipmentConfirmed) == []
        assert repo.docs[str(order.order_id)]["status"] == "printing"
        await handle(outcome(order.order_id, "shipping_label"))
        [confirmed] = bus.payloads(ShipmentConfirmed)
        assert confirmed.order_id == order.order_id
        assert confirmed.tracking_number == repo.docs[str(order.order_id)]["tracking_number"]
        assert bus.published[-1][1] == str(order.order_id)
        assert repo.docs[str(order.order_id)]["status"] == "confirmed"

    async def test_the_same_outcome_twice_confirms_once_with_the_same_event(self, handle, repo, bus, make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)), policy=ShipmentPolicy(documents=("shipping_label",)))
        printed = outcome(order.order_id, "shipping_label")
        await handle(printed)
        stored = repo.docs[str(order.order_id)]
        await handle(printed)
        assert repo.docs[str(order.order_id)] == stored
        confirmations = [e for e, _ in bus.published if isinstance(e.payload, ShipmentConfirmed)]
        assert len(confirmations) == 2 and confirmations[0].event_id == confirmations[1].event_id

    async def test_a_new_outcome_for_a_printed_document_confirms_nothing_more(self, handle, bus, make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)), policy=ShipmentPolicy(documents=("shipping_label",)))
        await handle(outcome(order.order_id, "shipping_label"))
        await handle(outcome(order.order_id, "shipping_label"))  # another delivery of the fact, new command id
        assert len(bus.payloads(ShipmentConfirmed)) == 1


class TestConfirmImmediately:
    async def test_confirmed_at_once_after_the_print_jobs(self, handle, repo, bus, make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)), policy=ShipmentPolicy(confirm_on="immediately"))
        assert [type(p) for p in bus.payloads()] == [ShipmentCreated, PrintDocument, PrintDocument,
                                                    ShipmentConfirmed]
        assert repo.docs[str(order.order_id)]["status"] == "confirmed"

    async def test_documents_printing_later_do_not_confirm_again(self, handle, bus, make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)), policy=ShipmentPolicy(confirm_on="immediately"))
        await handle(outcome(order.order_id, "invoice"))
        await handle(outcome(order.order_id, "shipping_label"))
        assert len(bus.payloads(ShipmentConfirmed)) == 1


class TestFailedDocument:
    async def test_a_failed_document_never_confirms(self, handle, repo, bus, make_order):
        order = make_order()
        await handle(command(CreateShipment(order=order)))
        await handle(outcome(order.order_id, "shipping_label", printed=False, reason="printer offline"))
        await handle(outcome(order.order_id, "invoice"))
        assert bus.payloads(ShipmentConfirmed) == []
        doc = repo.docs[str(order.order_id)]
        assert doc["status"] == "attention"
        assert doc["shipment"]["attention_reason"] == "shipping_label failed: printer offline"

    async def test_an_outcome_for_an_order_without_shipment_is_a_permanent_error(self, handle):
        with pytest.raises(PermanentError, match="has no shipment"):
            await handle(outcome(uuid.uuid4(), "invoice"))

    async def test_an_outcome_for_a_job_not_of_this_shipment_is_noted_and_changes_nothing_else(
        self, handle, repo, bus, make_order
    ):
        order = make_order()
        await handle(command(CreateShipment(order=order)))
        stray = RecordDocumentOutcome(order_id=order.order_id, job_id=uuid.uuid4(), document_type="invoice",
                                      printed=True)
        await handle(command(stray))
        shipment = repo.docs[str(order.order_id)]["shipment"]
        assert shipment["status"] == "printing" and [d["status"] for d in shipment["documents"]] == ["sent", "sent"]
        assert shipment["timeline"][-1]["what"] == "fulfilment.record_document_outcome refused"
        assert len(bus.published) == 3


class TestForwarding:
    async def test_processing_started_becomes_create_shipment_with_a_derived_id(self, bus, make_order):
        order = make_order()
        event = new_envelope(OrderProcessingStarted(order=order, requested_by="ops"), producer="orders")
        await forward_event(event, bus=bus)
        await forward_event(event, bus=bus)
        [(first, key), (second, _)] = bus.published
        assert first.payload == CreateShipment(order=order) and key == str(order.order_id)
        assert first.event_id == second.event_id == derived_id(event.event_id, "create-shipment")
        assert first.causation_id == event.event_id and first.correlation_id == event.correlation_id

    async def test_printed_and_failed_jobs_become_outcomes_keyed_by_order_id(self, bus):
        order_id = uuid.uuid4()
        printed = JobPrinted(job_id=print_job_id(order_id, "invoice", 1), order_id=order_id,
                             document_type="invoice", printer="socket://printer:9100", size_bytes=1234)
        failed = JobFailed(job_id=print_job_id(order_id, "shipping_label", 1), order_id=order_id,
                           document_type="shipping_label", reason="connection refused")
        printed_event = new_envelope(printed, producer="printing")
        await forward_event(printed_event, bus=bus)
        await forward_event(new_envelope(failed, producer="printing"), bus=bus)
        [(first, first_key), (second, second_key)] = bus.published
        assert first.payload == RecordDocumentOutcome(order_id=order_id, job_id=printed.job_id,
                                                      document_type="invoice", printed=True)
        assert first.event_id == derived_id(printed_event.event_id, "record-document-outcome")
        assert second.payload.printed is False and second.payload.reason == "connection refused"
        assert first_key == second_key == str(order_id)

    async def test_events_fulfilment_does_not_need_are_ignored(self, bus, make_order):
        await forward_event(new_envelope(OrderOpened(order=make_order()), producer="orders"), bus=bus)
        assert bus.published == []
