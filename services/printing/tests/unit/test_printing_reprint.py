"""Reprinting a printed job: the reprint waits in the job, the delivery loop sends the stored document again to the
job's printer, once per reprint command, and its outcome settles the reprint."""

import uuid

import pytest

from oms_contracts import new_envelope
from oms_contracts.printing.v1 import JobFailed, JobPrinted, RecordDelivery, ReprintJob
from oms_platform.messaging import PermanentError
from printing.service_layer.handlers import SendPolicy, handle_reprint_job


@pytest.fixture
def print_once(make_printing, make_printers):
    """Print a command with the fakes and the given printer, as the worker would."""

    async def run(envelope, printer):
        await make_printing(make_printers(printer)).run(envelope)
        return envelope.payload.job_id

    return run


@pytest.fixture
def reprint(repo, bus, clock, make_printing, make_printers, fast_policy):
    """Handle a reprint command with the fakes, then let the worker's delivery loop send what waits and the
    consumer record its outcome; `printer=` says where it goes."""

    async def run(envelope, printer, policy: SendPolicy = fast_policy):
        await handle_reprint_job(envelope, repo=repo, clock=clock)
        worker = make_printing(make_printers(printer), policy=policy)
        worker.fed = len(bus.published)  # earlier outcomes were recorded already
        await worker.deliver()

    return run


def outcomes(bus) -> list:
    """What fulfilment heard from printing."""
    return [p for p in bus.payloads() if isinstance(p, (JobPrinted, JobFailed))]


def reprint_command(job_id, reason="label smudged", by="ops-key-1"):
    return new_envelope(ReprintJob(job_id=job_id, reason=reason, requested_by=by), producer="printing-api")


def history(repo, job_id) -> list[tuple[str, str | None]]:
    return [(h["state"], h["note"]) for h in repo.docs[str(job_id)]["job"]["history"]]


class TestReprintingAPrintedJob:
    async def test_the_stored_document_is_sent_again_and_the_history_says_why_and_who(
        self, print_once, reprint, repo, bus, make_printer, renderer, print_command
    ):
        printer = make_printer()
        job_id = await print_once(print_command("shipping_label"), printer)
        told_before = outcomes(bus)
        await reprint(reprint_command(job_id), printer)
        assert printer.received == [b"shipping_label of PH-1001"] * 2
        assert renderer.rendered == [job_id]  # the very document that printed, not a new rendering
        label_printer = repo.docs[str(job_id)]["printer"]
        assert history(repo, job_id)[-2:] == [
            ("printed", f"reprint waiting for printer {label_printer}: label smudged by ops-key-1"),
            ("printed", "reprinted: label smudged by ops-key-1"),
        ]
        doc = repo.docs[str(job_id)]
        assert doc["state"] == "printed" and doc["job"]["reprints"] == 1 and doc["reprints_waiting"] == 0
        assert outcomes(bus) == told_before  # fulfilment is not told again: nothing to re-confirm

    async def test_the_same_reprint_command_twice_prints_once(
        self, print_once, reprint, repo, make_printer, print_command
    ):
        printer = make_printer()
        job_id = await print_once(print_command("invoice"), printer)
        command = reprint_command(job_id)
        await reprint(command, printer)
        stored = repo.docs[str(job_id)]
        await reprint(command, printer)
        assert len(printer.received) == 2
        assert repo.docs[str(job_id)] == stored

    async def test_two_reprint_commands_print_two_copies(self, print_once, reprint, repo, make_printer, print_command):
        printer = make_printer()
        job_id = await print_once(print_command("invoice"), printer)
        await reprint(reprint_command(job_id, reason="first copy torn"), printer)
        await reprint(reprint_command(job_id, reason="second copy lost", by="admin-key-2"), printer)
        assert len(printer.received) == 3 and repo.docs[str(job_id)]["job"]["reprints"] == 2
        assert [note for _, note in history(repo, job_id) if (note or "").startswith("reprinted")] == [
            "reprinted: first copy torn by ops-key-1", "reprinted: second copy lost by admin-key-2"
        ]

    async def test_a_dead_printer_leaves_the_job_printed_with_the_failed_reprint_in_its_history(
        self, print_once, reprint, repo, make_printer, print_command
    ):
        job_id = await print_once(print_command("invoice"), make_printer())
        dead = make_printer(failures=99)
        await reprint(reprint_command(job_id), dead)  # returns normally: the partition moves on
        assert dead.tries == 3 and dead.received == []
        state, note = history(repo, job_id)[-1]
        assert state == "printed" and note.startswith("reprint failed: printer gave up after 3 attempt(s)")
        assert "(asked: label smudged by ops-key-1)" in note
        assert repo.docs[str(job_id)]["job"]["reprints"] == 0

    async def test_a_station_job_is_not_sent_by_the_worker_but_waits_for_its_station(
        self, reprint, repo, make_printer, make_printing, make_printers, print_command
    ):
        command = print_command("invoice", station="bench-1")
        await make_printing(make_printers(make_printer())).run(command)
        doc = repo.docs[str(command.payload.job_id)]
        doc["state"] = doc["job"]["state"] = "printed"  # as if the station acknowledged it
        printer = make_printer()
        await reprint(reprint_command(command.payload.job_id), printer)
        assert printer.tries == 0  # the station's agent prints it (tests/unit/test_station_reprint.py)
        assert repo.docs[str(command.payload.job_id)]["reprints_waiting"] == 1


