"""Reprinting a job a print station printed: the stored document goes back into that station's queue as a
reprint of its own (keyed by the reprint command's id), the station's acknowledgement settles it once, and the job
stays printed with the reprint in its history and count."""

import uuid
from datetime import UTC, datetime

import pytest

from oms_contracts import new_envelope
from oms_contracts.printing.v1 import RecordDelivery, ReprintJob
from printing.domain.errors import InvalidTransition
from printing.domain.model import JobState, PrintJob, ReprintState
from printing.domain.printers import PrinterConfig
from printing.service_layer.handlers import delivery_envelope, handle_record_delivery, handle_reprint_job

BENCH_PRINTER = PrinterConfig(name="bench-1-desk", protocol="raw9100", address="bench.local:9100",
                              document_types=["invoice"], station="bench-1")


def at(minute: int) -> datetime:
    return datetime(2026, 11, 29, 9, minute, tzinfo=UTC)


def printed_station_job() -> PrintJob:
    job = PrintJob.queue(job_id=uuid.uuid4(), order_id=uuid.uuid4(), order_number="PH-1", document_type="invoice",
                         revision=1, printer="station:bench-1", station="bench-1", now=at(0))
    job.mark_rendered(size_bytes=10, now=at(1))
    job.mark_sent(now=at(2))
    job.mark_printed(now=at(2))
    return job


class TestTheModel:
    def test_a_station_reprint_waits_then_prints_once_and_the_history_tells_both_with_times(self):
        job, reprint_id = printed_station_job(), uuid.uuid4()
        job.queue_reprint(reprint_id=reprint_id, reason="label smudged", by="ops-1", printer=None, now=at(5))
        assert [r.reprint_id for r in job.waiting_reprints] == [reprint_id] and job.reprints == 0
        assert (job.history[-1].at, job.history[-1].note) == (
            at(5), "reprint waiting for station bench-1: label smudged by ops-1")
        assert job.settle_reprint(reprint_id, printed=True, printer="socket://bench:9100", error=None, now=at(7))
        assert not job.settle_reprint(reprint_id, printed=True, printer="socket://bench:9100", error=None, now=at(8))
        assert job.state is JobState.PRINTED and job.reprints == 1 and job.waiting_reprints == []
        assert (job.history[-1].at, job.history[-1].note) == (at(7), "reprinted: label smudged by ops-1")
        reprint = job.reprint_request(reprint_id)
        assert reprint.state is ReprintState.PRINTED and reprint.settled_at == at(7)

    def test_a_reprint_the_station_could_not_print_is_recorded_with_the_error_and_not_counted(self):
        job, reprint_id = printed_station_job(), uuid.uuid4()
        job.queue_reprint(reprint_id=reprint_id, reason="torn", by="ops-1", printer=None, now=at(5))
        job.settle_reprint(reprint_id, printed=False, printer="socket://bench:9100", error="paper out", now=at(6))
        assert job.state is JobState.PRINTED and job.reprints == 0
        assert job.history[-1].note == "reprint failed: paper out (asked: torn by ops-1)"
        assert job.reprint_request(reprint_id).error == "paper out"

    def test_the_same_reprint_cannot_be_asked_for_twice_and_an_unknown_one_settles_nothing(self):
        job, reprint_id = printed_station_job(), uuid.uuid4()
        job.queue_reprint(reprint_id=reprint_id, reason="x", by="ops-1", printer=None, now=at(5))
        with pytest.raises(InvalidTransition, match="asked for already"):
            job.queue_reprint(reprint_id=reprint_id, reason="x", by="ops-1", printer=None, now=at(6))
        assert not job.settle_reprint(uuid.uuid4(), printed=True, printer="p", error=None, now=at(7))
        assert len(job.waiting_reprints) == 1

    def test_a_job_that_never_printed_gets_no_reprint(self):
        job = PrintJob.queue(job_id=uuid.uuid4(), order_id=uuid.uuid4(), order_number="PH-1",
                             document_type="invoice", revision=1, printer="station:bench-1", station="bench-1",
                             now=at(0))
        with pytest.raises(InvalidTransition, match="never printed"):
            job.queue_reprint(reprint_id=uuid.uuid4(), reason="x", by="ops-1", printer=None, now=at(1))
        assert job.reprint_requests == []


@pytest.fixture
def station_printed(make_printing, make_printers, make_registry, printer, repo, bus, clock, print_command):
    """An invoice printed at station bench-1 (its agent acknowledged it); the printing worker in memory."""

    async def run():
        printing = make_printing(make_printers(printer), registry=make_registry([BENCH_PRINTER]))
        command = print_command("invoice", station="bench-1")
        await printing.issue(command)
        doc = repo.docs[str(command.payload.job_id)]
        ack = RecordDelivery(job_id=command.payload.job_id, attempt=1, printed=True, printer=BENCH_PRINTER.uri,
                             station="bench-1")
        await handle_record_delivery(delivery_envelope(bus, ack, doc), repo=repo, bus=bus, clock=clock)
        assert repo.docs[str(command.payload.job_id)]["state"] == "printed"
        return printing, command.payload.job_id

    return run


def reprint_command(job_id, reason="label smudged", by="ops-key-1"):
    return new_envelope(ReprintJob(job_id=job_id, reason=reason, requested_by=by), producer="printing-api")


