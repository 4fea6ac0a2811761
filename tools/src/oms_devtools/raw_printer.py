"""A raw TCP 9100 ("JetDirect") printer stand-in: every connection is one job, kept as a file.

`python -m oms_devtools.raw_printer --port 9100 --dir DIR` — used by `make run` and the integration tests.
A job is whatever bytes arrive until the sender closes its side, exactly as a real raw-socket printer sees it.
`--drop-every N` (the fault drill) resets every N-th connection after its first bytes and keeps nothing of it,
like a printer that loses power or gives up mid-job.
"""

import argparse
import asyncio
import itertools
import logging
import re
import socket
import struct
from pathlib import Path

log = logging.getLogger("raw_printer")


class RawPrinter:
    """Accepts raw print jobs on a TCP port and writes each to `<dir>/job-<n>.<pdf|zpl|bin>`."""

    def __init__(self, spool_dir: Path, host: str = "127.0.0.1", port: int = 9100, drop_every: int = 0) -> None:
        self.spool_dir = spool_dir
        self.host = host
        self.port = port
        self.drop_every = drop_every
        self.jobs: list[Path] = []
        self.dropped = 0
        self._connections = itertools.count(1)
        # Numbered after the jobs already in the directory: a restarted printer must not overwrite them.
        kept = [int(m.group(1)) for p in spool_dir.glob("job-*") if (m := re.match(r"job-(\d+)", p.name))]
        self._numbers = itertools.count(max(kept, default=0) + 1)
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_server(self._receive, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one job until EOF and keep it (or drop it, see drop_every)."""
        if self.drop_every and next(self._connections) % self.drop_every == 0:
            await reader.read(1024)
            # Linger 0: the close is a reset, so the sender learns the job did not get through.
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            self.dropped += 1
            log.info("dropped a connection mid-job (%d so far)", self.dropped)
            return
        data = await reader.read(-1)
        writer.close()
        if not data:
            return
        path = self.spool_dir / f"job-{next(self._numbers):04d}.{_extension(data)}"
        path.write_bytes(data)
        self.jobs.append(path)
        log.info("printed %s (%d bytes)", path.name, len(data))


def _extension(data: bytes) -> str:
    """Guess the file type the way a printer's language sniffing would."""
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.lstrip().startswith(b"^XA"):
        return "zpl"
    return "bin"


async def _serve(spool_dir: Path, host: str, port: int, drop_every: int) -> None:
    printer = RawPrinter(spool_dir, host, port, drop_every)
    await printer.start()
    log.info("raw printer listening on %s:%d, spooling to %s", host, printer.port, spool_dir)
    await asyncio.Event().wait()


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(prog="raw_printer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--drop-every", type=int, default=0, metavar="N",
                        help="fault drill: reset every N-th connection mid-job and keep nothing of it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(args.dir, args.host, args.port, args.drop_every))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
