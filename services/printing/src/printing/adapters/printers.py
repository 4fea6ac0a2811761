"""Printers as networked devices, addressed by URI: raw TCP ("JetDirect"/AppSocket) and IPP.

A printer URI names how to reach the device:
- `socket://host[:port]` (port 9100 when left out): the printer's raw port.
- `ipp://host[:port]/path` (port 631 when left out, path `/ipp/print` when left out): an IPP printer, sent one
  Print-Job request per document over HTTP (through `pyipp`); where the printer reports the job's state, we
  follow it (Get-Job-Attributes) until the job completed, or fail the attempt when it was aborted or canceled.
Unknown schemes are refused when the settings are read, so a typo stops the service at start instead of failing
every job.
"""

import asyncio
import struct
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from pyipp import IPP
from pyipp.enums import IppOperation
from pyipp.exceptions import IPPError
from pyipp.parser import parse as parse_ipp_response

DEFAULT_RAW_PORT = 9100
DEFAULT_IPP_PORT = 631
DEFAULT_IPP_PATH = "/ipp/print"
SUPPORTED_SCHEMES = ("socket", "ipp")

# RFC 8011 section 4.1.6 (and 3998, 8010): the keywords printers and their logs use for IPP status codes.
IPP_STATUS_NAMES = {
    0x0000: "successful-ok",
    0x0001: "successful-ok-ignored-or-substituted-attributes",
    0x0002: "successful-ok-conflicting-attributes",
    0x0400: "client-error-bad-request",
    0x0401: "client-error-forbidden",
    0x0402: "client-error-not-authenticated",
    0x0403: "client-error-not-authorized",
    0x0404: "client-error-not-possible",
    0x0405: "client-error-timeout",
    0x0406: "client-error-not-found",
    0x0407: "client-error-gone",
    0x0408: "client-error-request-entity-too-large",
    0x0409: "client-error-request-value-too-long",
    0x040A: "client-error-document-format-not-supported",
    0x040B: "client-error-attributes-or-values-not-supported",
    0x040C: "client-error-uri-scheme-not-supported",
    0x040D: "client-error-charset-not-supported",
    0x040E: "client-error-conflicting-attributes",
    0x040F: "client-error-compression-not-supported",
    0x0410: "client-error-compression-error",
    0x0411: "client-error-document-format-error",
    0x0412: "client-error-document-access-error",
    0x0500: "server-error-internal-error",
    0x0501: "server-error-operation-not-supported",
    0x0502: "server-error-service-unavailable",
    0x0503: "server-error-version-not-supported",
    0x0504: "server-error-device-error",
    0x0505: "server-error-temporary-error",
    0x0506: "server-error-not-accepting-jobs",
    0x0507: "server-error-busy",
    0x0508: "server-error-job-canceled",
    0x0509: "server-error-multiple-document-jobs-not-supported",
}


# RFC 8011 section 5.3.7: job-state values that end a job.
IPP_JOB_CANCELED, IPP_JOB_ABORTED, IPP_JOB_COMPLETED = 7, 8, 9
IPP_JOB_DONE = frozenset({IPP_JOB_CANCELED, IPP_JOB_ABORTED, IPP_JOB_COMPLETED})


class PrinterError(Exception):
    """The printer could not take the document (unreachable, refused, timed out, connection lost)."""


class Printer(Protocol):
    """Something that takes a whole document's bytes, or raises PrinterError."""

    async def send(self, data: bytes) -> None: ...


@dataclass(frozen=True)
class RawSocketPrinter:
    """A printer's raw port: connect, send every byte, shut down our side (the end of the job), wait for its close."""

    host: str
    port: int = DEFAULT_RAW_PORT
    timeout: float = 10.0

    async def send(self, data: bytes) -> None:
        """Hand `data` to the printer as one job; raises PrinterError if any step fails or takes too long."""
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(data)
                await writer.drain()
                # Half-close: a raw-port printer knows the job is complete when it reads end-of-file.
                writer.write_eof()
                # Wait for the printer to close its side (CUPS' socket backend does the same, `waiteof`): until
                # then the job may sit in socket buffers, and a printer that drops the connection now would lose
                # it silently. A reset raises here, so the job is tried again.
                while await reader.read(65536):
                    pass  # back-channel status bytes, if any
                writer.close()
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


def ipp_status_name(code: int) -> str:
    """The RFC keyword of an IPP status code, or its hex value when we do not know it."""
    return IPP_STATUS_NAMES.get(code, f"0x{code:04x}")


def document_format(data: bytes) -> str:
    """The IPP document-format of a rendered document: PDF, or opaque bytes the printer knows (ZPL)."""
    # Our renderers make exactly these two kinds; a PDF always starts with its header. ZPL has no registered
    # type that printers agree on, so it goes as octet-stream: a label printer prints it as it comes. (A printer
    # that auto-types octet-stream, such as CUPS' ippeveprinter, refuses ZPL: use its raw port for labels.)
    return "application/pdf" if data.startswith(b"%PDF") else "application/octet-stream"


