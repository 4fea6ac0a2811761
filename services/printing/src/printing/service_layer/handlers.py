"""The print command handlers: render, send to the document type's printer, record the outcome, tell fulfilment;
and reprint a printed job on request.

Only the consumer of oms.printing.commands (key = job id) runs it, so each job document has one writer.
Idempotency, per DESIGN.md: the job document records which commands it handled and what they published.
- The same command redelivered re-publishes its recorded JobPrinted/JobFailed (same event id); nothing prints.
- The same job issued by another command (same job id, new event id) after it printed re-publishes the outcome
  that printed it; nothing prints. After a failure it is tried again: a failed job never printed.
- A dead printer is tried `SendPolicy.attempts` times, then the job is stored as failed and JobFailed published;
  the handler returns normally, so the partition moves on.
The job is stored as `rendered` just before sending. If the process dies after the printer took the document but
before `printed` is stored, the redelivered command finds it `rendered` and sends it again: raw port 9100 offers
no way to ask a printer whether it printed a job, and a second copy is better than a parcel without a label.
A reprint is recorded (with its command id) after it printed, so the same window applies to it: a crash between
the printer taking the copy and the save prints that copy again on redelivery.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential

from oms_contracts import Envelope, derived_id
from oms_contracts.printing.v1 import JobFailed, JobPrinted, PrintDocument, ReprintJob
from oms_platform.documents import Published, record_outcome, recorded_outcome
from oms_platform.messaging import Bus, PermanentError
from printing.adapters.printers import Destination, PrinterError
from printing.adapters.renderers import Renderer
from printing.adapters.repository import PrintJobRepository, job_document, job_from_document, stored_command
from printing.domain.errors import InvalidTransition
from printing.domain.model import PrintJob

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SendPolicy:
    """How hard to try a printer before the job fails."""

    attempts: int = 3
    max_backoff_seconds: float = 2.0


async def handle_print_document(
    envelope: Envelope,
    *,
    repo: PrintJobRepository,
    bus: Bus,
    renderer: Renderer,
    printers: Mapping[str, Destination],
    clock: Clock,
    policy: SendPolicy,
) -> None:
    """Print one document once per job, then publish JobPrinted or JobFailed keyed by the job id."""
    command = envelope.payload
    if not isinstance(command, PrintDocument):
        raise PermanentError(f"printing cannot handle {envelope.type}")
    destination = printers.get(command.document_type)
    if destination is None:
        raise PermanentError(f"no printer configured for {command.document_type}")
    doc = await repo.get(command.job_id)
    already = recorded_outcome(doc, envelope.event_id)
    if already is not None:
        await bus.publish_all(already)  # a redelivery: same event, same id, nothing printed
        return
    job = job_from_document(doc) if doc else None
    if job is not None and job.printed:
        await _tell_again(envelope, doc, repo=repo, bus=bus)
        return

    if job is None:
        job = PrintJob.queue(
            job_id=command.job_id,
            order_id=command.order.order_id,
            order_number=command.order.details.order_number,
            document_type=command.document_type,
            revision=command.revision,
            printer=destination.uri,
            now=clock(),
        )
    else:
        job.start_again(printer=destination.uri, now=clock())

    try:
        document = await asyncio.to_thread(renderer.render, command)  # CPU-bound: keep the event loop free
    except Exception as exc:  # noqa: BLE001 - rendering is deterministic; the job fails and fulfilment is told why
        log.exception("could not render %s of job %s", command.document_type, command.job_id)
        job.fail(reason=f"could not render the {command.document_type}: {type(exc).__name__}: {exc}", now=clock())
    else:
        job.mark_rendered(size_bytes=len(document), now=clock())
        doc = job_document(job, previous=doc, command=command)
        await repo.save(doc)  # the last stop before the printer: visible to staff while we retry it
        try:
            await _send(destination, document, policy)
        except PrinterError as exc:
            job.fail(reason=f"printer gave up after {policy.attempts} attempt(s): {exc}", now=clock())
        else:
            # A raw-port printer says nothing back: taking every byte is all it ever confirms.
            job.mark_sent(now=clock())
            job.mark_printed(now=clock())
    await _settle(envelope, job, doc, command, repo=repo, bus=bus)


async def handle_reprint_job(
    envelope: Envelope,
    *,
    repo: PrintJobRepository,
    renderer: Renderer,
    printers: Mapping[str, Destination],
    clock: Clock,
    policy: SendPolicy,
) -> None:
    """Print a printed job once more from its stored command, once per reprint command; the history tells it.

    Nothing is published: the document printed the first time already, so fulfilment has nothing to learn.
    """
    command = envelope.payload
    if not isinstance(command, ReprintJob):
        raise PermanentError(f"printing cannot reprint from {envelope.type}")
    doc = await repo.get(command.job_id)
    if doc is None:
        raise PermanentError(f"reprint of print job {command.job_id}, which does not exist")
    if recorded_outcome(doc, envelope.event_id) is not None:
        return  # a redelivery: this reprint was printed (or refused) already
    job = job_from_document(doc)
    original = stored_command(doc)
    try:
        job.check_reprintable()
        if original is None:
            raise InvalidTransition(f"print job {job.job_id} kept no document to reprint; issue a new revision")
    except InvalidTransition as refusal:
        # The API refuses these with 409; one can only get here by publishing the command directly.
        log.warning("reprint %s refused: %s", envelope.event_id, refusal)
        record_outcome(doc, envelope.event_id, [])
        await repo.save(doc)
        return
    destination = printers.get(job.document_type)
    if destination is None:
        raise PermanentError(f"no printer configured for {job.document_type}")
    error: str | None = None
    try:
        document = await asyncio.to_thread(renderer.render, original)
    except Exception as exc:  # noqa: BLE001 - rendering is deterministic; the history says why
        log.exception("could not render the reprint of job %s", job.job_id)
        error = f"could not render the {job.document_type}: {type(exc).__name__}: {exc}"
    else:
        try:
            await _send(destination, document, policy)
        except PrinterError as exc:
            error = f"printer gave up after {policy.attempts} attempt(s): {exc}"
    if error is None:
        job.record_reprint(reason=command.reason, by=command.requested_by, printer=destination.uri, now=clock())
    else:
        job.record_failed_reprint(reason=command.reason, by=command.requested_by, error=error, now=clock())
    new_doc = job_document(job, previous=doc)
    record_outcome(new_doc, envelope.event_id, [])
    await repo.save(new_doc)


async def _send(destination: Destination, document: bytes, policy: SendPolicy) -> None:
    """Send to the printer, retrying with backoff; raises the last PrinterError when every attempt failed."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=0.2, max=policy.max_backoff_seconds),
        retry=retry_if_exception_type(PrinterError),
        before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            await destination.printer.send(document)


def _log_retry(state: RetryCallState) -> None:
    """Say which attempt failed and why before waiting for the next."""
    log.warning("printer attempt %d failed: %s", state.attempt_number, state.outcome.exception())


async def _settle(
    envelope: Envelope,
    job: PrintJob,
    previous: dict | None,
    command: PrintDocument,
    *,
    repo: PrintJobRepository,
    bus: Bus,
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
    await bus.publish_all(published)


async def _tell_again(envelope: Envelope, doc: dict, *, repo: PrintJobRepository, bus: Bus) -> None:
    """A printed job issued by another command: record and re-publish the outcome that printed it (same id)."""
    published = recorded_outcome(doc, uuid.UUID(doc["settled_by"])) or []
    record_outcome(doc, envelope.event_id, published)
    await repo.save(doc)
    await bus.publish_all(published)
