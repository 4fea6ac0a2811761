"""The print command handlers: render a document and queue it for its printer or station; record what the
printer or station did with it and tell fulfilment; queue a reprint of a printed job on request (it waits in
the job for the printer's delivery loop or the station's agent, like a job of its own).

Only the consumer of oms.printing.commands (key = job id) runs them, so each job document has one writer.
Delivery does not happen in the consumer: a rendered job waits (state `rendered`, the document stored with it)
for the worker's delivery loop of its printer (`service_layer.delivery`), or for its print station's agent.
Either answers with a RecordDelivery command on the same topic, and `handle_record_delivery` settles the job.
So a dead printer holds up only its own jobs, never the partition nor the other printers.

Idempotency, per DESIGN.md: the job document records which commands it handled and what they published.
- The same command redelivered re-publishes what it recorded (same event ids); nothing is rendered twice.
- The same job issued by another command (same job id, new event id): after it printed, the outcome that
  printed it is re-published; while it is on its way, nothing happens; after a failure it is tried again.
- A RecordDelivery for an attempt the job is no longer at (stale, or a duplicate acknowledgement) changes nothing.
- A reprint is keyed by its command's id: the same reprint command again queues nothing more, and the delivery
  loop's or station's outcome of a reprint (RecordDelivery with `reprint`) settles that reprint once.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential

from oms_contracts import Envelope, derived_id
from oms_contracts.printing.v1 import (
    JobFailed,
    JobPrinted,
    PrintDocument,
    PrintPickList,
    RecordDelivery,
    ReprintJob,
)
from oms_platform.documents import Published, drill_crash, record_outcome, recorded_outcome
from oms_platform.messaging import Bus, PermanentError
from printing.adapters.printers import Printer, PrinterError
from printing.adapters.renderers import Renderer
from printing.adapters.repository import (
    PrintJobRepository,
    job_document,
    job_from_document,
    stored_document,
)
from printing.domain.errors import InvalidTransition
from printing.domain.model import JobState, PrintJob
from printing.domain.printers import PrinterConfig, Route, route_for

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Connect = Callable[[str], Printer]


@dataclass(frozen=True)
class SendPolicy:
    """How hard to try a printer before the job fails."""

    attempts: int = 3
    max_backoff_seconds: float = 2.0


class PrinterSource(Protocol):
    """The printer registry, as the handlers read it."""

    async def printers(self) -> list[PrinterConfig]: ...


class TemplateSource(Protocol):
    """Staff's template overrides, as the renderer takes them (`template_key` -> source)."""

    async def overrides(self) -> dict[str, str]: ...


@dataclass
class Directory:
    """Finds the printer of a document: the registry first, then the configured printer URI of its type."""

    registry: PrinterSource
    fallback: Mapping[str, str]

    async def route(self, document_type: str, station: str | None) -> Route | None:
        """Where a document of this type (for this station, if any) goes."""
        return route_for(
            await self.registry.printers(), document_type=document_type, station=station, fallback=dict(self.fallback)
        )


def document_type_of(command: PrintDocument | PrintPickList) -> str:
    """The document type a print command asks for."""
    return "pick_list" if isinstance(command, PrintPickList) else command.document_type


async def handle_print_document(
    envelope: Envelope,
    *,
    repo: PrintJobRepository,
    bus: Bus,
    renderer: Renderer,
    directory: Directory,
    clock: Clock,
    templates: TemplateSource | None = None,
) -> None:
    """Render a PrintDocument or PrintPickList once per job and queue it for its printer or station."""
    command = envelope.payload
    if not isinstance(command, (PrintDocument, PrintPickList)):
        raise PermanentError(f"printing cannot handle {envelope.type}")
    document_type = document_type_of(command)
    doc = await repo.get(command.job_id)
    already = recorded_outcome(doc, envelope.event_id)
    if already is not None:
        await bus.publish_all(already)  # a redelivery: same events, same ids, nothing rendered again
        return
    job = job_from_document(doc) if doc else None
    if job is not None and job.printed:
        await _tell_again(envelope, doc, repo=repo, bus=bus)
        return
    if job is not None and job.in_flight:
        record_outcome(doc, envelope.event_id, [])  # on its way already: the outcome will be told once
        await repo.save(doc)
        return
    route = await directory.route(document_type, command.station)
    if route is None:
        raise PermanentError(f"no printer for {document_type} documents: register one (PUT /printers/{{name}})")
    printer = route.printer or f"station:{route.station}"
    if job is None:
        if isinstance(command, PrintPickList):
            owner, number = command.batch_id, f"batch {command.batch_id}"
        else:
            owner, number = command.order.order_id, command.order.details.order_number
        job = PrintJob.queue(
            job_id=command.job_id,
            order_id=owner,  # a pick list's job belongs to its batch: JobPrinted.order_id is the batch id
            order_number=number,
            document_type=document_type,
            revision=command.revision,
            printer=printer,
            station=route.station,
            now=clock(),
        )
    else:
        job.start_again(printer=printer, station=route.station, now=clock())

    if templates is not None:
        renderer.use_overrides(await templates.overrides())
    try:
        # CPU-bound: keep the event loop free
        document = await asyncio.to_thread(renderer.render, command, label_format=route.label_format)
    except Exception as exc:  # noqa: BLE001 - rendering is deterministic; the job fails and fulfilment is told why
        log.exception("could not render %s of job %s", document_type, command.job_id)
        job.fail(reason=f"could not render the {document_type}: {type(exc).__name__}: {exc}", now=clock())
        await _settle(envelope, job, doc, repo=repo, bus=bus, command=command)
        return
    job.mark_rendered(size_bytes=len(document), now=clock())
    new_doc = job_document(job, previous=doc, command=command, document=document)
    new_doc["correlation_id"] = str(envelope.correlation_id)  # the delivery and its outcome carry it on
    record_outcome(new_doc, envelope.event_id, [])
    await repo.save(new_doc)


