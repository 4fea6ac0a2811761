"""The print pipeline with fakes: the consumer renders and queues, the delivery loop sends per printer, the
consumer records what happened; each job prints once over at-least-once delivery; a dead printer ends in failed
without holding up the others."""

import asyncio
import uuid

import pytest
from pymongo.errors import AutoReconnect

from oms_contracts import new_envelope
from oms_contracts.orders.v1 import ProcessOrder
from oms_contracts.printing.v1 import JobFailed, JobPrinted, RecordDelivery
from oms_platform.messaging import PermanentError
from printing.domain.printers import PrinterConfig
from printing.service_layer.handlers import handle_record_delivery


def stored_states(repo, job_id) -> list[str]:
    return [entry["state"] for entry in repo.docs[str(job_id)]["job"]["history"]]


@pytest.fixture
def printing(make_printing, make_printers, printer):
    return make_printing(make_printers(printer))


class TestPrintingADocument:
    async def test_a_label_is_rendered_queued_sent_and_reported_printed_keyed_by_job_id(
        self, printing, repo, bus, printer, print_command
    ):
        command = print_command("shipping_label")
        await printing.issue(command)
        job = command.payload
        doc = repo.docs[str(job.job_id)]
        assert doc["state"] == "rendered" and printer.received == [] and bus.published == []
        await printing.deliver()
        assert printer.received == [b"shipping_label of PH-1001"]
        [printed] = printing.outcomes()
        [(event, key)] = [(e, k) for e, k in bus.published if isinstance(e.payload, JobPrinted)]
        assert key == str(job.job_id) and event.correlation_id == command.correlation_id
        assert printed == JobPrinted(
            job_id=job.job_id, order_id=job.order.order_id, document_type="shipping_label",
            printer="socket://labels.test:9100", size_bytes=len(b"shipping_label of PH-1001"),
        )
        assert stored_states(repo, job.job_id) == ["queued", "rendered", "sent", "printed"]
        assert all(entry["at"] for entry in repo.docs[str(job.job_id)]["job"]["history"])

    async def test_each_document_type_goes_to_its_own_printer(
        self, make_printing, make_printer, make_printers, print_command
    ):
        invoices, labels = make_printer(), make_printer()
        printing = make_printing(make_printers(invoices, labels))
        await printing.run(print_command("invoice"))
        await printing.run(print_command("shipping_label"))
        assert invoices.received == [b"invoice of PH-1001"]
        assert labels.received == [b"shipping_label of PH-1001"]

    async def test_a_command_that_is_not_a_print_command_is_refused_for_good(self, printing, repo):
        with pytest.raises(PermanentError):
            await printing.issue(new_envelope(ProcessOrder(order_id=uuid.uuid4(), requested_by="ops"), producer="t"))
        assert repo.docs == {}


class TestPickLists:
    async def test_a_pick_list_prints_on_the_pick_list_printer_and_its_outcome_carries_the_batch_id(
        self, printing, repo, printer, pick_list_command
    ):
        command = pick_list_command()
        await printing.run(command)
        assert printer.received == [f"pick_list of {command.payload.batch_id}".encode()]
        [printed] = printing.outcomes()
        assert isinstance(printed, JobPrinted)
        assert printed.order_id == command.payload.batch_id and printed.document_type == "pick_list"
        assert repo.docs[str(command.payload.job_id)]["job"]["order_number"] == f"batch {command.payload.batch_id}"

    async def test_the_same_pick_list_twice_prints_once(self, printing, printer, pick_list_command):
        command = pick_list_command()
        await printing.run(command)
        await printing.run(command)
        assert len(printer.received) == 1


