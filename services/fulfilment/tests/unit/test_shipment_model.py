"""Rules of the Shipment aggregate that the handler tests do not reach."""

import uuid
from datetime import UTC, datetime

import pytest

from fulfilment.domain.errors import ShipmentRefused
from fulfilment.domain.model import PackItem, Shipment, ShipmentStatus, shipment_id_for
from fulfilment.domain.rules import ChannelSettings, ShippingChoice

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
CHOICE = ShippingChoice(service="Standard", carrier="OMS Post", manual_tracking=False)


def create(order, flow="printed") -> Shipment:
    shipment, _ = Shipment.create(order=order, choice=CHOICE, settings=ChannelSettings(flow=flow),
                                  items=[PackItem(sku="MUG-BLUE", title="Mug", quantity=2)], weight_kg=0.8, now=NOW)
    return shipment


class TestTrackingNumber:
    def test_a_number_for_an_earlier_attempt_is_refused(self, make_order):
        shipment = create(make_order())
        with pytest.raises(ShipmentRefused, match="earlier, voided attempt"):
            shipment.record_tracking_number(tracking_number="OM1234", shipment_id=uuid.uuid4(), entered_by=None,
                                            now=NOW)
        assert shipment.status is ShipmentStatus.AWAITING_TRACKING

    def test_attempts_derive_distinct_shipment_ids(self):
        order_id = uuid.uuid4()
        assert len({shipment_id_for(order_id, n) for n in (1, 2, 3)}) == 3


class TestOutcomesAndBatches:
    def test_an_outcome_of_a_job_that_is_not_ours_is_refused(self, make_order):
        shipment = create(make_order())
        shipment.record_tracking_number(tracking_number="OM1234", shipment_id=None, entered_by=None, now=NOW)
        with pytest.raises(ShipmentRefused, match="is not a document"):
            shipment.record_document_outcome(job_id=uuid.uuid4(), printed=True, reason=None, now=NOW)

    def test_a_shipment_cannot_join_a_batch_before_it_has_a_number(self, make_order):
        shipment = create(make_order(order_number="N-1"), flow="batch")
        with pytest.raises(ShipmentRefused, match="N-1 has no tracking number yet"):
            shipment.print_for_batch(batch_id=uuid.uuid4(), now=NOW)

    def test_processing_another_batch_does_not_confirm_it(self, make_order):
        shipment = create(make_order(order_number="N-2"), flow="batch")
        shipment.record_tracking_number(tracking_number="OM1234", shipment_id=None, entered_by=None, now=NOW)
        shipment.print_for_batch(batch_id=uuid.uuid4(), now=NOW)
        with pytest.raises(ShipmentRefused, match="N-2 is not in batch"):
            shipment.confirm_for_batch(batch_id=uuid.uuid4(), now=NOW)
