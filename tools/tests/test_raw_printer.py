"""The raw printer stand-in: one job per connection, numbering kept across restarts, and the drill's drops."""

import asyncio

import pytest

from oms_devtools.raw_printer import RawPrinter


async def send(port: int, data: bytes) -> bytes:
    """Send one job like a raw-port client: write, half-close, read until the printer closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    writer.write_eof()
    try:
        return await reader.read(-1)
    finally:
        writer.close()


async def test_a_restarted_printer_numbers_after_the_jobs_already_spooled(tmp_path):
    first = RawPrinter(tmp_path, port=0)
    await send(await first.start(), b"^XA^FDone^FS^XZ")
    await first.stop()
    second = RawPrinter(tmp_path, port=0)
    await send(await second.start(), b"%PDF-1.7 two")
    await second.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job-0001.zpl", "job-0002.pdf"]
    assert (tmp_path / "job-0001.zpl").read_bytes() == b"^XA^FDone^FS^XZ"


async def test_drop_every_resets_every_nth_connection_and_keeps_nothing_of_it(tmp_path):
    printer = RawPrinter(tmp_path, port=0, drop_every=2)
    port = await printer.start()
    try:
        await send(port, b"^XA^FD1^FS^XZ")
        with pytest.raises(ConnectionResetError):
            await send(port, b"^XA^FD2^FS^XZ")
        await send(port, b"^XA^FD3^FS^XZ")
    finally:
        await printer.stop()
    assert printer.dropped == 1
    assert [p.read_bytes() for p in sorted(tmp_path.iterdir())] == [b"^XA^FD1^FS^XZ", b"^XA^FD3^FS^XZ"]
