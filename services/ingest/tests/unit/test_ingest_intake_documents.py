"""How an intake is stored in MongoDB: only shapes both MongoDB and FerretDB v1 accept, and back unchanged."""

import uuid
from datetime import UTC, datetime

from ingest.adapters.intake_store import from_document, to_document
from ingest.domain.model import Intake, IntakeKind, IntakeStatus, new_intake


def stored_intake(**overrides) -> Intake:
    intake, _ = new_intake(
        intake_id=uuid.uuid4(), kind=IntakeKind.ORDER, channel="demo_shop",
        headers=[("content-type", "application/json"), ("x.odd$name", "1"), ("via", "a"), ("via", "b")],
        raw=b'{"channel": "demo_shop"}', received_at=datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC),
        limit=1000,
    )
    return intake.model_copy(update=overrides)


def nested_arrays(value) -> bool:
    if isinstance(value, list):
        return any(isinstance(item, list) or nested_arrays(item) for item in value)
    if isinstance(value, dict):
        return any(nested_arrays(item) for item in value.values())
    return False


class TestIntakeDocument:
    def test_the_intake_id_is_the_document_id(self):
        intake = stored_intake()
        assert to_document(intake)["_id"] == str(intake.intake_id)

    def test_headers_become_name_value_documents_because_ferretdb_refuses_nested_arrays(self):
        doc = to_document(stored_intake())
        assert doc["headers"][1] == {"name": "x.odd$name", "value": "1"}
        assert not nested_arrays(doc)

    def test_a_document_reads_back_as_the_same_intake(self):
        intake = stored_intake(status=IntakeStatus.PUBLISHED, event_id=uuid.uuid4(),
                               published_at=datetime(2026, 11, 28, 9, 0, 1, tzinfo=UTC))
        assert Intake.model_validate(from_document(to_document(intake))) == intake

    def test_the_receipt_time_is_kept_to_the_millisecond_as_mongodb_stores_it(self):
        assert stored_intake().received_at == datetime(2026, 11, 28, 9, 0, 0, 123000, tzinfo=UTC)


class TestCsvIntakeDocument:
    def test_a_column_mapping_is_stored_as_json_text_and_reads_back(self):
        intake = stored_intake(kind=IntakeKind.CSV_ORDERS, channel="csv", mapping={"Order No.": "order_ref",
                                                                                     "$Qty": "quantity"})
        doc = to_document(intake)
        assert isinstance(doc["mapping"], str) and doc["kind"] == "csv_orders"
        assert Intake.model_validate(from_document(doc)) == intake

    def test_an_intake_without_a_mapping_reads_back_without_one(self):
        intake = stored_intake()
        assert to_document(intake)["mapping"] is None
        assert Intake.model_validate(from_document(to_document(intake))).mapping is None

    def test_a_webhook_intake_reads_back_with_its_account_delivery_and_skip_reason(self):
        intake = stored_intake(kind=IntakeKind.SHOPIFY_ORDER, channel="shopify", account="fernbrook",
                               delivery_id="7d3f0c9e", topic="orders/create", status=IntakeStatus.SKIPPED,
                               skip_reason="cancelled")
        assert Intake.model_validate(from_document(to_document(intake))) == intake
