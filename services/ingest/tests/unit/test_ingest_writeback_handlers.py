"""The write-back runner with fakes: orders events forwarded as commands, one write-back per (order, action),
attempts with backoff until confirmed or failed, staff retry, replays that change nothing."""

import copy
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from ingest.connectors.base import ConnectorError
from ingest.connectors.registry import CAPABILITIES
from ingest.domain.channels import ChannelConfig
from ingest.domain.writebacks import backoff_seconds
from ingest.service_layer import writebacks
from ingest.service_layer.writebacks import Scheduler, WriteBackRunner
from oms_contracts import Envelope
from oms_contracts.ingest.v1 import AttemptWriteBack, RetryWriteBack, WriteBackToChannel, writeback_id_for
from oms_contracts.orders.v1 import OrderCancelled, OrderProcessed, OrderSnapshot, ReturnBooked, ReturnLine
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details


class FakeWriteBacks(InMemoryDocuments):
    async def of_order(self, order_id):
        return [copy.deepcopy(d) for d in self.docs.values() if d["order_id"] == str(order_id)]

    async def due(self, *, now, limit):
        due = [d for d in self.docs.values() if d["state"] == "pending" and d["next_attempt_at"] <= now]
        return copy.deepcopy(sorted(due, key=lambda d: d["next_attempt_at"])[:limit])


class FakeChannels:
    def __init__(self, *configs: ChannelConfig) -> None:
        self._configs = list(configs)

    async def configs(self):
        return list(self._configs)


class FakeChannel:
    """A channel that refuses its first `failures` calls (every call when None), recording each."""

    def __init__(self, failures: int | None = 0) -> None:
        self.failures, self.calls = failures, []

    async def _call(self, what, *args):
        self.calls.append((what, *args))
        if self.failures is None or self.failures > 0:
            self.failures = None if self.failures is None else self.failures - 1
            raise ConnectorError("ebay: 503 Service Unavailable")

    async def confirm_shipment(self, notice):
        await self._call("ship", notice)

    async def cancel_order(self, channel_order_id, reason):
        await self._call("cancel", channel_order_id, reason)

    async def refund(self, notice):
        await self._call("refund", notice)


# Its follow-up is the email (eBay's default, a buyer message, is tested on its own below).
EBAY = ChannelConfig(channel_id="ebay-uk", name="eBay", kind="ebay", account="uk", url="http://x",
                     options={"follow_up": "email"})


def make_runner(channel: FakeChannel, *configs, emails: list | None = None) -> WriteBackRunner:
    async def send(writeback):
        emails.append(writeback)

    return WriteBackRunner(
        store=FakeWriteBacks(), channels=FakeChannels(*(configs or (EBAY,))), bus=RecordingBus("ingest"),
        clock=SteppingClock(), build=lambda config: channel, capabilities=CAPABILITIES,
        send_follow_up=send if emails is not None else None, max_attempts=3, backoff_seconds=10,
        tracking_url=lambda carrier, number: f"https://track.example/{number}")


def processed(order_id=None, **details) -> Envelope:
    details = {"channel": "ebay", "channel_account": "uk", "channel_order_id": "05-27182-81828", **details}
    snapshot = OrderSnapshot(order_id=order_id or uuid.uuid4(), details=sample_order_details(**details),
                             opened_at=SteppingClock()())
    return RecordingBus("orders").envelope(OrderProcessed(order=snapshot, carrier="Royal Mail",
                                                          tracking_number="OM123456785GB",
                                                          processed_at=SteppingClock()()))


async def deliver(runner: WriteBackRunner, event: Envelope, *, follow_up: bool = False) -> list[Envelope]:
    """Forward an orders event and hand the commands it made to the command handler."""
    forwarder = RecordingBus("ingest")
    await writebacks.forward_event(event, bus=forwarder, capabilities=CAPABILITIES, follow_up=follow_up)
    for envelope, _ in forwarder.published:
        await writebacks.handle_command(envelope, runner=runner)
    return [e for e, _ in forwarder.published]


async def only(runner: WriteBackRunner, order_id, action="ship") -> dict:
    return await runner.store.get(writeback_id_for(order_id, action))


