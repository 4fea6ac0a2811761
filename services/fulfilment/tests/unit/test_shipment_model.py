"""Rules of the Shipment aggregate."""

from datetime import UTC, datetime, timedelta

import pytest

from oms_contracts.fulfilment.v1 import ShipmentConfirmed, ShipmentCreated
from oms_contracts.printing.v1 import PrintDocument, print_job_id
from fulfilment.domain.errors import ShipmentRefused
from fulfilment.domain.model import DocumentStatus, Shipment, ShipmentPolicy, ShipmentStatus, shipment_id_for

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def create(order, **policy) -> tuple[Shipment, list]:
    return Shipment.create(
        order=order, carrier="OMS Post", tracking_number="OM123456785GB", policy=ShipmentPolicy(**policy), now=NOW
    )


def job(shipment: Shipment, document_type: str):
    return print_job_id(shipment.order_id, document_type, 1)


class TestCreating:
    def test_a_new_shipment_announces_itself_and_sends_each_document_to_print(self, make_order):
        order = make_order()
        shipment, events = create(order)
        assert [type(e) for e in events] == [ShipmentCreated, PrintDocument, PrintDocument]
        created, invoice, label = events
        assert created.shipment_id == shipment_id_for(order.order_id) == shipment.shipment_id
        assert created.documents == ["invoice", "shipping_label"]
        assert (invoice.document_type, label.document_type) == ("invoice", "shipping_label")
        assert invoice.job_id == print_job_id(order.order_id, "invoice", 1) and invoice.revision == 1
        assert label.tracking_number == "OM123456785GB" and label.order == order
        assert shipment.status is ShipmentStatus.PRINTING

    def test_the_documents_come_from_the_policy(self, make_order):
        shipment, events = create(make_order(), documents=("shipping_label",))
        assert [d.document_type for d in shipment.documents] == ["shipping_label"]
        assert [e.document_type for e in events if isinstance(e, PrintDocument)] == ["shipping_label"]

    def test_a_packing_slip_is_a_document_like_the_others(self, make_order):
        order = make_order()
        shipment, events = create(order, documents=("invoice", "packing_slip", "shipping_label"))
        slip = next(e for e in events if isinstance(e, PrintDocument) and e.document_type == "packing_slip")
        assert slip.job_id == print_job_id(order.order_id, "packing_slip", 1) and slip.order == order
        for document_type in ("invoice", "shipping_label"):
            shipment.record_document_outcome(job_id=job(shipment, document_type), printed=True, reason=None,
                                             now=LATER)
        assert shipment.status is ShipmentStatus.PRINTING  # the packing slip has not printed yet
        [confirmed] = shipment.record_document_outcome(
            job_id=job(shipment, "packing_slip"), printed=True, reason=None, now=LATER
        )
        assert isinstance(confirmed, ShipmentConfirmed)

    def test_confirm_immediately_confirms_after_the_print_jobs(self, make_order):
        shipment, events = create(make_order(), confirm_on="immediately")
        assert [type(e) for e in events] == [ShipmentCreated, PrintDocument, PrintDocument, ShipmentConfirmed]
        assert shipment.status is ShipmentStatus.CONFIRMED and shipment.confirmed_at == NOW


class TestDocumentOutcomes:
    def test_confirmed_only_when_every_document_has_printed(self, make_order):
        shipment, _ = create(make_order())
        assert shipment.record_document_outcome(job_id=job(shipment, "invoice"), printed=True, reason=None,
                                                now=LATER) == []
        assert shipment.status is ShipmentStatus.PRINTING
        [confirmed] = shipment.record_document_outcome(
            job_id=job(shipment, "shipping_label"), printed=True, reason=None, now=LATER
        )
        assert isinstance(confirmed, ShipmentConfirmed)
        assert confirmed.tracking_number == "OM123456785GB" and confirmed.shipped_at == LATER
        assert shipment.status is ShipmentStatus.CONFIRMED

    def test_a_printed_document_printed_again_confirms_nothing_more(self, make_order):
        shipment, _ = create(make_order(), documents=("shipping_label",))
        label = job(shipment, "shipping_label")
        assert len(shipment.record_document_outcome(job_id=label, printed=True, reason=None, now=LATER)) == 1
        assert shipment.record_document_outcome(job_id=label, printed=True, reason=None, now=LATER) == []

    def test_a_failed_document_needs_attention_and_never_confirms(self, make_order):
        shipment, _ = create(make_order())
        shipment.record_document_outcome(job_id=job(shipment, "shipping_label"), printed=False,
                                         reason="printer offline", now=LATER)
        events = shipment.record_document_outcome(job_id=job(shipment, "invoice"), printed=True, reason=None,
                                                  now=LATER)
        assert events == []
        assert shipment.status is ShipmentStatus.ATTENTION
        assert shipment.attention_reason == "shipping_label failed: printer offline"
        assert shipment.confirmed_at is None

    def test_a_failed_job_that_prints_after_all_confirms_then(self, make_order):
        shipment, _ = create(make_order(), documents=("shipping_label",))
        label = job(shipment, "shipping_label")
        shipment.record_document_outcome(job_id=label, printed=False, reason="jam", now=LATER)
        [confirmed] = shipment.record_document_outcome(job_id=label, printed=True, reason=None, now=LATER)
        assert isinstance(confirmed, ShipmentConfirmed)
        assert shipment.status is ShipmentStatus.CONFIRMED and shipment.attention_reason is None

    def test_a_printed_document_stays_printed(self, make_order):
        shipment, _ = create(make_order(), documents=("shipping_label",))
        label = job(shipment, "shipping_label")
        shipment.record_document_outcome(job_id=label, printed=True, reason=None, now=LATER)
        shipment.record_document_outcome(job_id=label, printed=False, reason="late failure", now=LATER)
        assert shipment.documents[0].status is DocumentStatus.PRINTED
        assert shipment.status is ShipmentStatus.CONFIRMED

    def test_after_an_immediate_confirmation_a_failure_still_asks_for_attention(self, make_order):
        shipment, _ = create(make_order(), confirm_on="immediately")
        events = shipment.record_document_outcome(job_id=job(shipment, "invoice"), printed=False,
                                                  reason="out of paper", now=LATER)
        assert events == []
        assert shipment.status is ShipmentStatus.ATTENTION and shipment.confirmed_at == NOW

    def test_a_job_of_another_shipment_is_refused(self, make_order):
        shipment, _ = create(make_order())
        with pytest.raises(ShipmentRefused, match="not a document of this shipment"):
            shipment.record_document_outcome(job_id=print_job_id(make_order().order_id, "invoice", 1),
                                             printed=True, reason=None, now=LATER)
