"""The fulfilment subscribers, wired on FastStream's in-memory test broker."""

import json

from faststream.kafka import KafkaBroker, TestKafkaBroker

from oms_contracts import ContractError, DeadLetter, decode, derived_id, encode, new_envelope, topics
from oms_contracts.fulfilment.v1 import CreateShipment, IssueTrackingNumber, RecordTrackingNumber, ShipmentConfirmed
from oms_contracts.orders.v1 import OrderProcessingStarted
from oms_contracts.printing.v1 import JobPrinted, PrintDocument
from oms_platform.messaging import Bus
from fulfilment.entrypoints.worker import register_subscribers


class Wiring:
    """A broker with the fulfilment subscribers, and what it sent to the topics around it."""

    def __init__(self, ctx) -> None:
        self.broker = KafkaBroker()
        ctx.bus = Bus(self.broker, "fulfilment")
        register_subscribers(self.broker, ctx=ctx, max_attempts=2)
        self.dead: dict[str, list[DeadLetter]] = {}
        self.seen: dict[str, list] = {}
        for topic in (topics.ORDERS_EVENTS, topics.PRINTING_EVENTS, topics.FULFILMENT_COMMANDS):
            self._collect(topics.dlq(topic), self.dead, DeadLetter.model_validate)
        for topic in (topics.FULFILMENT_COMMANDS, topics.FULFILMENT_EVENTS, topics.PRINTING_COMMANDS):
            self._collect(topic, self.seen, lambda body: decode(json.dumps(body)))

    def _collect(self, topic: str, into: dict, parse) -> None:
        into[topic] = []

        @self.broker.subscriber(topic, group_id=f"test-collector.{topic}")
        async def collect(body: dict) -> None:
            try:
                into[topic].append(parse(body))
            except ContractError:
                pass  # the bad messages a test sends itself; the DLQ collectors show what became of them


def processing_started(order):
    return new_envelope(OrderProcessingStarted(order=order, requested_by="ops"), producer="orders")


class TestOrderEventsForwarder:
    async def test_processing_started_is_forwarded_as_create_shipment_with_a_derived_id(
        self, ctx, make_order
    ):
        wiring = Wiring(ctx)
        repo = ctx.shipments
        order = make_order()
        event = processing_started(order)
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(event), topics.ORDERS_EVENTS, key=str(order.order_id).encode())
        commands = {type(c.payload): c for c in wiring.seen[topics.FULFILMENT_COMMANDS]}
        assert len(wiring.seen[topics.FULFILMENT_COMMANDS]) == 3
        assert commands[RecordTrackingNumber].payload.tracking_number and IssueTrackingNumber in commands
        forwarded = commands[CreateShipment]
        assert isinstance(forwarded.payload, CreateShipment) and forwarded.payload.order == order
        assert forwarded.event_id == derived_id(event.event_id, "create-shipment")
        assert forwarded.causation_id == event.event_id
        assert repo.docs[str(order.order_id)]["status"] == "printing"
        jobs = wiring.seen[topics.PRINTING_COMMANDS]
        assert [j.payload.document_type for j in jobs] == ["invoice", "shipping_label"]

    async def test_a_bad_message_goes_to_the_dlq_and_the_next_one_still_flows(
        self, ctx, make_order
    ):
        wiring = Wiring(ctx)
        repo = ctx.shipments
        order = make_order()
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(b"{not json", topics.ORDERS_EVENTS)
            await br.publish(json.dumps({"type": "orders.order_processing_started", "version": 1,
                                         "payload": {}}).encode(), topics.ORDERS_EVENTS)
            await br.publish(encode(processing_started(order)), topics.ORDERS_EVENTS)
        dead = wiring.dead[topics.dlq(topics.ORDERS_EVENTS)]
        assert [d.reason.split(":")[0] for d in dead] == ["not JSON", "orders.order_processing_started v1 invalid"]
        assert dead[0].value == "{not json" and dead[0].consumer_group == "fulfilment.order-events"
        assert str(order.order_id) in repo.docs


class TestPrintingEventsForwarder:
    async def test_every_document_printed_confirms_the_shipment(self, ctx, make_order):
        wiring = Wiring(ctx)
        repo = ctx.shipments
        order = make_order()
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(processing_started(order)), topics.ORDERS_EVENTS)
            for job in wiring.seen[topics.PRINTING_COMMANDS]:
                printed = JobPrinted(job_id=job.payload.job_id, order_id=order.order_id,
                                     document_type=job.payload.document_type, printer="p", size_bytes=10)
                await br.publish(encode(new_envelope(printed, producer="printing")), topics.PRINTING_EVENTS)
        confirmations = [e for e in wiring.seen[topics.FULFILMENT_EVENTS] if isinstance(e.payload, ShipmentConfirmed)]
        assert len(confirmations) == 1
        assert repo.docs[str(order.order_id)]["status"] == "confirmed"


class TestFulfilmentCommandConsumer:
    async def test_same_message_twice_changes_nothing(self, ctx, make_order):
        wiring = Wiring(ctx)
        repo = ctx.shipments
        order = make_order()
        create = new_envelope(CreateShipment(order=order), producer="test")
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(encode(create), topics.FULFILMENT_COMMANDS)
            first = repo.docs[str(order.order_id)]
            await br.publish(encode(create), topics.FULFILMENT_COMMANDS)
        assert repo.docs[str(order.order_id)]["handled"] == first["handled"]
        requests = [c for c in wiring.seen[topics.FULFILMENT_COMMANDS] if isinstance(c.payload, IssueTrackingNumber)]
        assert len(requests) == 2 and requests[0].event_id == requests[1].event_id  # re-published, same id
        jobs = [j.payload.job_id for j in wiring.seen[topics.PRINTING_COMMANDS]]
        assert len(set(jobs)) == 2  # the number was recorded once, so the documents print once

    async def test_a_bad_message_goes_to_the_dlq_and_the_next_one_still_flows(
        self, ctx, make_order
    ):
        wiring = Wiring(ctx)
        repo = ctx.shipments
        order = make_order()
        orphan = new_envelope(
            JobPrinted(job_id=order.order_id, order_id=order.order_id, document_type="invoice", printer="p",
                       size_bytes=1),
            producer="printing",
        )
        async with TestKafkaBroker(wiring.broker) as br:
            await br.publish(json.dumps({"type": "fulfilment.nonsense", "version": 1}).encode(),
                             topics.FULFILMENT_COMMANDS)
            await br.publish(encode(orphan), topics.PRINTING_EVENTS)  # an outcome for an order with no shipment
            await br.publish(encode(new_envelope(CreateShipment(order=order), producer="test")),
                             topics.FULFILMENT_COMMANDS)
        dead = wiring.dead[topics.dlq(topics.FULFILMENT_COMMANDS)]
        assert dead[0].reason.startswith("unknown message type 'fulfilment.nonsense'")
        assert dead[1].reason.startswith("PermanentError") and "has no shipment" in dead[1].reason
        assert dead[1].attempts == 1
        assert len(wiring.seen[topics.PRINTING_COMMANDS]) == 2
        assert all(isinstance(j.payload, PrintDocument) for j in wiring.seen[topics.PRINTING_COMMANDS])