class TestForwarding:
    async def test_a_processed_channel_order_asks_for_shipment_and_follow_up_with_ids_from_the_event(self):
        event = processed()
        first, again = RecordingBus("ingest"), RecordingBus("ingest")
        for bus in (first, again):
            await writebacks.forward_event(event, bus=bus, capabilities=CAPABILITIES, follow_up=True)
        assert [p.action for p in first.payloads()] == ["ship", "follow_up"]
        assert first.event_ids() == again.event_ids()
        assert {key for _, key in first.published} == {str(event.payload.order.order_id)}

    async def test_a_phone_order_gets_only_the_email(self):
        event = processed(channel="phone", channel_account=None)
        bus = RecordingBus("ingest")
        await writebacks.forward_event(event, bus=bus, capabilities=CAPABILITIES, follow_up=True)
        assert [p.action for p in bus.payloads()] == ["follow_up"]
        await writebacks.forward_event(event, bus=(none := RecordingBus()), capabilities=CAPABILITIES, follow_up=False)
        assert none.published == []

    async def test_cancellations_and_refunds_are_forwarded(self):
        snapshot = processed().payload.order
        bus = RecordingBus("orders")
        cancelled = bus.envelope(OrderCancelled(order=snapshot, reason="buyer asked", by="ops"))
        refund = bus.envelope(ReturnBooked(order_id=snapshot.order_id, rma_id=uuid.uuid4(),
                                           lines=[ReturnLine(line_id="1", quantity=1, action="restock")],
                                           reason_category="damaged", refund=Decimal("7.50"), by="ops"))
        out = RecordingBus("ingest")
        for event in (cancelled, refund):
            await writebacks.forward_event(event, bus=out, capabilities=CAPABILITIES, follow_up=True)
        assert [(p.action, p.reason) for p in out.payloads()] == [("cancel", "buyer asked"), ("refund", "damaged")]