class TestTheRegistry:
    async def test_a_registered_printer_takes_its_document_types_and_labels_in_its_format(
        self, make_printing, make_printer, make_printers, make_registry, print_command
    ):
        fallback, pdf_labels = make_printer(), make_printer()
        registry = [PrinterConfig(name="desk-labels", protocol="raw9100", address="10.0.0.9:9100", paper="4x6",
                                  document_types=["shipping_label"], label_format="pdf")]
        printing = make_printing({**make_printers(fallback), "socket://10.0.0.9:9100": pdf_labels},
                                 registry=make_registry(registry))
        await printing.run(print_command("shipping_label"))
        await printing.run(print_command("invoice"))
        assert pdf_labels.received == [b"shipping_label of PH-1001 (pdf)"]
        assert fallback.received == [b"invoice of PH-1001"]

    async def test_a_station_job_waits_for_the_station_and_is_never_sent_by_the_worker(
        self, printing, repo, printer, print_command
    ):
        command = print_command("invoice", station="bench-1")
        await printing.run(command)
        doc = repo.docs[str(command.payload.job_id)]
        assert doc["state"] == "rendered" and doc["station"] == "bench-1" and doc["printer"] == "station:bench-1"
        assert printer.received == []
        assert [d["_id"] for d in await repo.awaiting(station="bench-1")] == [str(command.payload.job_id)]
        assert await repo.awaiting(station="bench-2") == []


class TestTheSameJobTwice:
    async def test_the_same_command_twice_prints_once_and_republishes_nothing_new(
        self, printing, repo, bus, printer, print_command
    ):
        command = print_command()
        await printing.run(command)
        stored = repo.docs[str(command.payload.job_id)]
        published = len(bus.published)
        await printing.run(command)
        assert len(printer.received) == 1
        assert repo.docs[str(command.payload.job_id)] == stored
        assert len(bus.published) == published

    async def test_the_same_job_issued_by_another_command_prints_once_and_retells_its_outcome(
        self, printing, repo, bus, printer, print_command, make_order
    ):
        order = make_order()
        first = print_command("invoice", order=order)
        again = print_command("invoice", order=order)  # same job id, new event id
        assert first.payload.job_id == again.payload.job_id and first.event_id != again.event_id
        await printing.run(first)
        await printing.run(again)
        await printing.run(again)
        assert len(printer.received) == 1
        assert len({e.event_id for e, _ in bus.published if isinstance(e.payload, JobPrinted)}) == 1
        assert stored_states(repo, first.payload.job_id) == ["queued", "rendered", "sent", "printed"]

    async def test_issued_again_while_on_its_way_it_is_still_printed_once(
        self, printing, printer, print_command, make_order
    ):
        order = make_order()
        await printing.issue(print_command("invoice", order=order))
        await printing.issue(print_command("invoice", order=order))
        await printing.deliver()
        assert len(printer.received) == 1 and len(printing.outcomes()) == 1

    async def test_a_delivery_told_twice_is_recorded_once(self, printing, repo, bus, print_command):
        command = print_command()
        await printing.run(command)
        [delivery] = [e for e, _ in bus.published if isinstance(e.payload, RecordDelivery)]
        before = len(bus.published)
        await handle_record_delivery(delivery, repo=repo, bus=bus, clock=printing.clock)
        assert len(bus.published) == before + 1 and bus.published[-1][0].event_id == bus.published[-2][0].event_id


