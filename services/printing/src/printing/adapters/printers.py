"""Printers as networked devices, addressed by URI. For now: raw TCP ("JetDirect"/AppSocket, port 9100).

A printer URI names how to reach the device: `socket://host[:port]` (port 9100 when left out). Unknown schemes
are refused when the settings are read, so a typo stops the service at start instead of failing every job.
"""

import asyncio
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

DEFAULT_RAW_PORT = 9100
SUPPORTED_SCHEMES = ("socket",)


class PrinterError(Exception):
    """The printer could not take the document (unreachable, refused, timed out, connection lost)."""


class Printer(Protocol):
    """Something that takes a whole document's bytes, or raises PrinterError."""

    async def send(self, data: bytes) -> None: ...


@dataclass(frozen=True)
class RawSocketPrinter:
    """A printer's raw port: connect, send every byte, shut down our side (the end of the job), close."""

    host: str
    port: int = DEFAULT_RAW_PORT
    timeout: float = 10.0

    async def send(self, data: bytes) -> None:
        """Hand `data` to the printer as one job; raises PrinterError if any step fails or takes too long."""
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(data)
                await writer.drain()
                # Half-close: a raw-port printer knows the job is complete when it reads end-of-file.
                writer.write_eof()
                writer.close()
                # Returns once the kernel took the rest; raises if the printer reset the connection.
                await writer.wait_closed()
        except BaseException as exc:
            if writer is not None:
                writer.transport.abort()  # a plain close would wait, unbounded, to flush what the printer refused
            if isinstance(exc, TimeoutError):  # checked first: TimeoutError is also an OSError
                raise PrinterError(f"{self.uri}: no answer within {self.timeout:g}s") from exc
            if isinstance(exc, OSError):
                raise PrinterError(f"{self.uri}: {exc.strerror or exc}") from exc
            raise

    @property
    def uri(self) -> str:
        """The URI this printer was configured with."""
        return f"socket://{self.host}:{self.port}"


@dataclass(frozen=True)
class Destination:
    """Where documents of one type go: the printer and the URI staff configured for it."""

    uri: str
    printer: Printer


def printer_for_uri(uri: str, *, timeout: float) -> Printer:
    """The printer a URI names; raises ValueError for an unknown scheme or a malformed address."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in SUPPORTED_SCHEMES:
        raise ValueError(
            f"unsupported printer URI {uri!r}: scheme {parts.scheme or '(none)'!r}; "
            "expected socket://host[:port] (raw TCP, port 9100 by default)"
        )
    try:
        port = parts.port or DEFAULT_RAW_PORT
    except ValueError as exc:
        raise ValueError(f"printer URI {uri!r}: bad port") from exc
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"printer URI {uri!r}: expected socket://host[:port] and nothing more")
    return RawSocketPrinter(host=parts.hostname, port=port, timeout=timeout)
