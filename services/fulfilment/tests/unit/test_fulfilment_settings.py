"""The fulfilment settings: which documents every shipment prints."""

import pytest
from pydantic import ValidationError

from fulfilment.config import Settings

REQUIRED = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "MONGODB_URL": "mongodb://127.0.0.1:27017",
    "OMS_API_KEYS": "ops:0123456789abcdef0123",
}


@pytest.fixture
def environment(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FULFILMENT_DOCUMENTS", raising=False)
    return monkeypatch


class TestDocumentSettings:
    def test_by_default_a_shipment_prints_an_invoice_and_a_label(self, environment):
        assert Settings().shipment_policy().documents == ("invoice", "shipping_label")

    def test_a_packing_slip_can_be_added(self, environment):
        environment.setenv("FULFILMENT_DOCUMENTS", "invoice, packing_slip,shipping_label")
        assert Settings().shipment_policy().documents == ("invoice", "packing_slip", "shipping_label")

    @pytest.mark.parametrize("documents", ["invoice,pick_list", "invoice,invoice", ""])
    def test_unknown_duplicate_or_no_documents_stop_the_service(self, environment, documents):
        environment.setenv("FULFILMENT_DOCUMENTS", documents)
        with pytest.raises(ValidationError, match="documents"):
            Settings()