class TestADeadPrinter:
    async def test_after_its_attempts_the_job_fails_with_the_reason_and_job_failed_is_published(
        self, make_printing, repo, make_printer, make_printers, print_command
    ):
        dead = make_printer(failures=99)
        printing = make_printing(make_printers(dead))
        command = print_command("shipping_label")
        await printing.run(command)
        assert dead.tries == 3 and dead.received == []
        [failed] = printing.outcomes()
        assert isinstance(failed, JobFailed)
        assert failed.job_id == command.payload.job_id and failed.order_id == command.payload.order.order_id
        assert "after 3 attempt(s)" in failed.reason and "printer offline" in failed.reason
        doc = repo.docs[str(command.payload.job_id)]
        assert doc["state"] == "failed" and doc["job"]["reason"] == failed.reason
        assert stored_states(repo, command.payload.job_id) == ["queued", "rendered", "failed"]
        assert printing.status.seen["socket://labels.test:9100"] == [(False, failed.reason)]

    async def test_a_dead_printer_does_not_hold_up_another_printer(
        self, make_printing, make_printer, make_printers, print_command
    ):
        class Hanging:
            """A printer that never answers until released."""

            def __init__(self) -> None:
                self.release = asyncio.Event()

            async def send(self, data: bytes) -> None:
                await self.release.wait()

        hanging, labels = Hanging(), make_printer()
        printing = make_printing(make_printers(hanging, labels))
        await printing.issue(print_command("invoice"))
        await printing.issue(print_command("shipping_label"))
        await printing.loop.tick()
        for _ in range(50):
            if labels.received:
                break
            await asyncio.sleep(0.01)
        assert labels.received == [b"shipping_label of PH-1001"]
        hanging.release.set()
        await printing.loop.wait_idle()
        await printing.record_deliveries()
        assert [type(o) for o in printing.outcomes()] == [JobPrinted, JobPrinted]

    async def test_a_printer_that_recovers_within_the_attempts_prints_the_job_after_retries(
        self, make_printing, repo, make_printer, make_printers, print_command
    ):
        flaky = make_printer(failures=2)
        printing = make_printing(make_printers(flaky))
        command = print_command()
        await printing.run(command)
        assert flaky.tries == 3 and len(flaky.received) == 1
        assert [type(o) for o in printing.outcomes()] == [JobPrinted]
        sent = repo.docs[str(command.payload.job_id)]["job"]["history"][2]
        assert sent["state"] == "sent" and sent["note"] == "after 3 tries"

    async def test_a_failed_job_issued_again_is_printed_once_the_printer_is_back(
        self, make_printing, repo, make_printer, make_printers, print_command, make_order
    ):
        order = make_order()
        command = print_command("invoice", order=order)
        dead = make_printer(failures=99)
        printing = make_printing(make_printers(dead))
        await printing.run(command)
        repaired = make_printer()
        printing.printers.update(make_printers(repaired))
        printing.loop._printers.clear()
        await printing.run(print_command("invoice", order=order))
        assert len(repaired.received) == 1
        assert [type(p) for p in printing.outcomes()] == [JobFailed, JobPrinted]
        doc = repo.docs[str(command.payload.job_id)]
        assert doc["job"]["attempts"] == 2 and doc["job"]["reason"] is None
        assert stored_states(repo, command.payload.job_id) == [
            "queued", "rendered", "failed", "queued", "rendered", "sent", "printed"
        ]
        assert doc["job"]["history"][3]["note"] == "issued again after failure"


class TestABrokenTemplate:
    async def test_a_document_that_cannot_be_rendered_fails_the_job_without_sending(
        self, printing, repo, printer, make_renderer, print_command
    ):
        command = print_command()
        await printing.run(command, renderer=make_renderer(broken=True))
        assert printer.tries == 0
        [failed] = printing.outcomes()
        assert failed.reason == "could not render the shipping_label: ValueError: template exploded"
        assert stored_states(repo, command.payload.job_id) == ["queued", "failed"]


class TestAnInterruptedDelivery:
    async def test_a_worker_that_died_mid_send_sends_again_and_the_job_shows_the_resumed_attempt(
        self, make_printing, make_printers, make_printer, repo, print_command
    ):
        class Dying:
            async def send(self, data: bytes) -> None:
                raise RuntimeError("worker killed")

        command = print_command("invoice")
        dying = make_printing(make_printers(Dying()))
        await dying.issue(command)
        await dying.loop.tick()
        await dying.loop.wait_idle()  # the task died with the process, nothing was recorded
        assert repo.docs[str(command.payload.job_id)]["state"] == "rendered"

        printer = make_printer()
        restarted = make_printing(make_printers(printer))
        restarted.status.started = dying.status.started  # the deliveries note survives in MongoDB
        await restarted.deliver()
        assert len(printer.received) == 1 and [type(o) for o in restarted.outcomes()] == [JobPrinted]
        job = repo.docs[str(command.payload.job_id)]["job"]
        assert job["state"] == "printed" and job["attempts"] == 2
        assert "resumed from rendered: sent again after a restart" in [h["note"] for h in job["history"]]


