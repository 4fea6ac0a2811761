"""The print command handler: each job prints once over at-least-once delivery, and a dead printer ends in failed."""

import uuid

import pytest

from oms_contracts import new_envelope
from oms_contracts.orders.v1 import ProcessOrder
from oms_contracts.printing.v1 import JobFailed, JobPrinted
from oms_platform.messaging import PermanentError
from printing.service_layer.handlers import SendPolicy, handle_print_document


class CrashingPrinter:
    """A process dying mid-send looks, to the handler, like an unexpected error escaping the printer."""

    async def send(self, data: bytes) -> None:
        raise RuntimeError("worker killed")


@pytest.fixture
def handle(repo, bus, clock, renderer, printer, make_printers, fast_policy):
    """Run the handler with the fakes; `printers=` and `renderer=` swap in other ones."""

    async def run(envelope, printers=None, renderer_=None, policy: SendPolicy = fast_policy):
        await handle_print_document(
            envelope,
            repo=repo,
            bus=bus,
            renderer=renderer_ or renderer,
            printers=printers or make_printers(printer),
            clock=clock,
            policy=policy,
        )

    return run


def stored_states(repo, job_id) -> list[str]:
    return [entry["state"] for entry in repo.docs[str(job_id)]["job"]["history"]]


class TestPrintingADocument:
    async def test_a_label_is_rendered_sent_and_reported_printed_keyed_by_job_id(
        self, handle, repo, bus, printer, print_command
    ):
        command = print_command("shipping_label")
        await handle(command)
        job = command.payload
        assert printer.received == [b"shipping_label of PH-1001"]
        [(event, key)] = bus.published
        assert key == str(job.job_id) and event.causation_id == command.event_id
        assert event.payload == JobPrinted(
            job_id=job.job_id, order_id=job.order.order_id, document_type="shipping_label",
            printer="socket://labels.test:9100", size_bytes=len(b"shipping_label of PH-1001"),
        )
        doc = repo.docs[str(job.job_id)]
        assert doc["state"] == "printed" and doc["order_id"] == str(job.order.order_id)
        assert stored_states(repo, job.job_id) == ["queued", "rendered", "sent", "printed"]

    async def test_each_document_type_goes_to_its_own_printer(
        self, handle, make_printer, make_printers, print_command
    ):
        invoices, labels = make_printer(), make_printer()
        printers = make_printers(invoices, labels)
        await handle(print_command("invoice"), printers=printers)
        await handle(print_command("shipping_label"), printers=printers)
        assert invoices.received == [b"invoice of PH-1001"]
        assert labels.received == [b"shipping_label of PH-1001"]

    async def test_a_command_that_is_not_a_print_command_is_refused_for_good(self, handle, repo):
        with pytest.raises(PermanentError):
            await handle(new_envelope(ProcessOrder(order_id=uuid.uuid4(), requested_by="ops"), producer="test"))
        assert repo.docs == {}


class TestTheSameJobTwice:
    async def test_the_same_command_twice_prints_once_and_republishes_the_same_event(
        self, handle, repo, bus, printer, print_command
    ):
        command = print_command()
        await handle(command)
        stored = repo.docs[str(command.payload.job_id)]
        await handle(command)
        assert len(printer.received) == 1
        assert repo.docs[str(command.payload.job_id)] == stored
        first, second = bus.event_ids()
        assert first == second

    async def test_the_same_job_issued_by_another_command_prints_once_and_retells_its_outcome(
        self, handle, repo, bus, printer, print_command, make_order
    ):
        order = make_order()
        first = print_command("invoice", order=order)
        again = print_command("invoice", order=order)  # same job id, new event id
        assert first.payload.job_id == again.payload.job_id and first.event_id != again.event_id
        await handle(first)
        await handle(again)
        await handle(again)
        assert len(printer.received) == 1
        assert len(set(bus.event_ids())) == 1
        assert all(isinstance(p, JobPrinted) for p in bus.payloads())
        assert stored_states(repo, first.payload.job_id) == ["queued", "rendered", "sent", "printed"]


