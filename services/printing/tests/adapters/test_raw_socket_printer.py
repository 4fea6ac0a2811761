"""RawSocketPrinter against a real TCP listener on 127.0.0.1, and printer URIs."""

import asyncio
import socket
import struct

import pytest

from printing.adapters.printers import PrinterError, RawSocketPrinter, printer_for_uri


def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestSendingAJob:
    async def test_the_printer_receives_every_byte_as_one_job(self, start_listener):
        listener = await start_listener()
        document = b"%PDF-1.7\n" + bytes(range(256)) * 8192  # 2 MiB: more than one socket buffer
        await RawSocketPrinter("127.0.0.1", listener.port, timeout=5).send(document)
        assert await listener.wait_for_jobs(1) == [document]

    async def test_two_jobs_are_two_connections(self, start_listener):
        listener = await start_listener()
        printer = RawSocketPrinter("127.0.0.1", listener.port, timeout=5)
        await printer.send(b"^XA^FDone^FS^XZ")
        await printer.send(b"^XA^FDtwo^FS^XZ")
        assert await listener.wait_for_jobs(2) == [b"^XA^FDone^FS^XZ", b"^XA^FDtwo^FS^XZ"]

    async def test_a_printer_that_is_not_listening_raises_printer_error(self):
        port = unused_port()
        with pytest.raises(PrinterError, match=f"socket://127.0.0.1:{port}"):
            await RawSocketPrinter("127.0.0.1", port, timeout=5).send(b"^XA^XZ")

    async def test_a_printer_that_stops_reading_raises_printer_error_after_the_timeout(self, start_listener):
        listener = await start_listener(read=False)
        printer = RawSocketPrinter("127.0.0.1", listener.port, timeout=0.5)
        with pytest.raises(PrinterError, match="no answer within 0.5s"):
            await printer.send(b"x" * (64 * 1024 * 1024))  # far more than the kernel buffers


    async def test_a_printer_that_drops_the_connection_before_the_end_of_the_job_raises_printer_error(self):
        # Small enough to sit in the socket buffers: only the printer's close tells the sender it was printed.
        async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(16)
            # A reset (linger 0), as from a printer that lost power or gave up mid-job.
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(PrinterError, match=f"socket://127.0.0.1:{port}"):
                await RawSocketPrinter("127.0.0.1", port, timeout=5).send(b"^XA" + b"^FDx^FS" * 200 + b"^XZ")
        finally:
            server.close()
            await server.wait_closed()


class TestPrinterUris:
    def test_a_socket_uri_names_a_raw_port_printer(self):
        assert printer_for_uri("socket://10.0.0.5:9101", timeout=3) == RawSocketPrinter("10.0.0.5", 9101, 3)

    def test_the_port_defaults_to_9100(self):
        assert printer_for_uri("socket://labels.local", timeout=3) == RawSocketPrinter("labels.local", 9100, 3)

    @pytest.mark.parametrize(
        "uri", ["lpd://10.0.0.5/queue", "10.0.0.5:9100", "socket://", "socket://h:99999", "socket://h:9100/x"]
    )
    def test_anything_else_is_refused(self, uri):
        with pytest.raises(ValueError, match="printer URI"):
            printer_for_uri(uri, timeout=3)