class TestTheCommandConsumerNeverSends:
    async def test_a_reprint_waits_in_the_job_for_the_delivery_loop(
        self, print_once, repo, clock, make_printer, print_command
    ):
        printer = make_printer()
        job_id = await print_once(print_command("invoice"), printer)
        await handle_reprint_job(reprint_command(job_id), repo=repo, clock=clock)
        # A dead or slow printer cannot hold up the partition: the consumer only queues the reprint.
        assert len(printer.received) == 1
        doc = repo.docs[str(job_id)]
        assert doc["reprints_waiting"] == 1 and doc["state"] == "printed"
        assert await repo.printers_with_work() == [doc["printer"]]

    async def test_a_worker_restarted_after_sending_a_reprint_tells_its_kept_outcome_without_printing_again(
        self, print_once, repo, bus, clock, make_printing, make_printers, make_printer, print_command
    ):
        job_id = await print_once(print_command("invoice"), make_printer())
        await handle_reprint_job(reprint_command(job_id), repo=repo, clock=clock)
        first_printer = make_printer()
        dying = make_printing(make_printers(first_printer))
        publish = bus.publish

        async def broker_away(envelope, *, key):
            if isinstance(envelope.payload, RecordDelivery):
                raise ConnectionError("broker unreachable")
            await publish(envelope, key=key)

        bus.publish = broker_away
        await dying.die_after_first_send(first_printer)  # the process dies while the broker is away
        assert len(first_printer.received) == 1

        bus.publish = publish  # the broker is back
        second_printer = make_printer()
        restarted = make_printing(make_printers(second_printer))
        restarted.status.started, restarted.status.outcomes = dying.status.started, dying.status.outcomes
        restarted.fed = len(bus.published)
        await restarted.deliver()
        assert second_printer.received == []
        doc = repo.docs[str(job_id)]
        assert doc["job"]["reprints"] == 1 and doc["reprints_waiting"] == 0


class TestReprintRefused:
    async def test_an_unknown_job_is_refused_for_good(self, reprint, make_printer):
        with pytest.raises(PermanentError, match="does not exist"):
            await reprint(reprint_command(uuid.uuid4()), make_printer())

    async def test_a_job_that_never_printed_is_not_printed_and_its_state_is_unchanged(
        self, print_once, reprint, repo, make_printer, print_command
    ):
        dead = make_printer(failures=99)
        job_id = await print_once(print_command("invoice"), dead)
        before = repo.docs[str(job_id)]["job"]
        printer = make_printer()
        await reprint(reprint_command(job_id), printer)
        assert printer.tries == 0
        assert repo.docs[str(job_id)]["job"] == before

    async def test_a_print_command_is_not_a_reprint(self, reprint, make_printer, print_command):
        with pytest.raises(PermanentError):
            await reprint(print_command("invoice"), make_printer())