async def handle_record_delivery(envelope: Envelope, *, repo: PrintJobRepository, bus: Bus, clock: Clock) -> None:
    """Settle a rendered job with what its printer or station did: printed, or failed with the reason."""
    command = envelope.payload
    if not isinstance(command, RecordDelivery):
        raise PermanentError(f"printing cannot record a delivery from {envelope.type}")
    doc = await repo.get(command.job_id)
    if doc is None:
        raise PermanentError(f"delivery of print job {command.job_id}, which does not exist")
    already = recorded_outcome(doc, envelope.event_id)
    if already is not None:
        await bus.publish_all(already)
        return
    job = job_from_document(doc)
    if command.reprint is not None:
        # The outcome of a reprint (delivery loop or station): settles that reprint once; the job stays printed,
        # nothing published.
        if job.settle_reprint(command.reprint, printed=command.printed, printer=command.printer,
                              error=command.reason, now=clock()):
            doc = job_document(job, previous=doc)
        record_outcome(doc, envelope.event_id, [])
        await repo.save(doc)
        return
    if job.state is not JobState.RENDERED or job.attempts != command.attempt:
        log.info(
            "delivery %s of job %s ignored: the job is %s at attempt %d",
            envelope.event_id, job.job_id, job.state.value, job.attempts,
        )
        record_outcome(doc, envelope.event_id, [])
        await repo.save(doc)
        return
    job.printer = command.printer
    if command.resumed:
        # The worker died after starting to send this attempt: the printer may hold a copy already.
        job.resume(note="resumed from rendered: sent again after a restart", now=clock())
    tries = f"after {command.tries} tries" if command.tries > 1 else None
    if command.printed:
        job.mark_sent(now=command.sent_at or clock(), note=tries)
        # A raw-port printer says nothing back: taking every byte is all it ever confirms.
        job.mark_printed(now=clock())
    else:
        job.fail(reason=command.reason or "the printer did not take the document", now=clock())
    await _settle(envelope, job, doc, repo=repo, bus=bus)


async def send_attempt(
    doc: dict,
    *,
    printer: Printer,
    uri: str,
    policy: SendPolicy,
    clock: Clock,
    resumed: bool = False,
    reprint: uuid.UUID | None = None,
) -> RecordDelivery:
    """Send a rendered job's document to its network printer (with retries and backoff), or a printed job's
    document again for its waiting `reprint`; what happened, as the RecordDelivery the delivery loop keeps and then
    publishes (`delivery_envelope`). `resumed`: this delivery was started before (a restart)."""
    job_id, attempt = uuid.UUID(doc["_id"]), int(doc["attempt"])
    document = stored_document(doc)
    tries = 0
    reason: str | None = None
    if document is None:
        reason = "the job kept no rendered document"
    else:
        try:
            tries = await send_with_retries(printer, document, policy)
        except PrinterError as exc:
            tries = policy.attempts
            reason = f"printer gave up after {policy.attempts} attempt(s): {exc}"
    command = RecordDelivery(
        job_id=job_id,
        attempt=attempt,
        printed=reason is None,
        printer=uri,
        tries=max(tries, 1),
        reason=reason,
        sent_at=clock() if reason is None else None,
        resumed=resumed,
        reprint=reprint,
    )
    return command


