"""The printing subscriber and delivery loop, wired on FastStream's in-memory test broker with the real templates."""

import json
import uuid

from faststream.kafka import KafkaBroker, TestKafkaBroker

from oms_contracts import DeadLetter, decode, encode, new_envelope, topics
from oms_contracts.printing.v1 import JobPrinted, ReprintJob
from oms_platform.messaging import Bus
from printing.adapters.printers import printer_for_uri
from printing.adapters.renderers import DocumentRenderer
from printing.entrypoints.worker import register_subscribers
from printing.service_layer.delivery import DeliveryLoop
from printing.service_layer.handlers import Directory, SendPolicy

FALLBACK = {
    "invoice": "socket://invoices.test:9100",
    "packing_slip": "socket://invoices.test:9100",
    "pick_list": "socket://invoices.test:9100",
    "shipping_label": "socket://labels.test:9100",
}


class NoRegistry:
    async def printers(self):
        return []


class NoStatus:
    async def record(self, printer, *, ok, at, error):
        pass

    async def begin(self, job_id, attempt, *, at):
        return True

    async def keep_outcome(self, job_id, attempt, outcome):
        pass

    async def kept_outcome(self, job_id, attempt):
        return None


def wired_broker(repo, clock, printers: dict, fallback: dict | None = None):
    """The worker on an in-memory broker: (broker, delivery loop, events, dead letters); `printers` maps URIs to
    printers (fakes or real adapters)."""
    broker = KafkaBroker()
    bus = Bus(broker, "printing")
    policy = SendPolicy(attempts=2, max_backoff_seconds=0)
    register_subscribers(
        broker,
        repo=repo,
        bus=bus,
        renderer=DocumentRenderer(seller_name="Acme Mugs Ltd"),
        directory=Directory(NoRegistry(), fallback or FALLBACK),
        clock=clock,
        max_attempts=2,
    )
    loop = DeliveryLoop(repo=repo, bus=bus, connect=printers.__getitem__, status=NoStatus(), policy=policy,
                        clock=clock)
    events: list = []
    dead: list[DeadLetter] = []

    @broker.subscriber(topics.PRINTING_EVENTS)
    async def collect_events(body: dict) -> None:
        events.append(decode(json.dumps(body)))

    @broker.subscriber(topics.dlq(topics.PRINTING_COMMANDS))
    async def collect_dead(body: dict) -> None:
        dead.append(DeadLetter.model_validate(body))

    return broker, loop, events, dead


async def deliver(loop: DeliveryLoop) -> None:
    """One round of the delivery loop; its RecordDelivery commands are consumed in memory as they are sent."""
    await loop.tick()
    await loop.wait_idle()


