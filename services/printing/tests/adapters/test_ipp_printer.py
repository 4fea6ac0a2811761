"""IppPrinter against a real IPP Everywhere printer (CUPS' ippeveprinter on 127.0.0.1), and ipp:// URIs."""

import asyncio
import dataclasses
import socket

import pytest

from printing.adapters.printers import IppPrinter, PrinterError, document_format, ipp_status_name, printer_for_uri

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4096 + b"\n%%EOF\n"  # 1 MiB, every byte value
ZPL = b"^XA^CI28^FO40,40^A0N,30,30^FDOrder: PH-1001^FS^XZ\n"


def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def send_when_idle(printer, data: bytes, timeout: float = 10.0) -> None:
    """Send, trying again while the printer answers server-error-busy (it prints one job at a time)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                return await printer.send(data)
            except PrinterError as exc:
                if "server-error-busy" not in str(exc):
                    raise
                await asyncio.sleep(0.05)


class TestPrintingAJob:
    async def test_a_pdf_reaches_the_printer_byte_for_byte(self, start_ipp_printer):
        ipp = start_ipp_printer()
        await printer_for_uri(ipp.uri, timeout=10).send(PDF)
        [kept] = await ipp.wait_for_files(1)
        assert kept.read_bytes() == PDF and kept.suffix == ".pdf"

    async def test_two_documents_are_two_jobs(self, start_ipp_printer):
        ipp = start_ipp_printer()
        printer = printer_for_uri(ipp.uri, timeout=10)
        second = PDF[:1000] + b"\n%%EOF\n"
        await printer.send(PDF)
        await send_when_idle(printer, second)
        first_kept, second_kept = await ipp.wait_for_files(2)
        assert first_kept.read_bytes() == PDF and second_kept.read_bytes() == second


class TestARefusingPrinter:
    async def test_a_format_the_printer_does_not_take_raises_printer_error_with_the_status_name(
        self, start_ipp_printer
    ):
        ipp = start_ipp_printer(formats="image/pwg-raster")
        with pytest.raises(PrinterError, match="Print-Job refused: client-error-attributes-or-values-not-supported"):
            await printer_for_uri(ipp.uri, timeout=10).send(PDF)
        assert await ipp.wait_for_files(1, timeout=0.2) == []

    async def test_zpl_goes_as_octet_stream_which_an_auto_typing_printer_refuses_saying_why(
        self, start_ipp_printer
    ):
        ipp = start_ipp_printer(formats="application/pdf,application/octet-stream")
        with pytest.raises(PrinterError) as refused:
            await printer_for_uri(ipp.uri, timeout=10).send(ZPL)
        assert "client-error-attributes-or-values-not-supported" in str(refused.value)
        assert "(Unsupported document-format mimeMediaType value.)" in str(refused.value)
        assert document_format(ZPL) == "application/octet-stream" and document_format(PDF) == "application/pdf"

    async def test_a_path_the_printer_does_not_serve_raises_printer_error(self, start_ipp_printer):
        ipp = start_ipp_printer()
        printer = IppPrinter("127.0.0.1", ipp.port, "/ipp/nothing-here", timeout=10)
        with pytest.raises(PrinterError, match=f"ipp://127.0.0.1:{ipp.port}/ipp/nothing-here"):
            await printer.send(PDF)

    async def test_a_printer_that_is_not_listening_raises_printer_error(self):
        port = unused_port()
        with pytest.raises(PrinterError, match=f"ipp://127.0.0.1:{port}/ipp/print: .*Connect"):
            await IppPrinter("127.0.0.1", port, timeout=5).send(PDF)

    async def test_a_busy_printer_raises_printer_error_so_the_job_is_tried_again(self, start_ipp_printer):
        ipp = start_ipp_printer(instant=False)
        # Not following the first job's state: it is still printing when the second one comes.
        printer = dataclasses.replace(printer_for_uri(ipp.uri, timeout=10), follow_seconds=0)
        await printer.send(PDF)
        with pytest.raises(PrinterError, match=r"server-error-busy \(Currently printing another job.\)"):
            await printer.send(PDF)  # the first job is still being "printed"

    async def test_a_job_the_printer_aborts_raises_printer_error_naming_it(self, start_ipp_printer):
        ipp = start_ipp_printer(command="/bin/false")  # the printer's print command fails: the job aborts
        with pytest.raises(PrinterError, match=r"job \d+ aborted by the printer"):
            await printer_for_uri(ipp.uri, timeout=10).send(PDF)

    async def test_a_job_is_followed_until_the_printer_completed_it(self, start_ipp_printer):
        ipp = start_ipp_printer(command="/bin/true")
        await printer_for_uri(ipp.uri, timeout=10).send(PDF)
        assert len(await ipp.wait_for_files(1)) == 1

    def test_status_codes_are_named_as_the_rfc_names_them(self):
        assert ipp_status_name(0x040A) == "client-error-document-format-not-supported"
        assert ipp_status_name(0x0507) == "server-error-busy"
        assert ipp_status_name(0x0777) == "0x0777"


class TestIppUris:
    def test_an_ipp_uri_names_an_ipp_printer(self):
        assert printer_for_uri("ipp://10.0.0.5:8631/printers/labels", timeout=3) == IppPrinter(
            "10.0.0.5", 8631, "/printers/labels", timeout=3
        )

    def test_port_and_path_default_to_631_and_ipp_print(self):
        assert printer_for_uri("ipp://office.local", timeout=3) == IppPrinter("office.local", 631, "/ipp/print", 3)

    @pytest.mark.parametrize("uri", ["ipp://", "ipp://h:99999/ipp/print", "ipp://h/ipp/print?x=1", "ipp://u:p@h/x"])
    def test_a_malformed_ipp_uri_is_refused(self, uri):
        with pytest.raises(ValueError, match="printer URI"):
            printer_for_uri(uri, timeout=3)
