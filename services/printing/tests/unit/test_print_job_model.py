"""The print job aggregate: its states, their order, and when a job may start again."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from printing.domain.errors import InvalidTransition
from printing.domain.model import JobState, PrintJob

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_job() -> PrintJob:
    return PrintJob.queue(
        job_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        order_number="PH-1001",
        document_type="invoice",
        revision=1,
        printer="socket://printer.test:9100",
        now=T0,
    )


class TestAJobsLife:
    def test_a_new_job_is_queued(self):
        job = new_job()
        assert job.state is JobState.QUEUED
        assert [(h.state, h.at) for h in job.history] == [(JobState.QUEUED, T0)]

    def test_it_goes_queued_rendered_sent_printed_and_remembers_when(self):
        job = new_job()
        job.mark_rendered(size_bytes=1234, now=at(1))
        job.mark_sent(now=at(2))
        job.mark_printed(now=at(3))
        assert job.printed and job.size_bytes == 1234 and job.updated_at == at(3)
        assert [(h.state.value, h.at) for h in job.history] == [
            ("queued", T0), ("rendered", at(1)), ("sent", at(2)), ("printed", at(3))
        ]

    def test_it_cannot_be_printed_before_it_was_sent(self):
        job = new_job()
        job.mark_rendered(size_bytes=10, now=at(1))
        with pytest.raises(InvalidTransition, match="from rendered to printed"):
            job.mark_printed(now=at(2))

    def test_a_failure_keeps_its_reason(self):
        job = new_job()
        job.fail(reason="printer offline", now=at(1))
        assert job.state is JobState.FAILED and job.reason == "printer offline"
        assert job.history[-1].note == "printer offline"


class TestStartingAgain:
    def test_a_failed_job_issued_again_is_queued_with_a_note(self):
        job = new_job()
        job.fail(reason="printer offline", now=at(1))
        job.start_again(printer="socket://other.test:9100", now=at(2))
        assert job.state is JobState.QUEUED and job.reason is None and job.attempts == 2
        assert job.printer == "socket://other.test:9100"
        assert job.history[-1].note == "issued again after failure"

    def test_an_interrupted_job_is_resumed_with_a_note(self):
        job = new_job()
        job.mark_rendered(size_bytes=10, now=at(1))
        job.start_again(printer=job.printer, now=at(2))
        assert job.state is JobState.QUEUED and job.history[-1].note == "resumed from rendered"

    def test_a_printed_job_never_starts_again(self):
        job = new_job()
        job.mark_rendered(size_bytes=10, now=at(1))
        job.mark_sent(now=at(2))
        job.mark_printed(now=at(3))
        with pytest.raises(InvalidTransition, match="already printed"):
            job.start_again(printer=job.printer, now=at(4))


def printed_job() -> PrintJob:
    job = new_job()
    job.mark_rendered(size_bytes=10, now=at(1))
    job.mark_sent(now=at(2))
    job.mark_printed(now=at(3))
    return job


class TestReprinting:
    def test_a_reprint_stays_printed_and_the_history_says_why_and_who(self):
        job = printed_job()
        job.record_reprint(reason="label smudged", by="ops-key-1", printer="socket://other.test:9100", now=at(9))
        assert job.state is JobState.PRINTED and job.reprints == 1 and job.updated_at == at(9)
        assert job.printer == "socket://other.test:9100"
        last = job.history[-1]
        assert (last.state, last.at, last.note) == (JobState.PRINTED, at(9), "reprinted: label smudged by ops-key-1")

    def test_a_failed_reprint_keeps_the_job_printed_and_notes_the_error(self):
        job = printed_job()
        job.record_failed_reprint(reason="jammed", by="ops-key-1", error="printer offline", now=at(9))
        assert job.state is JobState.PRINTED and job.reprints == 0
        assert job.history[-1].note == "reprint failed: printer offline (asked: jammed by ops-key-1)"

    def test_a_failed_job_cannot_be_reprinted_and_the_refusal_says_so(self):
        job = new_job()
        job.fail(reason="printer offline", now=at(1))
        with pytest.raises(InvalidTransition, match=r"never printed.*failed \(printer offline\); issue it again"):
            job.record_reprint(reason="x", by="ops", printer=job.printer, now=at(2))

    def test_a_job_still_on_its_way_cannot_be_reprinted(self):
        job = new_job()
        job.mark_rendered(size_bytes=10, now=at(1))
        with pytest.raises(InvalidTransition, match="still rendered"):
            job.check_reprintable()