class TestPrintCommandConsumer:
    async def test_a_print_command_prints_the_document_and_publishes_job_printed(
        self, repo, clock, printer, make_printers, print_command, make_order
    ):
        broker, loop, events, _ = wired_broker(repo, clock, make_printers(printer))
        order = make_order()
        invoice, label = print_command("invoice", order=order), print_command("shipping_label", order=order)
        async with TestKafkaBroker(broker) as br:
            for command in (invoice, label):
                await br.publish(encode(command), topics.PRINTING_COMMANDS, key=str(command.payload.job_id).encode())
            await deliver(loop)
        pdf, zpl = printer.received
        assert pdf.startswith(b"%PDF") and zpl.startswith(b"^XA") and b"OM123456785GB" in zpl
        assert {(e.payload.job_id, e.payload.order_id) for e in events} == {
            (invoice.payload.job_id, order.order_id), (label.payload.job_id, order.order_id)
        }
        assert all(isinstance(e.payload, JobPrinted) for e in events)

    async def test_a_pick_list_is_printed_as_a_pdf_and_its_event_names_the_batch(
        self, repo, clock, printer, make_printers, pick_list_command
    ):
        broker, loop, events, _ = wired_broker(repo, clock, make_printers(printer))
        command = pick_list_command()
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(command), topics.PRINTING_COMMANDS)
            await deliver(loop)
        [pdf] = printer.received
        assert pdf.startswith(b"%PDF")
        [event] = events
        assert event.payload.order_id == command.payload.batch_id and event.payload.document_type == "pick_list"

    async def test_same_message_twice_changes_nothing(self, repo, clock, printer, make_printers, print_command):
        broker, loop, events, _ = wired_broker(repo, clock, make_printers(printer))
        command = print_command("shipping_label")
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(command), topics.PRINTING_COMMANDS)
            await deliver(loop)
            stored = repo.docs[str(command.payload.job_id)]
            await br.publish(encode(command), topics.PRINTING_COMMANDS)
            await deliver(loop)
        assert len(printer.received) == 1 and len(events) == 1
        assert repo.docs[str(command.payload.job_id)] == stored

    async def test_a_bad_message_goes_to_the_dlq_and_the_next_one_still_flows(
        self, repo, clock, printer, make_printers, print_command
    ):
        broker, loop, events, dead = wired_broker(repo, clock, make_printers(printer))
        command = print_command("shipping_label")
        broken = json.loads(encode(command))
        broken["payload"]["job_id"] = "not-a-uuid"
        async with TestKafkaBroker(broker) as br:
            await br.publish(b"{not json", topics.PRINTING_COMMANDS)
            await br.publish(json.dumps(broken).encode(), topics.PRINTING_COMMANDS)
            await br.publish(encode(command), topics.PRINTING_COMMANDS)
            await deliver(loop)
        assert [d.reason.split(":")[0] for d in dead] == ["not JSON", "printing.print_document v1 invalid"]
        assert "job_id" in dead[1].reason
        assert dead[0].value == "{not json" and dead[0].topic == topics.PRINTING_COMMANDS
        assert len(printer.received) == 1 and [type(e.payload) for e in events] == [JobPrinted]

    async def test_a_dead_printer_ends_in_job_failed_and_the_other_printer_still_prints(
        self, repo, clock, make_printer, make_printers, print_command
    ):
        dead_printer, label_printer = make_printer(failures=99), make_printer()
        broker, loop, events, dead = wired_broker(repo, clock, make_printers(dead_printer, label_printer))
        invoice, label = print_command("invoice"), print_command("shipping_label")
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(invoice), topics.PRINTING_COMMANDS)
            await br.publish(encode(label), topics.PRINTING_COMMANDS)
            await deliver(loop)
        assert sorted(e.type for e in events) == ["printing.job_failed", "printing.job_printed"]
        assert dead == [] and dead_printer.tries == 2 and len(label_printer.received) == 1
        assert repo.docs[str(invoice.payload.job_id)]["state"] == "failed"

    async def test_documents_reach_a_real_raw_port_printer(self, repo, clock, start_listener, print_command):
        listener = await start_listener()
        uri = f"socket://127.0.0.1:{listener.port}"
        broker, loop, events, _ = wired_broker(
            repo, clock, {uri: printer_for_uri(uri, timeout=5)}, fallback={"invoice": uri, "shipping_label": uri}
        )
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(print_command("invoice")), topics.PRINTING_COMMANDS)
            await br.publish(encode(print_command("shipping_label")), topics.PRINTING_COMMANDS)
            await deliver(loop)
        pdf, zpl = await listener.wait_for_jobs(2)
        assert pdf.startswith(b"%PDF") and zpl.startswith(b"^XA") and zpl.rstrip().endswith(b"^XZ")
        assert [(e.payload.printer, e.payload.size_bytes) for e in events] == [(uri, len(pdf)), (uri, len(zpl))]

    async def test_an_invoice_reaches_a_real_ipp_printer_and_a_label_a_raw_port(
        self, repo, clock, start_listener, start_ipp_printer, make_order, print_command
    ):
        ipp, listener = start_ipp_printer(), await start_listener()
        raw = f"socket://127.0.0.1:{listener.port}"
        printers = {ipp.uri: printer_for_uri(ipp.uri, timeout=10), raw: printer_for_uri(raw, timeout=5)}
        fallback = {"invoice": ipp.uri, "shipping_label": raw}
        broker, loop, events, _ = wired_broker(repo, clock, printers, fallback=fallback)
        order = make_order(order_number="PH-IPP-7")
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(print_command("invoice", order=order)), topics.PRINTING_COMMANDS)
            await br.publish(encode(print_command("shipping_label", order=order)), topics.PRINTING_COMMANDS)
            await deliver(loop)
        [kept] = await ipp.wait_for_files(1)
        [zpl] = await listener.wait_for_jobs(1)
        assert kept.read_bytes().startswith(b"%PDF") and b"PH-IPP-7" in zpl
        assert sorted((e.type, e.payload.printer) for e in events) == sorted([
            ("printing.job_printed", ipp.uri), ("printing.job_printed", raw)
        ])
        [invoice_event] = [e for e in events if e.payload.document_type == "invoice"]
        assert invoice_event.payload.size_bytes == kept.stat().st_size


class TestReprintCommandConsumer:
    async def test_a_reprint_prints_the_same_document_again_and_publishes_nothing(
        self, repo, clock, printer, make_printers, print_command
    ):
        broker, loop, events, _ = wired_broker(repo, clock, make_printers(printer))
        command = print_command("invoice")
        reprint = new_envelope(
            ReprintJob(job_id=command.payload.job_id, reason="coffee on it", requested_by="ops-key-1"),
            producer="printing-api",
        )
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(command), topics.PRINTING_COMMANDS)
            await deliver(loop)
            await br.publish(encode(reprint), topics.PRINTING_COMMANDS)
            await br.publish(encode(reprint), topics.PRINTING_COMMANDS)  # redelivered: prints once
            await deliver(loop)  # the delivery loop sends the waiting reprint; its outcome settles it
            await deliver(loop)  # nothing more waits
        first, again = printer.received
        assert first.startswith(b"%PDF") and again == first
        assert [e.type for e in events] == ["printing.job_printed"]
        notes = [h["note"] for h in repo.docs[str(command.payload.job_id)]["job"]["history"]]
        assert notes.count("reprinted: coffee on it by ops-key-1") == 1

    async def test_a_reprint_of_an_unknown_job_goes_to_the_dlq_and_the_next_one_still_flows(
        self, repo, clock, printer, make_printers, print_command
    ):
        broker, loop, events, dead = wired_broker(repo, clock, make_printers(printer))
        unknown = new_envelope(
            ReprintJob(job_id=uuid.uuid4(), reason="x", requested_by="ops-key-1"), producer="printing-api"
        )
        async with TestKafkaBroker(broker) as br:
            await br.publish(encode(unknown), topics.PRINTING_COMMANDS)
            await br.publish(encode(print_command("shipping_label")), topics.PRINTING_COMMANDS)
            await deliver(loop)
        [letter] = dead
        assert "does not exist" in letter.reason
        assert len(printer.received) == 1 and [e.type for e in events] == ["printing.job_printed"]