class TestADeadPrinter:
    async def test_after_its_attempts_the_job_fails_with_the_reason_and_job_failed_is_published(
        self, handle, repo, bus, make_printer, make_printers, print_command
    ):
        dead = make_printer(failures=99)
        command = print_command("shipping_label")
        await handle(command, printers=make_printers(dead))  # returns normally: the partition moves on
        assert dead.tries == 3 and dead.received == []
        [failed] = bus.payloads(JobFailed)
        assert failed.job_id == command.payload.job_id and failed.order_id == command.payload.order.order_id
        assert "after 3 attempt(s)" in failed.reason and "printer offline" in failed.reason
        doc = repo.docs[str(command.payload.job_id)]
        assert doc["state"] == "failed" and doc["job"]["reason"] == failed.reason
        assert stored_states(repo, command.payload.job_id) == ["queued", "rendered", "failed"]

    async def test_a_redelivered_failed_command_does_not_try_again_and_republishes_the_same_failure(
        self, handle, bus, make_printer, make_printers, print_command
    ):
        dead = make_printer(failures=99)
        command = print_command()
        await handle(command, printers=make_printers(dead))
        await handle(command, printers=make_printers(dead))
        assert dead.tries == 3
        first, second = bus.event_ids()
        assert first == second

    async def test_a_printer_that_recovers_within_the_attempts_prints_the_job(
        self, handle, bus, make_printer, make_printers, print_command
    ):
        flaky = make_printer(failures=2)
        await handle(print_command(), printers=make_printers(flaky))
        assert flaky.tries == 3 and len(flaky.received) == 1
        assert bus.payloads(JobFailed) == [] and len(bus.payloads(JobPrinted)) == 1

    async def test_a_failed_job_issued_again_is_printed_once_the_printer_is_back(
        self, handle, repo, bus, make_printer, make_printers, print_command, make_order
    ):
        order = make_order()
        command = print_command("invoice", order=order)
        await handle(command, printers=make_printers(make_printer(failures=99)))
        repaired = make_printer()
        await handle(print_command("invoice", order=order), printers=make_printers(repaired))
        assert len(repaired.received) == 1
        assert [type(p) for p in bus.payloads()] == [JobFailed, JobPrinted]
        doc = repo.docs[str(command.payload.job_id)]
        assert doc["job"]["attempts"] == 2 and doc["job"]["reason"] is None
        assert stored_states(repo, command.payload.job_id) == [
            "queued", "rendered", "failed", "queued", "rendered", "sent", "printed"
        ]
        assert doc["job"]["history"][3]["note"] == "issued again after failure"


class TestABrokenTemplate:
    async def test_a_document_that_cannot_be_rendered_fails_the_job_without_sending(
        self, handle, repo, bus, printer, make_renderer, print_command
    ):
        command = print_command()
        await handle(command, renderer_=make_renderer(broken=True))
        assert printer.tries == 0
        [failed] = bus.payloads(JobFailed)
        assert failed.reason == "could not render the shipping_label: ValueError: template exploded"
        assert stored_states(repo, command.payload.job_id) == ["queued", "failed"]


class TestAnInterruptedAttempt:
    async def test_a_redelivery_after_a_crash_mid_send_resumes_the_job_and_prints_it(
        self, handle, repo, bus, printer, make_printers, print_command
    ):
        command = print_command()
        with pytest.raises(RuntimeError):
            await handle(command, printers=make_printers(CrashingPrinter()))
        assert repo.docs[str(command.payload.job_id)]["state"] == "rendered" and bus.published == []
        await handle(command)
        assert len(printer.received) == 1 and len(bus.payloads(JobPrinted)) == 1
        doc = repo.docs[str(command.payload.job_id)]
        assert stored_states(repo, command.payload.job_id) == [
            "queued", "rendered", "queued", "rendered", "sent", "printed"
        ]
        assert doc["job"]["history"][2]["note"] == "resumed from rendered"