def delivery_envelope(bus: Bus, command: RecordDelivery, doc: dict) -> Envelope:
    """The envelope of a delivery outcome: its id derived from (job, attempt), or from (job, reprint) for a
    reprint, so telling it twice counts once; the job's correlation id carried on."""
    correlation = doc.get("correlation_id")
    if command.reprint is not None:
        event_id = derived_id("print-reprint-delivery", str(command.job_id), str(command.reprint))
    else:
        event_id = derived_id("print-delivery", str(command.job_id), str(command.attempt))
    return bus.envelope(
        command,
        event_id=event_id,
        correlation_id=uuid.UUID(correlation) if correlation else None,
    )


async def handle_reprint_job(
    envelope: Envelope,
    *,
    repo: PrintJobRepository,
    clock: Clock,
    directory: Directory | None = None,
) -> None:
    """Queue a printed job's stored document to print once more, once per reprint command (its id is the
    reprint's id); the history tells it. The delivery loop sends a network printer's reprint to the job's printer;
    a station job's reprint goes to that station's agent (to its current printer for the type, from `directory`).
    Either answers like for a job of its own, and `handle_record_delivery` settles the reprint. Sending is never
    done here, so a dead printer does not hold up the partition. Nothing is published: the document printed the
    first time already, so fulfilment has nothing to learn."""
    command = envelope.payload
    if not isinstance(command, ReprintJob):
        raise PermanentError(f"printing cannot reprint from {envelope.type}")
    doc = await repo.get(command.job_id)
    if doc is None:
        raise PermanentError(f"reprint of print job {command.job_id}, which does not exist")
    if recorded_outcome(doc, envelope.event_id) is not None:
        return  # a redelivery, or the same Idempotency-Key again: this reprint was printed, queued or refused
    job = job_from_document(doc)
    document = stored_document(doc)
    try:
        job.check_reprintable()
        if document is None:
            raise InvalidTransition(f"print job {job.job_id} kept no document to reprint; issue a new revision")
        printer: str | None = job.printer
        if job.station is not None:
            route = await directory.route(job.document_type, job.station) if directory is not None else None
            printer = route.printer if route is not None else None  # None: the agent's default output
        job.queue_reprint(reprint_id=envelope.event_id, reason=command.reason, by=command.requested_by,
                          printer=printer, now=clock())
    except InvalidTransition as refusal:
        # The API refuses these with 409; one can only get here by publishing the command directly.
        log.warning("reprint %s refused: %s", envelope.event_id, refusal)
        record_outcome(doc, envelope.event_id, [])
        await repo.save(doc)
        return
    new_doc = job_document(job, previous=doc)
    record_outcome(new_doc, envelope.event_id, [])
    await repo.save(new_doc)


async def send_with_retries(printer: Printer, document: bytes, policy: SendPolicy) -> int:
    """Send to the printer, retrying with backoff; the number of tries it took. Raises the last PrinterError
    when every attempt failed."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=0.2, max=policy.max_backoff_seconds),
        retry=retry_if_exception_type(PrinterError),
        before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            await printer.send(document)
    return attempt.retry_state.attempt_number


def _log_retry(state: RetryCallState) -> None:
    """Say which attempt failed and why before waiting for the next."""
    log.warning("printer attempt %d failed: %s", state.attempt_number, state.outcome.exception())


async def _settle(
    envelope: Envelope,
    job: PrintJob,
    previous: dict | None,
    *,
    repo: PrintJobRepository,
    bus: Bus,
    command: PrintDocument | PrintPickList | None = None,
) -> None:
    """Store the job's outcome together with the event that tells it, then publish that event."""
    if job.printed:
        payload = JobPrinted(
            job_id=job.job_id,
            order_id=job.order_id,
            document_type=job.document_type,
            printer=job.printer,
            size_bytes=job.size_bytes or 0,
        )
    else:
        payload = JobFailed(
            job_id=job.job_id, order_id=job.order_id, document_type=job.document_type, reason=job.reason or "failed"
        )
    outcome = bus.envelope(payload, cause=envelope, event_id=derived_id(envelope.event_id, "outcome"))
    published: Published = [(outcome, str(job.job_id))]
    doc = job_document(job, previous=previous, command=command)
    doc["settled_by"] = str(envelope.event_id)
    record_outcome(doc, envelope.event_id, published)
    await repo.save(doc)
    drill_crash("store")  # the fault drill's worst moments: settled but not told; told, offset not committed
    await bus.publish_all(published)
    drill_crash("publish")


async def _tell_again(envelope: Envelope, doc: dict, *, repo: PrintJobRepository, bus: Bus) -> None:
    """A printed job issued by another command: record and re-publish the outcome that printed it (same id)."""
    published = recorded_outcome(doc, uuid.UUID(doc["settled_by"])) or []
    record_outcome(doc, envelope.event_id, published)
    await repo.save(doc)
    await bus.publish_all(published)