class TestShipment:
    async def test_the_channel_is_told_once_and_the_write_back_is_confirmed(self):
        channel, event = FakeChannel(), processed()
        runner = make_runner(channel)
        await deliver(runner, event)
        await deliver(runner, event)  # the same event replayed
        doc = await only(runner, event.payload.order.order_id)
        assert doc["state"] == "confirmed" and len(doc["attempts"]) == 1
        [(what, notice)] = channel.calls
        assert (what, notice.channel_order_id, notice.tracking_number, notice.carrier) == (
            "ship", "05-27182-81828", "OM123456785GB", "Royal Mail")
        assert notice.quantities == {"1": 2, "2": 1} and notice.tracking_url == "https://track.example/OM123456785GB"
        assert notice.package_ref == writebacks.package_ref(event.payload.order.order_id) != "0"

    async def test_a_failing_channel_is_retried_with_backoff_then_confirmed(self):
        channel, event = FakeChannel(failures=2), processed()
        runner = make_runner(channel)
        scheduler = Scheduler(store=runner.store, bus=runner.bus, clock=runner.clock)
        await deliver(runner, event)
        order_id = event.payload.order.order_id
        doc = await only(runner, order_id)
        assert doc["state"] == "pending" and doc["last_error"] == "ebay: 503 Service Unavailable"
        assert doc["next_attempt_at"] - doc["attempts"][0]["at"] == timedelta(seconds=10)
        assert await scheduler.send_due() == 0, "not due before its backoff"
        for expected_state in ("pending", "confirmed"):
            runner.clock.now = doc["next_attempt_at"]
            assert await scheduler.send_due() == 1
            assert await scheduler.send_due() == 0, "an attempt is sent once, not every tick"
            command = runner.bus.published[-1][0]
            await writebacks.handle_command(command, runner=runner)
            await writebacks.handle_command(command, runner=runner)  # redelivered: stale, nothing sent
            doc = await only(runner, order_id)
            assert doc["state"] == expected_state
        assert len(channel.calls) == 3 and doc["last_error"] is None
        assert [a["error"] is None for a in doc["attempts"]] == [False, False, True]

    async def test_an_attempt_never_handled_is_sent_again_with_the_same_id(self):
        channel, event = FakeChannel(failures=1), processed()
        runner = make_runner(channel)
        scheduler = Scheduler(store=runner.store, bus=runner.bus, clock=runner.clock, resend_after=30)
        await deliver(runner, event)
        runner.clock.now = (await only(runner, event.payload.order.order_id))["next_attempt_at"]
        assert await scheduler.send_due() == 1
        runner.clock.now += timedelta(seconds=31)
        assert await scheduler.send_due() == 1
        first, again = runner.bus.published[-2][0], runner.bus.published[-1][0]
        assert first.event_id == again.event_id and again.payload.attempt == 2

    async def test_a_channel_that_always_fails_ends_failed_and_a_staff_retry_starts_again(self):
        channel, event = FakeChannel(failures=None), processed()
        runner = make_runner(channel)
        order_id = event.payload.order.order_id
        await deliver(runner, event)
        for attempt in (2, 3):
            command = runner.bus.envelope(AttemptWriteBack(writeback_id=writeback_id_for(order_id, "ship"),
                                                           order_id=order_id, attempt=attempt))
            await writebacks.handle_command(command, runner=runner)
        doc = await only(runner, order_id)
        assert doc["state"] == "failed" and doc["last_error"] == "ebay: 503 Service Unavailable"
        assert doc["next_attempt_at"] is None
        channel.failures = 0
        retry = runner.bus.envelope(RetryWriteBack(writeback_id=writeback_id_for(order_id, "ship"),
                                                   order_id=order_id, requested_by="ops-key-1"))
        await writebacks.handle_command(retry, runner=runner)
        await writebacks.handle_command(retry, runner=runner)
        doc = await only(runner, order_id)
        assert doc["state"] == "confirmed" and len(channel.calls) == 4
        assert str(retry.event_id) in doc["handled"]

    async def test_the_channel_is_found_by_kind_and_account(self):
        channel = FakeChannel()
        other = EBAY.model_copy(update={"channel_id": "ebay-de", "account": "de"})
        runner = make_runner(channel, other)
        event = processed()
        await deliver(runner, event)
        doc = await only(runner, event.payload.order.order_id)
        assert doc["state"] == "pending" and "no ebay account uk channel is configured" in doc["last_error"]
        assert channel.calls == []

    async def test_two_channels_of_the_order_are_refused_by_name(self):
        runner = make_runner(FakeChannel(), EBAY, EBAY.model_copy(update={"channel_id": "ebay-2"}))
        event = processed()
        await deliver(runner, event)
        assert "ebay-uk, ebay-2" in (await only(runner, event.payload.order.order_id))["last_error"]


class TestOtherActions:
    async def test_a_cancellation_the_channel_cannot_take_is_skipped_with_the_reason(self):
        channel = FakeChannel()
        runner = make_runner(channel)
        snapshot = processed().payload.order
        await deliver(runner, runner.bus.envelope(OrderCancelled(order=snapshot, reason="buyer asked", by="ops")))
        doc = await only(runner, snapshot.order_id, "cancel")
        assert doc["state"] == "skipped" and "ebay cannot take a cancel write-back" in doc["last_error"]
        assert channel.calls == []

    async def test_a_refund_takes_the_order_from_its_shipment(self):
        channel = FakeChannel()
        woo = ChannelConfig(channel_id="woo", name="Woo", kind="woocommerce", account="shop", url="http://x")
        runner = make_runner(channel, woo)
        event = processed(channel="woocommerce", channel_account="shop", channel_order_id="1052")
        await deliver(runner, event)
        rma = uuid.uuid4()
        order_id = event.payload.order.order_id
        await deliver(runner, runner.bus.envelope(ReturnBooked(
            order_id=order_id, rma_id=rma, lines=[ReturnLine(line_id="1", quantity=1, action="scrap")],
            reason_category="damaged", refund=Decimal("7.50"), by="ops")))
        doc = await runner.store.get(writeback_id_for(order_id, "refund", str(rma)))
        assert doc["state"] == "confirmed"
        what, notice = channel.calls[-1]
        assert (what, notice.channel_order_id, notice.amount, notice.currency) == ("refund", "1052", Decimal("7.50"), "GBP")

    async def test_a_refund_of_an_order_never_written_back_does_nothing(self):
        runner = make_runner(FakeChannel())
        command = runner.bus.envelope(WriteBackToChannel(
            writeback_id=uuid.uuid4(), order_id=uuid.uuid4(), action="refund", refund=Decimal("1")))
        await writebacks.handle_command(command, runner=runner)
        assert runner.store.docs == {}

    async def test_the_follow_up_email_is_a_write_back_too(self):
        emails: list = []
        runner = make_runner(FakeChannel(), emails=emails)
        event = processed()
        await deliver(runner, event, follow_up=True)
        await deliver(runner, event, follow_up=True)
        doc = await only(runner, event.payload.order.order_id, "follow_up")
        assert doc["state"] == "confirmed" and len(emails) == 1
        assert emails[0].order.buyer.email == "ada@example.org"


