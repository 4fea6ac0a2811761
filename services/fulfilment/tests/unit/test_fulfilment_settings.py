"""The fulfilment settings: the default documents and flow, the tracking range, the key for inventory."""

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
    for name in ("FULFILMENT_DOCUMENTS", "FULFILMENT_FLOW", "FULFILMENT_TRACKING_RANGE_START",
                 "FULFILMENT_TRACKING_RANGE_END", "FULFILMENT_INVENTORY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class TestDocumentSettings:
    def test_by_default_a_shipment_prints_an_invoice_and_a_label(self, environment):
        assert Settings().default_channel().documents == ("invoice", "shipping_label")

    def test_a_packing_slip_can_be_added(self, environment):
        environment.setenv("FULFILMENT_DOCUMENTS", "invoice, packing_slip,shipping_label")
        assert Settings().default_channel().documents == ("invoice", "packing_slip", "shipping_label")

    @pytest.mark.parametrize("documents", ["invoice,pick_list", "invoice,invoice", ""])
    def test_unknown_duplicate_or_no_documents_stop_the_service(self, environment, documents):
        environment.setenv("FULFILMENT_DOCUMENTS", documents)
        with pytest.raises(ValidationError, match="documents"):
            Settings()


class TestOtherSettings:
    def test_the_default_flow_and_shipping(self, environment):
        environment.setenv("FULFILMENT_FLOW", "pack")
        settings = Settings()
        assert settings.default_channel().flow == "pack"
        assert settings.default_shipping().carrier == "OMS Post" and settings.default_shipping().service is None

    def test_a_range_that_ends_before_it_starts_stops_the_service(self, environment):
        environment.setenv("FULFILMENT_TRACKING_RANGE_START", "500")
        environment.setenv("FULFILMENT_TRACKING_RANGE_END", "499")
        with pytest.raises(ValidationError, match="RANGE_START is after"):
            Settings()

    def test_inventory_is_read_with_an_ops_key_unless_one_is_given(self, environment):
        environment.setenv("OMS_API_KEYS", "admin:aaaaaaaaaaaaaaaaaaaa,ops:bbbbbbbbbbbbbbbbbbbb")
        assert Settings().inventory_key() == "bbbbbbbbbbbbbbbbbbbb"
        environment.setenv("FULFILMENT_INVENTORY_API_KEY", "cccccccccccccccccccc")
        assert Settings().inventory_key() == "cccccccccccccccccccc"