def _ipp_error_detail(exc: IPPError) -> str:
    """What pyipp knows about a failed exchange: its message, the HTTP details, and the underlying error."""
    parts = [str(arg) for arg in exc.args if arg]
    if exc.__cause__ is not None:
        parts.append(f"({type(exc.__cause__).__name__}: {exc.__cause__})")
    return " ".join(parts) or type(exc).__name__


@dataclass(frozen=True)
class IppPrinter:
    """An IPP printer: each document is one Print-Job request; the printer's status code says if it took it."""

    host: str
    port: int = DEFAULT_IPP_PORT
    path: str = DEFAULT_IPP_PATH
    timeout: float = 10.0
    job_name: str = "oms"
    user_name: str = "oms-printing"
    follow_seconds: float = 10.0  # how long to follow a job's state after the printer took it

    async def send(self, data: bytes) -> None:
        """Send `data` as one Print-Job; raises PrinterError unless the printer answers successful-ok(-*)."""
        message = {
            "operation-attributes-tag": {
                "requesting-user-name": self.user_name,
                "job-name": self.job_name,
                "document-format": document_format(data),
            },
            "data": data,
        }
        try:
            # pyipp's own timeout covers the request but not reading the answer: bound the whole exchange.
            async with asyncio.timeout(self.timeout):
                async with IPP(
                    host=self.host, port=self.port, base_path=self.path, request_timeout=self.timeout
                ) as client:
                    answer = await client.raw(IppOperation.PRINT_JOB, message)
        except TimeoutError as exc:
            raise PrinterError(f"{self.uri}: no answer within {self.timeout:g}s") from exc
        except IPPError as exc:
            raise PrinterError(f"{self.uri}: {_ipp_error_detail(exc)}") from exc
        try:
            response = parse_ipp_response(answer)
            status = response["status-code"]
        except (struct.error, ValueError, KeyError, IndexError) as exc:
            raise PrinterError(f"{self.uri}: the answer is not an IPP response ({len(answer)} bytes)") from exc
        if not 0x0000 <= status <= 0x00FF:
            message = (response.get("operation-attributes") or {}).get("status-message")
            said = f" ({message})" if message else ""
            raise PrinterError(f"{self.uri}: Print-Job refused: {ipp_status_name(status)}{said}")
        job = (response.get("jobs") or [{}])[0]
        if job.get("job-id") is not None and job.get("job-state") is not None:
            await self._follow(int(job["job-id"]), int(job["job-state"]), job.get("job-state-reasons"))

    async def _follow(self, job_id: int, state: int, reasons: object) -> None:
        """Wait for a job the printer reports on to end: completed returns, aborted or canceled raises
        PrinterError; a job still pending or printing after `follow_seconds` counts as taken."""
        deadline = asyncio.get_running_loop().time() + self.follow_seconds
        while state not in IPP_JOB_DONE:
            if asyncio.get_running_loop().time() > deadline:
                return  # the printer has it and is working on it
            await asyncio.sleep(0.2)
            try:
                async with asyncio.timeout(self.timeout):
                    async with IPP(
                        host=self.host, port=self.port, base_path=self.path, request_timeout=self.timeout
                    ) as client:
                        answer = await client.raw(IppOperation.GET_JOB_ATTRIBUTES, {
                            "operation-attributes-tag": {
                                "requesting-user-name": self.user_name,
                                "job-id": job_id,
                                "requested-attributes": ["job-state", "job-state-reasons"],
                            },
                        })
                found = (parse_ipp_response(answer).get("jobs") or [{}])[0]
            except (TimeoutError, IPPError, struct.error, ValueError, KeyError, IndexError):
                return  # it took the job; not being able to ask about it is no reason to print it again
            if found.get("job-state") is None:
                return
            state = int(found["job-state"])
            reasons = found.get("job-state-reasons")
        if state != IPP_JOB_COMPLETED:
            name = "aborted" if state == IPP_JOB_ABORTED else "canceled"
            raise PrinterError(f"{self.uri}: job {job_id} {name} by the printer ({reasons})")

    @property
    def uri(self) -> str:
        """The URI this printer was configured with."""
        return f"ipp://{self.host}:{self.port}{self.path}"


def printer_for_uri(uri: str, *, timeout: float) -> Printer:
    """The printer a URI names; raises ValueError for an unknown scheme or a malformed address."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in SUPPORTED_SCHEMES:
        raise ValueError(
            f"unsupported printer URI {uri!r}: scheme {parts.scheme or '(none)'!r}; expected "
            "socket://host[:port] (raw TCP, port 9100 by default) or ipp://host[:port]/path (IPP, port 631)"
        )
    try:
        port = parts.port or (DEFAULT_IPP_PORT if parts.scheme == "ipp" else DEFAULT_RAW_PORT)
    except ValueError as exc:
        raise ValueError(f"printer URI {uri!r}: bad port") from exc
    if parts.scheme == "ipp":
        if not parts.hostname or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"printer URI {uri!r}: expected ipp://host[:port]/path and nothing more")
        path = parts.path if parts.path not in ("", "/") else DEFAULT_IPP_PATH
        return IppPrinter(host=parts.hostname, port=port, path=path, timeout=timeout)
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"printer URI {uri!r}: expected socket://host[:port] and nothing more")
    return RawSocketPrinter(host=parts.hostname, port=port, timeout=timeout)