class TestTheHandlers:
    async def test_a_reprint_is_queued_for_the_station_not_sent_by_the_worker(
        self, station_printed, repo, bus, clock, fast_policy, printer
    ):
        printing, job_id = await station_printed()
        published = list(bus.published)
        command = reprint_command(job_id)
        await handle_reprint_job(command, repo=repo, clock=clock,
                                 directory=printing.directory)
        assert printer.received == []  # the worker never reaches a station's printers
        doc = repo.docs[str(job_id)]
        assert doc["state"] == "printed" and doc["reprints_waiting"] == 1
        [waiting] = doc["job"]["reprint_requests"]
        assert waiting["reprint_id"] == str(command.event_id) and waiting["state"] == "waiting"
        assert waiting["printer"] == BENCH_PRINTER.uri and waiting["station"] == "bench-1"
        assert [d["_id"] for d in await repo.awaiting(station="bench-1")] == [str(job_id)]
        assert await repo.awaiting(station="bench-2") == []
        assert bus.published == published

    async def test_the_same_reprint_command_again_queues_nothing_more(
        self, station_printed, repo, clock, fast_policy
    ):
        printing, job_id = await station_printed()
        command = reprint_command(job_id)
        for _ in range(2):
            await handle_reprint_job(command, repo=repo, clock=clock,
                                     directory=printing.directory)
        assert len(repo.docs[str(job_id)]["job"]["reprint_requests"]) == 1

    async def test_the_stations_acknowledgement_settles_the_reprint_once_and_publishes_nothing(
        self, station_printed, repo, bus, clock, fast_policy
    ):
        printing, job_id = await station_printed()
        command = reprint_command(job_id)
        await handle_reprint_job(command, repo=repo, clock=clock,
                                 directory=printing.directory)
        published = list(bus.published)
        ack = RecordDelivery(job_id=job_id, attempt=1, printed=True, printer=BENCH_PRINTER.uri, station="bench-1",
                             reprint=command.event_id)
        envelope = delivery_envelope(bus, ack, repo.docs[str(job_id)])
        again = delivery_envelope(bus, ack, repo.docs[str(job_id)])
        assert again.event_id == envelope.event_id  # told twice, it is one delivery
        await handle_record_delivery(envelope, repo=repo, bus=bus, clock=clock)
        await handle_record_delivery(again, repo=repo, bus=bus, clock=clock)
        job = repo.docs[str(job_id)]["job"]
        assert job["state"] == "printed" and job["reprints"] == 1 and job["attempts"] == 1
        assert [h["note"] for h in job["history"]][-2:] == [
            "reprint waiting for station bench-1: label smudged by ops-key-1", "reprinted: label smudged by ops-key-1"]
        assert repo.docs[str(job_id)]["reprints_waiting"] == 0 and await repo.awaiting(station="bench-1") == []
        assert bus.published == published  # fulfilment heard about the first print only

    async def test_two_reprints_are_two_deliveries_each_settled_by_its_own_acknowledgement(
        self, station_printed, repo, bus, clock, fast_policy
    ):
        printing, job_id = await station_printed()
        first, second = reprint_command(job_id, reason="torn"), reprint_command(job_id, reason="lost", by="admin-2")
        for command in (first, second):
            await handle_reprint_job(command, repo=repo, clock=clock,
                                     directory=printing.directory)
        failed = RecordDelivery(job_id=job_id, attempt=1, printed=False, printer=BENCH_PRINTER.uri,
                                reason="paper out", station="bench-1", reprint=second.event_id)
        await handle_record_delivery(delivery_envelope(bus, failed, repo.docs[str(job_id)]), repo=repo, bus=bus,
                                     clock=clock)
        job = repo.docs[str(job_id)]["job"]
        assert {r["reprint_id"]: r["state"] for r in job["reprint_requests"]} == {
            str(first.event_id): "waiting", str(second.event_id): "failed"}
        assert job["reprints"] == 0
        assert job["history"][-1]["note"] == "reprint failed: paper out (asked: lost by admin-2)"
        assert repo.docs[str(job_id)]["reprints_waiting"] == 1

    async def test_a_station_without_a_printer_for_the_type_prints_the_reprint_on_its_default_output(
        self, make_printing, make_printers, printer, repo, bus, clock, fast_policy, print_command
    ):
        printing = make_printing(make_printers(printer))  # no printer registered for bench-9
        command = print_command("invoice", station="bench-9")
        await printing.issue(command)
        job_id = command.payload.job_id
        ack = RecordDelivery(job_id=job_id, attempt=1, printed=True, printer="folder:/out", station="bench-9")
        await handle_record_delivery(delivery_envelope(bus, ack, repo.docs[str(job_id)]), repo=repo, bus=bus,
                                     clock=clock)
        await handle_reprint_job(reprint_command(job_id), repo=repo, clock=clock, directory=printing.directory)
        [waiting] = repo.docs[str(job_id)]["job"]["reprint_requests"]
        assert waiting["printer"] is None and waiting["state"] == "waiting"

    async def test_the_history_times_are_when_it_was_asked_and_when_it_printed(
        self, station_printed, repo, bus, clock, fast_policy
    ):
        printing, job_id = await station_printed()
        command = reprint_command(job_id)
        await handle_reprint_job(command, repo=repo, clock=clock,
                                 directory=printing.directory)
        asked = datetime.fromisoformat(repo.docs[str(job_id)]["job"]["history"][-1]["at"])
        ack = RecordDelivery(job_id=job_id, attempt=1, printed=True, printer="p", reprint=command.event_id)
        await handle_record_delivery(delivery_envelope(bus, ack, repo.docs[str(job_id)]), repo=repo, bus=bus,
                                     clock=clock)
        job = repo.docs[str(job_id)]["job"]
        printed = datetime.fromisoformat(job["history"][-1]["at"])
        assert printed > asked
        assert datetime.fromisoformat(job["reprint_requests"][0]["settled_at"]) == printed
