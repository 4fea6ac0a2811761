"""The printing settings fail fast on a printer URI the service cannot use."""

import pytest
from pydantic import ValidationError

from printing.config import Settings

REQUIRED = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "MONGODB_URL": "mongodb://127.0.0.1:27017",
    "OMS_API_KEYS": "ops:0123456789abcdef0123",
}


@pytest.fixture
def environment(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRINTING_INVOICE_PRINTER", "socket://127.0.0.1:9100")
    monkeypatch.setenv("PRINTING_LABEL_PRINTER", "socket://127.0.0.1:9101")
    return monkeypatch


class TestPrinterSettings:
    def test_socket_printers_are_accepted(self, environment):
        settings = Settings()
        assert settings.invoice_printer == "socket://127.0.0.1:9100"
        assert settings.label_printer == "socket://127.0.0.1:9101"
        assert settings.api_port == 8105 and settings.database == "oms_printing"

    def test_ipp_printers_are_accepted(self, environment):
        environment.setenv("PRINTING_INVOICE_PRINTER", "ipp://office.local:631/ipp/print")
        assert Settings().invoice_printer == "ipp://office.local:631/ipp/print"

    def test_packing_slips_go_to_the_invoice_printer_unless_they_have_their_own(self, environment):
        assert Settings().printer_uris() == {
            "invoice": "socket://127.0.0.1:9100",
            "packing_slip": "socket://127.0.0.1:9100",
            "shipping_label": "socket://127.0.0.1:9101",
            "pick_list": "socket://127.0.0.1:9100",
        }
        environment.setenv("PRINTING_PACKING_SLIP_PRINTER", "socket://127.0.0.1:9102")
        assert Settings().printer_uris()["packing_slip"] == "socket://127.0.0.1:9102"

    def test_a_bad_packing_slip_printer_stops_the_service_naming_the_setting(self, environment):
        environment.setenv("PRINTING_PACKING_SLIP_PRINTER", "lpd://10.0.0.6/queue")
        with pytest.raises(ValidationError, match="PRINTING_PACKING_SLIP_PRINTER"):
            Settings()

    def test_every_document_type_has_a_printer_and_pick_lists_go_where_packing_slips_go(self, environment):
        uris = Settings().printer_uris()
        assert set(uris) == {"invoice", "packing_slip", "shipping_label", "pick_list"}
        assert uris["pick_list"] == uris["packing_slip"]

    def test_an_unknown_scheme_stops_the_service_naming_the_setting(self, environment):
        environment.setenv("PRINTING_LABEL_PRINTER", "lpd://10.0.0.6/queue")
        with pytest.raises(ValidationError) as error:
            Settings()
        assert "label_printer" in str(error.value) and "unsupported printer URI" in str(error.value)

    def test_a_missing_printer_stops_the_service(self, environment):
        environment.delenv("PRINTING_INVOICE_PRINTER")
        with pytest.raises(ValidationError, match="invoice_printer"):
            Settings()
