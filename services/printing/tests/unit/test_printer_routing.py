"""Which printer a document goes to: the station's, a registered network printer, or the configured one."""

import pytest
from pydantic import ValidationError

from printing.domain.printers import PrinterConfig, Route, route_for

FALLBACK = {"invoice": "socket://fallback:9100", "shipping_label": "socket://labels:9100"}


def printer(name, types, **extra) -> PrinterConfig:
    return PrinterConfig(name=name, protocol=extra.pop("protocol", "raw9100"), address=f"{name}.local:9100",
                         document_types=types, **extra)


class TestRouting:
    def test_without_registered_printers_the_configured_uri_of_the_type_is_used(self):
        assert route_for([], document_type="invoice", station=None, fallback=FALLBACK) == Route(
            printer="socket://fallback:9100", label_format="zpl")
        assert route_for([], document_type="pick_list", station=None, fallback=FALLBACK) is None

    def test_the_first_registered_network_printer_by_name_for_the_type_wins(self):
        printers = [printer("zeta", ["invoice"]), printer("alpha", ["invoice", "pick_list"]),
                    printer("bench", ["invoice"], station="bench-1")]
        assert route_for(printers, document_type="invoice", station=None, fallback=FALLBACK).printer == (
            "socket://alpha.local:9100")

    def test_a_label_printer_says_whether_it_takes_zpl_or_pdf(self):
        printers = [printer("desk", ["shipping_label"], label_format="pdf")]
        route = route_for(printers, document_type="shipping_label", station=None, fallback=FALLBACK)
        assert route.label_format == "pdf"

    def test_a_station_job_goes_to_the_stations_printer_for_the_type_or_to_its_queue_alone(self):
        printers = [printer("bench-labels", ["shipping_label"], station="bench-1"), printer("office", ["invoice"])]
        assert route_for(printers, document_type="shipping_label", station="bench-1", fallback=FALLBACK) == Route(
            printer="socket://bench-labels.local:9100", label_format="zpl", station="bench-1")
        assert route_for(printers, document_type="invoice", station="bench-1", fallback=FALLBACK) == Route(
            printer=None, label_format="pdf", station="bench-1")

    def test_an_ipp_printer_has_an_ipp_uri(self):
        office = PrinterConfig(name="office", protocol="ipp", address="10.0.0.5:631/ipp/print",
                               document_types=["invoice"])
        assert office.uri == "ipp://10.0.0.5:631/ipp/print"

    @pytest.mark.parametrize("bad", [{"name": "Bad Name"}, {"address": "http://x"}, {"document_types": ["menu"]},
                                     {"paper": "A3"}, {"extra": 1}])
    def test_a_bad_registration_is_refused(self, bad):
        with pytest.raises(ValidationError):
            PrinterConfig(**{"name": "ok", "protocol": "raw9100", "address": "h:9100",
                             "document_types": ["invoice"], **bad})