class TestBackoff:
    @pytest.mark.parametrize(("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (20, 3600)])
    def test_doubles_and_is_capped_at_an_hour(self, attempts, seconds):
        assert backoff_seconds(30, attempts) == seconds


class MessagingChannel(FakeChannel):
    """A channel that also takes buyer messages (eBay)."""

    async def send_buyer_message(self, channel_order_id, *, subject, body):
        await self._call("message", channel_order_id, subject, body)


def with_messages(runner: WriteBackRunner) -> WriteBackRunner:
    runner.buyer_message = lambda wb: (f"Order {wb.order.order_number} shipped", f"Tracking {wb.tracking_number}")
    return runner


class TestFollowUpWay:
    async def test_an_ebay_order_gets_a_buyer_message_through_ebay_by_default_even_without_smtp(self):
        channel = MessagingChannel()
        runner = with_messages(make_runner(channel, EBAY.model_copy(update={"options": {}})))
        event = processed()
        await deliver(runner, event)
        await deliver(runner, event)  # replayed: nothing sent twice
        doc = await only(runner, event.payload.order.order_id, "follow_up")
        assert doc["via"] == "message" and doc["state"] == "confirmed" and len(doc["attempts"]) == 1
        assert channel.calls[-1] == ("message", "05-27182-81828", "Order PH-1001 shipped", "Tracking OM123456785GB")
        assert [c[0] for c in channel.calls] == ["ship", "message"]

    async def test_option_email_sends_the_smtp_email_instead(self):
        emails: list = []
        channel = MessagingChannel()
        runner = with_messages(make_runner(channel, EBAY, emails=emails))
        event = processed()
        await deliver(runner, event, follow_up=True)
        doc = await only(runner, event.payload.order.order_id, "follow_up")
        assert doc["via"] == "email" and doc["state"] == "confirmed" and len(emails) == 1
        assert [c[0] for c in channel.calls] == ["ship"]

    async def test_option_off_sends_and_records_nothing(self):
        emails: list = []
        channel = MessagingChannel()
        runner = with_messages(make_runner(channel, EBAY.model_copy(update={"options": {"follow_up": "off"}}),
                                           emails=emails))
        event = processed()
        await deliver(runner, event, follow_up=True)
        assert await only(runner, event.payload.order.order_id, "follow_up") is None
        assert emails == [] and [c[0] for c in channel.calls] == ["ship"]

    async def test_a_message_asked_of_a_channel_without_messages_is_skipped_with_the_reason(self):
        woo = ChannelConfig(channel_id="woo", name="Woo", kind="woocommerce", account="shop", url="http://x",
                            options={"follow_up": "message"})
        runner = with_messages(make_runner(FakeChannel(), woo, emails=[]))
        event = processed(channel="woocommerce", channel_account="shop", channel_order_id="1052")
        await deliver(runner, event, follow_up=True)
        doc = await only(runner, event.payload.order.order_id, "follow_up")
        assert doc["state"] == "skipped" and "woocommerce takes no buyer messages" in doc["last_error"]

    async def test_other_channels_without_smtp_get_no_follow_up(self):
        bus = RecordingBus("ingest")
        event = processed(channel="woocommerce", channel_account="shop", channel_order_id="1052")
        await writebacks.forward_event(event, bus=bus, capabilities=CAPABILITIES, follow_up=False)
        assert [p.action for p in bus.payloads()] == ["ship"]
