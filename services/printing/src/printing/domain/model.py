"""The print job aggregate: one document of an order on its way to a printer, with every state it passed.

States: queued → rendered → sent → printed, or failed from any of the first three. `printed` is final: the
same job issued again never prints again. A failed job may be issued again (it never printed), and a job found
half-way (a crash interrupted the attempt) is resumed; both go back to `queued` with a note in the history.
A printed job can be *reprinted* on request (a reason and who asked): its state stays `printed`, and the history
records each reprint, or why it could not be printed again. A reprint waits in the job (`reprint_requests`, state
`waiting`) until the worker's delivery loop (a network printer's job) or the station's agent (a station job) has sent
it and its outcome is recorded, each reprint its own delivery with its own id.
"""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from printing.domain.errors import InvalidTransition


class JobState(StrEnum):
    """Where a print job is."""

    QUEUED = "queued"
    RENDERED = "rendered"
    SENT = "sent"
    PRINTED = "printed"
    FAILED = "failed"


_NEXT: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RENDERED, JobState.FAILED}),
    JobState.RENDERED: frozenset({JobState.SENT, JobState.FAILED}),
    JobState.SENT: frozenset({JobState.PRINTED, JobState.FAILED}),
    JobState.PRINTED: frozenset(),
    JobState.FAILED: frozenset(),
}


class HistoryEntry(BaseModel):
    """One state the job entered, and when."""

    state: JobState
    at: datetime
    note: str | None = None


class ReprintState(StrEnum):
    """Where one requested reprint is."""

    WAITING = "waiting"
    PRINTED = "printed"
    FAILED = "failed"


class Reprint(BaseModel):
    """One reprint staff asked for; its id is the reprint command's id (the same Idempotency-Key, the same one)."""

    reprint_id: uuid.UUID
    reason: str
    requested_by: str
    requested_at: datetime
    station: str | None = Field(None, description="The station whose agent prints it; None: a network printer.")
    printer: str | None = Field(None, description="Where it goes (or went); None: the station's default output.")
    state: ReprintState
    settled_at: datetime | None = None
    error: str | None = None


