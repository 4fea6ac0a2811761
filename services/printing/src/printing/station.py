"""The print station agent a packing bench runs: `python -m printing station --name bench-1 --key ...`
(or `python -m printing.station ...`).

It long-polls the printing API for its own station's jobs (each request is also its heartbeat), prints each one
on the printer the job names (a station printer registered with an `ipp` or `raw9100` address) or else on its
default output (`--printer URI`, or a folder, `--out DIR`), and acknowledges it. While the API cannot be reached
it keeps trying; the jobs wait for it on the server.

No job prints twice across a stop and restart: before acknowledging, the agent appends what it did with the job
(job id, attempt, printed or why not) to its journal (fsynced), and a job found in the journal is acknowledged
again without printing. A reprint staff asked for comes as a job with `reprint` set: journaled under the reprint's
id, it prints once as well. The window left is a crash between the printer taking the document and the journal
line being written. A revoked key (403) or an unknown one (401) stops the agent with exit code 3.
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
from pathlib import Path

import httpx

from printing.adapters.printers import PrinterError, printer_for_uri

log = logging.getLogger("printing.station")
EXIT_REFUSED = 3


class Refused(Exception):
    """The API refused the station's key."""


class Journal:
    """What this station did with each job attempt, one JSON line each, kept across restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.done[entry["key"]] = entry

    def record(self, key: str, entry: dict) -> None:
        """Remember an outcome durably before telling the server."""
        entry = {"key": key, **entry}
        with self.path.open("a") as file:
            file.write(json.dumps(entry) + "\n")
            file.flush()
            os.fsync(file.fileno())
        self.done[key] = entry


class StationAgent:
    """Polls, prints, journals, acknowledges."""

    def __init__(
        self,
        *,
        api: str,
        name: str,
        key: str,
        journal: Journal,
        out: Path | None,
        default_printer: str | None,
        wait: float = 20.0,
        printer_timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api = api.rstrip("/")
        self.name = name
        self.journal = journal
        self.out = out
        self.default_printer = default_printer
        self.wait = wait
        self.printer_timeout = printer_timeout
        self.client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {key}"}, timeout=wait + 15, transport=transport
        )

    async def run(self) -> None:
        """Work until cancelled; raises Refused when the key is refused."""
        backoff = 0.5
        while True:
            try:
                await self.poll_once()
                backoff = 0.5
            except httpx.HTTPError as exc:  # the API is away: the jobs wait for us on the server
                log.warning("printing API unreachable (%s); trying again in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def poll_once(self) -> int:
        """Ask for jobs (waiting up to `wait` s), print and acknowledge each; the number handled."""
        answer = await self.client.get(f"{self.api}/stations/{self.name}/jobs", params={"wait": self.wait})
        self._check(answer)
        jobs = answer.json()
        for job in jobs:
            await self.handle(job)
        return len(jobs)

    async def handle(self, job: dict) -> None:
        """Print a job unless the journal says it was done, then acknowledge it. A reprint is journaled under its
        own id, so each reprint prints once too."""
        reprint = job.get("reprint")
        key = f"{job['job_id']}:reprint:{reprint}" if reprint else f"{job['job_id']}:{job['attempt']}"
        entry = self.journal.done.get(key)
        if entry is None:
            entry = await self.print_job(job)
            self.journal.record(key, entry)
        body = {"attempt": job["attempt"], "printed": entry["printed"], "printer": entry["printer"],
                "reason": entry.get("reason")}
        if reprint:
            body["reprint"] = reprint
        answer = await self.client.post(f"{self.api}/stations/{self.name}/jobs/{job['job_id']}/ack", json=body)
        self._check(answer)

    async def print_job(self, job: dict) -> dict:
        """Send the document to the job's printer, the default printer, or the output folder."""
        document = base64.b64decode(job["document_base64"])
        target = job.get("printer") or self.default_printer
        try:
            if target:
                await printer_for_uri(target, timeout=self.printer_timeout).send(document)
                return {"printed": True, "printer": target}
            if self.out is None:
                return {"printed": False, "printer": "none", "reason": "the station has no printer for this job"}
            suffix = "pdf" if job["content_type"] == "application/pdf" else "zpl"
            copy = f"reprint-{job['reprint']}" if job.get("reprint") else job["attempt"]
            path = self.out / f"{job['document_type']}-{job['job_id']}-{copy}.{suffix}"
            partial = path.with_suffix(".part")
            partial.write_bytes(document)
            partial.replace(path)  # a complete file or none
            return {"printed": True, "printer": f"folder:{self.out}"}
        except (PrinterError, OSError, ValueError) as exc:
            return {"printed": False, "printer": target or f"folder:{self.out}", "reason": str(exc)}

    def _check(self, answer: httpx.Response) -> None:
        if answer.status_code in (401, 403):
            raise Refused(f"{answer.status_code}: {answer.text}")
        answer.raise_for_status()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the agent until Ctrl-C or refusal."""
    parser = argparse.ArgumentParser(prog="python -m printing station", description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the station's name, as registered (POST /stations)")
    parser.add_argument("--key", default=os.environ.get("PRINTING_STATION_KEY"),
                        help="the station's key (or PRINTING_STATION_KEY)")
    parser.add_argument("--api", default=os.environ.get("PRINTING_API_URL", "http://127.0.0.1:8105"))
    parser.add_argument("--out", type=Path, help="folder that takes jobs without a printer of their own")
    parser.add_argument("--printer", help="default printer URI (socket://host:9100 or ipp://host/ipp/print)")
    parser.add_argument("--journal", type=Path, help="journal file (default: .station-<name>.journal)")
    parser.add_argument("--wait", type=float, default=20.0, help="long-poll seconds")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("--key (or PRINTING_STATION_KEY) is required")
    logging.basicConfig(level=os.environ.get("OMS_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    journal = Journal(args.journal or Path(f".station-{args.name}.journal"))
    agent = StationAgent(api=args.api, name=args.name, key=args.key, journal=journal, out=args.out,
                         default_printer=args.printer, wait=args.wait)
    try:
        asyncio.run(agent.run())
    except Refused as refusal:
        print(f"station {args.name}: the printing API refused the key ({refusal})", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
