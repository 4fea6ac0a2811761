"""The worker's delivery loop: one task per network printer sends that printer's rendered jobs and waiting reprints,
oldest first.

A dead printer holds up only its own task (its jobs wait, retried with backoff, then fail with the reason);
the other printers' tasks go on. Each outcome goes back to the command consumer as a RecordDelivery (see
handlers), and the printer's state (last success, last failure, online) is kept in `printer_status`, which only
this loop writes.

A job is sent once per attempt, a reprint once: before sending, the loop notes the delivery (the job's attempt, or
`reprint-<id>`) in `deliveries` (a unique insert);
once the printer has answered it keeps the outcome in that note (retrying until the database takes it), then
publishes it, retrying the publish (never the print) until Kafka takes it, however long the broker is away. A worker restarted before the consumer settled
the job finds the kept outcome and publishes it again instead of printing again. Only a crash between the
printer taking a document and the outcome being kept sends it again (raw port 9100 cannot tell whether it
printed; a second copy beats a parcel without a label); the note is found, so the RecordDelivery says `resumed`
and the job's history and attempts show it.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from oms_contracts.printing.v1 import RecordDelivery
from oms_platform.messaging import Bus, is_transient
from printing.adapters.printers import Printer
from printing.adapters.repository import PrintJobRepository, job_from_document
from printing.service_layer.handlers import Clock, SendPolicy, delivery_envelope, send_attempt

log = logging.getLogger(__name__)


class PrinterStatusStore(Protocol):
    """Where the delivery loop keeps each printer's state, and which attempts it started sending."""

    async def record(self, printer: str, *, ok: bool, at: datetime, error: str | None) -> None: ...

    async def begin(self, job_id: str, delivery: str, *, at: datetime) -> bool:
        """Note that sending this delivery (the job's attempt number, or `reprint-<id>`) starts; False when it was
        started before (by a process that died)."""
        ...

    async def keep_outcome(self, job_id: str, delivery: str, outcome: dict[str, Any]) -> None:
        """Keep what the printer did with this delivery (a RecordDelivery as JSON) before telling the consumer."""
        ...

    async def kept_outcome(self, job_id: str, delivery: str) -> dict[str, Any] | None:
        """The outcome kept for this delivery by a process that may have died before telling it, or None."""
        ...


@dataclass
class DeliveryLoop:
    """Finds printers with rendered jobs and keeps one sending task per printer."""

    repo: PrintJobRepository
    bus: Bus
    connect: Callable[[str], Printer]
    status: PrinterStatusStore
    policy: SendPolicy
    clock: Clock
    poll_seconds: float = 0.5
    _tasks: dict[str, asyncio.Task] = field(default_factory=dict)
    _delivered: dict[tuple[str, str], float] = field(default_factory=dict)
    _printers: dict[str, Printer] = field(default_factory=dict)

    async def run(self) -> None:
        """Look for work every `poll_seconds` until cancelled."""
        try:
            while True:
                try:
                    await self.tick()
                except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup; it is logged
                    log.exception("delivery loop: could not look for rendered jobs")
                await asyncio.sleep(self.poll_seconds)
        finally:
            for task in self._tasks.values():
                task.cancel()

    async def tick(self) -> None:
        """Start a task for each printer that has rendered jobs or reprints waiting and no task running."""
        for uri in await self.repo.printers_with_work():
            task = self._tasks.get(uri)
            if task is None or task.done():
                self._tasks[uri] = asyncio.create_task(self.drain(uri), name=f"deliver {uri}")
        self._forget_old()

    async def drain(self, uri: str) -> None:
        """Send the printer's rendered jobs and waiting reprints one by one until none is left that this loop has
        not sent."""
        while True:
            docs = await self.repo.awaiting(printer=uri, limit=20)
            fresh = [(doc, delivery, reprint) for doc in docs for delivery, reprint in _deliveries(doc)
                     if (doc["_id"], delivery) not in self._delivered]
            if not fresh:
                return
            for doc, delivery, reprint in fresh:
                job_id = doc["_id"]
                kept = await self.status.kept_outcome(job_id, delivery)
                if kept is not None:
                    outcome = RecordDelivery.model_validate(kept)  # sent before a restart: tell it, do not print
                else:
                    first = await self.status.begin(job_id, delivery, at=self.clock())
                    outcome = await send_attempt(
                        doc, printer=self._printer(uri), uri=uri, policy=self.policy, clock=self.clock,
                        resumed=not first, reprint=reprint,
                    )
                    await self._keep(job_id, delivery, outcome)
                self._delivered[(job_id, delivery)] = time.monotonic()
                await self._tell(outcome, doc)
                await self.status.record(uri, ok=outcome.printed, at=self.clock(), error=outcome.reason)

    async def _keep(self, job_id: str, delivery: str, outcome: RecordDelivery) -> None:
        """Keep the outcome in the attempt's note, retrying until the database takes it: the printer has the
        document, so a database outage must delay the note, never end the task (its next round would send the job
        again as a resumed attempt). Only infrastructure errors are retried; anything else ends the task."""
        async for retry in AsyncRetrying(wait=wait_exponential(multiplier=0.2, max=5), reraise=True,
                                         retry=retry_if_exception(is_transient), before_sleep=_log_keep_retry):
            with retry:
                await self.status.keep_outcome(job_id, delivery, outcome.model_dump(mode="json"))

    async def _tell(self, outcome: RecordDelivery, doc: dict) -> None:
        """Publish the outcome to the consumer, retrying until the broker takes it: the printer has the document,
        so a broker outage must delay the record, never print the job again."""
        async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.2, max=5), before_sleep=_log_retry):
            with attempt:
                await self.bus.publish(delivery_envelope(self.bus, outcome, doc), key=str(outcome.job_id))

    async def wait_idle(self) -> None:
        """Wait for the running tasks (tests)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _printer(self, uri: str) -> Printer:
        if uri not in self._printers:
            self._printers[uri] = self.connect(uri)
        return self._printers[uri]

    def _forget_old(self) -> None:
        # The consumer settles a delivered job within seconds; an hour-old memory only guards nothing.
        cutoff = time.monotonic() - 3600
        for key in [key for key, at in self._delivered.items() if at < cutoff]:
            del self._delivered[key]


def _deliveries(doc: dict) -> list[tuple[str, uuid.UUID | None]]:
    """What a job document holds for its printer: the job itself while rendered (its attempt number), and each
    waiting reprint (`reprint-<id>`, with the reprint's id)."""
    job = [(str(int(doc["attempt"])), None)] if doc["state"] == "rendered" else []
    waiting = job_from_document(doc).waiting_reprints if doc.get("reprints_waiting") else []
    return job + [(f"reprint-{r.reprint_id}", r.reprint_id) for r in waiting]


def _log_retry(state: RetryCallState) -> None:
    log.warning("delivery loop: could not publish a delivery outcome (attempt %d), retrying: %s",
                state.attempt_number, state.outcome.exception() if state.outcome else None)


def _log_keep_retry(state: RetryCallState) -> None:
    log.warning("delivery loop: could not keep a delivery outcome (attempt %d), retrying: %s",
                state.attempt_number, state.outcome.exception() if state.outcome else None)
