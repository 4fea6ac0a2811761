"""Receiving a CSV order file: stored first, all of its orders or none, the same ids every time it is sent."""

from datetime import timedelta

from ingest.domain.model import IntakeKind, IntakeStatus
from ingest.service_layer import handlers
from oms_contracts import derived_id
from oms_contracts.ingest.v1 import OrderReceived
from oms_contracts.orders.v1 import order_id_for

LIMIT = 50_000


async def receive(text: str | bytes, *, store, bus, clock, mapping=None, limit=LIMIT):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return await handlers.receive_csv_orders(
        headers=[("content-type", "text/csv")], raw=raw, mapping=mapping, store=store, bus=bus, clock=clock,
        max_body_bytes=limit, publish_timeout=0.05,
    )


class TestAGoodFile:
    async def test_it_is_stored_verbatim_before_anything_is_published(self, sample_csv, store, bus, clock):
        statuses_at_publish = []
        bus.on_publish = lambda envelope: statuses_at_publish.append(store.only().status)
        receipt = await receive(sample_csv, store=store, bus=bus, clock=clock)
        assert statuses_at_publish == [IntakeStatus.RECEIVED, IntakeStatus.RECEIVED]
        stored = store.only()
        assert stored.body == sample_csv and stored.kind is IntakeKind.CSV_ORDERS and stored.channel == "csv"
        assert receipt.status is IntakeStatus.PUBLISHED and stored.status is IntakeStatus.PUBLISHED

    async def test_one_order_received_per_order_with_ids_derived_from_intake_and_order(
        self, sample_csv, store, bus, clock
    ):
        receipt = await receive(sample_csv, store=store, bus=bus, clock=clock)
        assert receipt.orders == 2
        assert [key for _, key in bus.published] == ["csv:PHONE-10001", "csv:PHONE-10002"]
        assert bus.event_ids() == [derived_id(receipt.intake_id, "order-received", ref)
                                   for ref in ("PHONE-10001", "PHONE-10002")]
        assert [p.intake_id for p in bus.payloads(OrderReceived)] == [receipt.intake_id] * 2
        assert store.only().event_id == bus.event_ids()[0]

    async def test_the_same_file_twice_makes_the_same_orders(self, sample_csv, store, bus, clock):
        await receive(sample_csv, store=store, bus=bus, clock=clock)
        clock.advance(60)
        await receive(sample_csv, store=store, bus=bus, clock=clock)
        first, second = bus.payloads(OrderReceived)[:2], bus.payloads(OrderReceived)[2:]
        assert [p.order for p in first] == [p.order for p in second]
        assert [p.channel_updated_at for p in first] == [p.channel_updated_at for p in second]
        order_ids = [order_id_for(p.order.channel, p.order.channel_order_id) for p in bus.payloads(OrderReceived)]
        assert order_ids[:2] == order_ids[2:] and len(set(order_ids)) == 2

    async def test_a_file_of_only_cancelled_orders_is_published_with_nothing_to_send(
        self, csv_file, store, bus, clock
    ):
        receipt = await receive(csv_file({"status": "cancelled"}), store=store, bus=bus, clock=clock)
        assert receipt.status is IntakeStatus.PUBLISHED and receipt.orders == 0
        assert [s.reason for s in receipt.skipped] == ["cancelled"] and bus.published == []


class TestABadFile:
    async def test_one_bad_row_publishes_nothing_and_keeps_the_file_failed_with_every_row_error(
        self, csv_file, store, bus, clock
    ):
        text = csv_file({"order_ref": "A-1"}, {"order_ref": "A-2", "quantity": "two"},
                        {"order_ref": "A-3", "unit_price": "1,50"})
        receipt = await receive(text, store=store, bus=bus, clock=clock)
        assert receipt.status is IntakeStatus.FAILED and bus.published == []
        stored = store.only()
        assert stored.status is IntakeStatus.FAILED and stored.body == text
        assert "row 3, quantity" in stored.error and "row 4, unit_price" in stored.error

    async def test_an_oversized_file_is_kept_in_part_and_failed(self, sample_csv, store, bus, clock):
        receipt = await receive(sample_csv * 40, store=store, bus=bus, clock=clock, limit=2048)
        assert receipt.status is IntakeStatus.FAILED and receipt.rejected.problems[0].type == "too_large"
        assert bus.published == [] and store.only().status is IntakeStatus.FAILED

    async def test_a_bad_mapping_still_stores_the_file_and_publishes_nothing(self, sample_csv, store, bus, clock):
        receipt = await receive(sample_csv, store=store, bus=bus, clock=clock, mapping="nonsense")
        assert receipt.rejected.problems[0].loc == ("query", "mapping")
        assert store.only().body == sample_csv and store.only().status is IntakeStatus.FAILED and not bus.published


class TestWhenKafkaIsDown:
    async def test_the_file_waits_as_received_and_the_republisher_sends_every_order_with_the_same_ids(
        self, sample_csv, store, bus, clock
    ):
        bus.down = True
        receipt = await receive(sample_csv, store=store, bus=bus, clock=clock)
        assert receipt.status is IntakeStatus.RECEIVED and receipt.orders == 2
        bus.down = False
        clock.advance(120)
        sent = await handlers.republish_stale(store=store, bus=bus, clock=clock, older_than=timedelta(seconds=60))
        assert sent == 1 and store.only().status is IntakeStatus.PUBLISHED
        assert bus.event_ids() == [derived_id(receipt.intake_id, "order-received", ref)
                                   for ref in ("PHONE-10001", "PHONE-10002")]

    async def test_the_republisher_reads_a_stored_file_with_its_mapping(self, csv_file, store, bus, clock):
        header = ["Order No" if column == "order_ref" else column for column in csv_file.base]
        row = {("Order No" if c == "order_ref" else c): v for c, v in csv_file.base.items()}
        bus.down = True
        await receive(csv_file(row, header=header, base_row=False), store=store, bus=bus, clock=clock,
                      mapping='{"Order No": "order_ref"}')
        bus.down = False
        clock.advance(120)
        await handlers.republish_stale(store=store, bus=bus, clock=clock, older_than=timedelta(seconds=60))
        assert [key for _, key in bus.published] == ["csv:PHONE-10001"]