class PrintJob(BaseModel):
    """One document of one order for one printer; `job_id` is derived from (order, document type, revision)."""

    job_id: uuid.UUID
    order_id: uuid.UUID
    order_number: str
    document_type: str
    revision: int
    printer: str
    station: str | None = Field(None, description="The print station whose agent prints it, if any.")
    state: JobState
    size_bytes: int | None = None
    reason: str | None = None
    attempts: int = Field(1, description="How many times the job was started (issued again or resumed adds one).")
    reprints: int = Field(0, description="How many times staff had the printed job printed again.")
    reprint_requests: list[Reprint] = Field(default_factory=list, description="Every reprint asked for, oldest first.")
    history: list[HistoryEntry]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def queue(
        cls,
        *,
        job_id: uuid.UUID,
        order_id: uuid.UUID,
        order_number: str,
        document_type: str,
        revision: int,
        printer: str,
        now: datetime,
        station: str | None = None,
    ) -> "PrintJob":
        """A new job, waiting to be rendered."""
        return cls(
            station=station,
            job_id=job_id,
            order_id=order_id,
            order_number=order_number,
            document_type=document_type,
            revision=revision,
            printer=printer,
            state=JobState.QUEUED,
            history=[HistoryEntry(state=JobState.QUEUED, at=now)],
            created_at=now,
            updated_at=now,
        )

    @property
    def printed(self) -> bool:
        """True once the printer took the whole document."""
        return self.state is JobState.PRINTED

    @property
    def in_flight(self) -> bool:
        """True while the job is on its way to a printer (queued, rendered or sent)."""
        return self.state in (JobState.QUEUED, JobState.RENDERED, JobState.SENT)

    def start_again(self, *, printer: str, now: datetime, station: str | None = None) -> None:
        """Queue the job once more: after a failure (issued again) or after an interrupted attempt (resumed)."""
        if self.state is JobState.PRINTED:
            raise InvalidTransition(f"job {self.job_id} already printed; a reprint is a new revision")
        note = "issued again after failure" if self.state is JobState.FAILED else f"resumed from {self.state.value}"
        self.printer = printer
        self.station = station
        self.reason = None
        self.attempts += 1
        self._enter(JobState.QUEUED, now, note=note, check=False)

    def resume(self, *, note: str, now: datetime) -> None:
        """Count an interrupted attempt that was taken up again (its document may have printed once already)."""
        self.attempts += 1
        self.updated_at = now
        self.history.append(HistoryEntry(state=self.state, at=now, note=note))

    def mark_rendered(self, *, size_bytes: int, now: datetime) -> None:
        """The document was made from its template."""
        self._enter(JobState.RENDERED, now)
        self.size_bytes = size_bytes

    def mark_sent(self, *, now: datetime, note: str | None = None) -> None:
        """Every byte reached the printer's connection (the note says after how many tries)."""
        self._enter(JobState.SENT, now, note=note)

    def mark_printed(self, *, now: datetime) -> None:
        """The printer took the whole document."""
        self._enter(JobState.PRINTED, now)

    def check_reprintable(self) -> None:
        """Raise InvalidTransition, saying why, unless the job has printed (there is something to print again)."""
        if self.state is JobState.PRINTED:
            return
        if self.state is JobState.FAILED:
            why = f"it failed ({self.reason}); issue it again instead"
        else:
            why = f"it is still {self.state.value}"
        raise InvalidTransition(f"print job {self.job_id} has never printed, so there is nothing to reprint: {why}")

    def record_reprint(self, *, reason: str, by: str, printer: str, now: datetime) -> None:
        """The printed job was printed again, on request."""
        self.check_reprintable()
        self.reprints += 1
        self.printer = printer
        self.updated_at = now
        self.history.append(HistoryEntry(state=JobState.PRINTED, at=now, note=f"reprinted: {reason} by {by}"))

    def record_failed_reprint(self, *, reason: str, by: str, error: str, now: datetime) -> None:
        """A requested reprint could not be printed; the job stays printed (its first copy did)."""
        self.check_reprintable()
        self.updated_at = now
        note = f"reprint failed: {error} (asked: {reason} by {by})"
        self.history.append(HistoryEntry(state=JobState.PRINTED, at=now, note=note))

    def reprint_request(self, reprint_id: uuid.UUID) -> Reprint | None:
        """The reprint with this id, if it was asked for."""
        return next((r for r in self.reprint_requests if r.reprint_id == reprint_id), None)

    @property
    def waiting_reprints(self) -> list[Reprint]:
        """Reprints waiting for the station's agent, oldest first."""
        return [r for r in self.reprint_requests if r.state is ReprintState.WAITING]

    def queue_reprint(
        self, *, reprint_id: uuid.UUID, reason: str, by: str, printer: str | None, now: datetime
    ) -> Reprint:
        """Ask for the printed job once more (to `printer`); it waits until settled, and the history says for
        whom it waits: the station's agent, or the network printer's delivery loop."""
        self.check_reprintable()
        if self.reprint_request(reprint_id) is not None:
            raise InvalidTransition(f"reprint {reprint_id} of job {self.job_id} was asked for already")
        reprint = Reprint(reprint_id=reprint_id, reason=reason, requested_by=by, requested_at=now,
                          station=self.station, printer=printer, state=ReprintState.WAITING)
        self.reprint_requests.append(reprint)
        self.updated_at = now
        waits_for = f"station {self.station}" if self.station is not None else f"printer {printer}"
        note = f"reprint waiting for {waits_for}: {reason} by {by}"
        self.history.append(HistoryEntry(state=JobState.PRINTED, at=now, note=note))
        return reprint

    def settle_reprint(
        self, reprint_id: uuid.UUID, *, printed: bool, printer: str, error: str | None, now: datetime
    ) -> bool:
        """Record what became of a waiting reprint: printed (the count goes up) or failed with the error. False
        when no such reprint waits (an acknowledgement told twice, or for a reprint never asked for)."""
        reprint = self.reprint_request(reprint_id)
        if reprint is None or reprint.state is not ReprintState.WAITING:
            return False
        if printed:
            self.record_reprint(reason=reprint.reason, by=reprint.requested_by, printer=printer, now=now)
        else:
            error = error or "the printer did not take the document"
            self.record_failed_reprint(reason=reprint.reason, by=reprint.requested_by, error=error, now=now)
        reprint.state = ReprintState.PRINTED if printed else ReprintState.FAILED
        reprint.printer, reprint.error, reprint.settled_at = printer, None if printed else error, now
        return True

    def fail(self, *, reason: str, now: datetime) -> None:
        """Give up on the job, saying why."""
        self._enter(JobState.FAILED, now, note=reason)
        self.reason = reason

    def _enter(self, state: JobState, now: datetime, *, note: str | None = None, check: bool = True) -> None:
        """Move to `state` if the rules allow it, and remember when."""
        if check and state not in _NEXT[self.state]:
            raise InvalidTransition(f"job {self.job_id} cannot go from {self.state.value} to {state.value}")
        self.state = state
        self.updated_at = now
        self.history.append(HistoryEntry(state=state, at=now, note=note))