class TestABrokerOutageAfterPrinting:
    """The printer took the document but Kafka does not take its outcome: the outcome waits, the job never
    prints again (neither in this process nor after a restart)."""

    @staticmethod
    def refuse_outcomes(bus, times: float) -> list:
        """Make the bus refuse `times` RecordDelivery publishes (as a broker that is down); the refused list."""
        refused: list = []
        publish = bus.publish

        async def flaky(envelope, *, key):
            if isinstance(envelope.payload, RecordDelivery) and len(refused) < times:
                refused.append(envelope)
                raise ConnectionError("broker unreachable")
            await publish(envelope, key=key)

        bus.publish = flaky
        return refused

    async def test_the_outcome_is_published_once_the_broker_is_back_and_the_job_printed_once(
        self, printing, repo, bus, printer, print_command
    ):
        refused = self.refuse_outcomes(bus, times=2)
        command = print_command("invoice")
        await printing.run(command)
        assert len(refused) == 2 and len(printer.received) == 1
        assert [type(o) for o in printing.outcomes()] == [JobPrinted]
        assert repo.docs[str(command.payload.job_id)]["job"]["attempts"] == 1

    async def test_a_worker_restarted_before_telling_the_outcome_tells_it_without_printing_again(
        self, make_printing, make_printers, make_printer, repo, bus, print_command
    ):
        first_printer = make_printer()
        dying = make_printing(make_printers(first_printer))
        self.refuse_outcomes(bus, times=float("inf"))
        command = print_command("invoice")
        await dying.issue(command)
        await dying.die_after_first_send(first_printer)  # the process dies while the broker is away
        assert len(first_printer.received) == 1 and dying.outcomes() == []

        bus.publish = type(bus).publish.__get__(bus)  # the broker is back
        second_printer = make_printer()
        restarted = make_printing(make_printers(second_printer))
        restarted.status.started = dying.status.started  # the deliveries note and its outcome survive in MongoDB
        restarted.status.outcomes = dying.status.outcomes
        await restarted.deliver()
        assert second_printer.received == [] and [type(o) for o in restarted.outcomes()] == [JobPrinted]
        job = repo.docs[str(command.payload.job_id)]["job"]
        assert job["state"] == "printed" and job["attempts"] == 1


class TestADatabaseOutageAfterPrinting:
    """The printer took the document but the database does not take its outcome (FerretDB stopped): the task
    waits for the database instead of ending, so its next round does not send the job again."""

    async def test_the_outcome_is_kept_once_the_database_is_back_and_the_job_printed_once(
        self, printing, repo, printer, print_command
    ):
        refused: list = []
        keep = printing.status.keep_outcome

        async def flaky(job_id, attempt, outcome):
            if len(refused) < 2:
                refused.append(job_id)
                raise AutoReconnect("127.0.0.1:27017: connection closed")
            await keep(job_id, attempt, outcome)

        printing.status.keep_outcome = flaky
        command = print_command("invoice")
        await printing.run(command)
        await printing.deliver()  # the loop's next round finds nothing left to send
        assert len(refused) == 2 and len(printer.received) == 1
        assert [type(o) for o in printing.outcomes()] == [JobPrinted]
        job = repo.docs[str(command.payload.job_id)]["job"]
        assert job["state"] == "printed" and job["attempts"] == 1

    async def test_an_error_that_is_not_the_database_being_away_is_not_retried(
        self, printing, repo, printer, print_command
    ):
        calls: list = []

        async def broken(job_id, attempt, outcome):
            calls.append(job_id)
            raise ValueError("a bug")

        printing.status.keep_outcome = broken
        command = print_command("invoice")
        await printing.run(command)
        assert len(calls) == 1 and printing.outcomes() == []


class TestAStaleDelivery:
    async def test_a_delivery_for_an_earlier_attempt_changes_nothing(
        self, printing, repo, bus, clock, print_command
    ):
        command = print_command()
        await printing.issue(command)
        stale = new_envelope(
            RecordDelivery(job_id=command.payload.job_id, attempt=7, printed=True, printer="socket://x:9100"),
            producer="printing",
        )
        await handle_record_delivery(stale, repo=repo, bus=bus, clock=clock)
        assert repo.docs[str(command.payload.job_id)]["state"] == "rendered" and bus.published == []
