"""The poller with fakes: cursor after the page, restart resumes, re-fetch changes nothing, failures back off."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.connectors.base import ConnectorError, Page, Placement, RateLimited, RawOrder
from ingest.domain.channels import ChannelConfig
from ingest.domain.errors import OrderSkipped
from ingest.domain.model import IntakeKind, IntakeStatus
from ingest.service_layer.handlers import republish_stale
from ingest.service_layer.polling import Poller
from oms_contracts.ingest.v1 import OrderReceived
from oms_platform.testing import sample_order_details

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def raw(order_id: str, minute: int = 0, **fields) -> RawOrder:
    return RawOrder(channel_order_id=order_id, body=json.dumps({"id": order_id, **fields}),
                    updated_at=T0 + timedelta(minutes=minute))


class FakeShop:
    """A connector over a list of raw orders, two per page; the cursor is the index of the next order."""

    channel = "fakeshop"

    def __init__(self, orders: list[RawOrder], per_page: int = 2) -> None:
        self.orders = orders
        self.per_page = per_page
        self.fetched_from: list[str | None] = []
        self.fail: Exception | None = None
        self.crash_after_fetches: int | None = None

    async def fetch(self, cursor: str | None) -> Page:
        self.fetched_from.append(cursor)
        if self.fail is not None:
            raise self.fail
        start = int(cursor or 0)
        chunk = self.orders[start:start + self.per_page]
        end = start + len(chunk)
        return Page(orders=chunk, cursor=str(end), more=end < len(self.orders))

    def normalise(self, raw_order: RawOrder):
        body = json.loads(raw_order.body)
        if body.get("status") == "cancelled":
            raise OrderSkipped("cancelled")
        return sample_order_details(channel="fakeshop", channel_order_id=raw_order.channel_order_id)

    def placement(self, raw_order: RawOrder) -> Placement:
        return Placement(lock_reason="fulfilled by the channel") if "fba" in raw_order.body else Placement()


@pytest.fixture
def shop():
    return FakeShop([raw("A1"), raw("A2"), raw("A3", status="cancelled"), raw("A4", fba=True), raw("A5")])


@pytest.fixture
def config():
    return ChannelConfig(channel_id="fake-main", name="Fake shop", kind="fakeshop", account="main",
                         interval_seconds=60)


@pytest.fixture
def poller(channel_store, store, bus, clock, shop):
    return Poller(channels=channel_store, store=store, bus=bus, clock=clock, build=lambda config: shop)


class TestOnePoll:
    async def test_every_page_is_stored_published_and_the_cursor_follows(self, poller, config, store, bus,
                                                                          channel_store, shop):
        status = await poller.sync(config)

        assert shop.fetched_from == [None, "2", "4"]
        assert channel_store.saved_cursors == ["2", "4", "5", "5"]
        assert status.cursor == "5" and status.last_error is None and status.orders_new == 5 and status.pages == 3
        assert {i.kind for i in store.intakes.values()} == {IntakeKind.POLLED_ORDER}
        assert sorted(p.order.channel_order_id for p in bus.payloads(OrderReceived)) == ["A1", "A2", "A4", "A5"]

    async def test_a_cancelled_order_is_kept_as_skipped(self, poller, config, store):
        await poller.sync(config)
        [skipped] = [i for i in store.intakes.values() if i.status is IntakeStatus.SKIPPED]
        assert skipped.skip_reason == "cancelled" and json.loads(skipped.body)["id"] == "A3"

    async def test_the_connector_s_placement_travels_with_the_order(self, poller, config, bus):
        await poller.sync(config)
        locked = {p.order.channel_order_id: p.lock_reason for p in bus.payloads(OrderReceived)}
        assert locked == {"A1": None, "A2": None, "A4": "fulfilled by the channel", "A5": None}

    async def test_the_next_poll_is_after_the_interval(self, poller, config, clock):
        status = await poller.sync(config)
        assert status.next_attempt_at == clock.now + timedelta(seconds=60)


class TestRestart:
    async def test_a_restart_resumes_from_the_stored_cursor(self, channel_store, store, bus, clock, shop, config):
        shop.orders = shop.orders[:2]
        first = Poller(channels=channel_store, store=store, bus=bus, clock=clock, build=lambda c: shop)
        await first.sync(config)
        shop.orders += [raw("B1"), raw("B2")]

        restarted = Poller(channels=channel_store, store=store, bus=bus, clock=clock, build=lambda c: shop)
        await restarted.sync(config)

        assert shop.fetched_from[-1] == "2"
        assert [p.order.channel_order_id for p in bus.payloads(OrderReceived)] == ["A1", "A2", "B1", "B2"]

    async def test_a_crash_before_the_cursor_is_stored_imports_nothing_twice(
        self, channel_store, store, bus, clock, shop, config
    ):
        class CursorLost(Exception):
            pass

        async def crash(status):
            raise CursorLost  # the process died between storing the page's intakes and storing the cursor

        real_save = channel_store.save_status
        channel_store.save_status = crash
        with pytest.raises(CursorLost):
            await Poller(channels=channel_store, store=store, bus=bus, clock=clock, build=lambda c: shop).sync(config)
        channel_store.save_status = real_save

        await Poller(channels=channel_store, store=store, bus=bus, clock=clock, build=lambda c: shop).sync(config)

        ids = [p.order.channel_order_id for p in bus.payloads(OrderReceived)]
        assert sorted(ids) == ["A1", "A2", "A4", "A5"] and len(store.intakes) == 5

    async def test_the_same_version_fetched_again_changes_nothing_but_a_newer_one_is_an_update(
        self, poller, config, store, bus, channel_store
    ):
        await poller.sync(config)
        channel_store.statuses.clear()  # forget the cursor: everything is fetched again
        await poller.sync(config)
        assert len(store.intakes) == 5 and len(bus.payloads(OrderReceived)) == 4

        poller.build(config).orders.append(raw("A1", minute=5))
        await poller.sync(config)
        assert [p.order.channel_order_id for p in bus.payloads(OrderReceived)][-1] == "A1"
        assert len(store.intakes) == 6

    async def test_an_intake_stored_but_not_published_is_sent_by_the_re_publisher(
        self, poller, config, store, bus, clock, channel_store
    ):
        await channel_store.put_config(config)
        bus.down = True
        await poller.sync(config)
        assert {i.status for i in store.intakes.values()} == {IntakeStatus.RECEIVED, IntakeStatus.SKIPPED}

        bus.down = False
        clock.advance(120)
        published = await republish_stale(store=store, bus=bus, clock=clock, older_than=timedelta(seconds=60),
                                          normalise_polled=poller.normalise_polled)

        assert published == 4
        assert sorted(p.order.channel_order_id for p in bus.payloads(OrderReceived)) == ["A1", "A2", "A4", "A5"]


class TestFailures:
    async def test_a_connector_error_is_recorded_with_its_reason_and_backs_off(self, poller, config, shop, clock):
        shop.fail = ConnectorError("401 Unauthorized: invalid token")
        first = await poller.sync(config)
        second = await poller.sync(config)

        assert first.last_error == "401 Unauthorized: invalid token" and second.failures == 2
        assert first.next_attempt_at == clock.now + timedelta(seconds=60)
        assert second.next_attempt_at == clock.now + timedelta(seconds=120)
        assert second.cursor is None

    async def test_rate_limited_waits_at_least_what_the_channel_asked(self, poller, config, shop, clock):
        shop.fail = RateLimited("429 Too Many Requests", retry_after=300)
        status = await poller.sync(config)
        assert status.next_attempt_at == clock.now + timedelta(seconds=300)
        assert "retry after 300 s" in status.last_error

    async def test_success_after_failures_clears_the_error(self, poller, config, shop):
        shop.fail = ConnectorError("503 Service Unavailable")
        await poller.sync(config)
        shop.fail = None
        status = await poller.sync(config)
        assert status.last_error is None and status.failures == 0 and status.last_sync_at is not None


class TestSchedule:
    async def test_due_channels_are_polled_and_disabled_ones_are_not(self, poller, channel_store, config, clock):
        await channel_store.put_config(config)
        await channel_store.put_config(config.model_copy(update={"channel_id": "off", "enabled": False}))
        assert await poller.start_due() == ["fake-main"]
        await asyncio.gather(*poller._running.values())
        assert await poller.start_due() == []
        clock.advance(61)
        assert await poller.start_due() == ["fake-main"]

    async def test_download_now_polls_before_the_interval(self, poller, channel_store, config, clock):
        await channel_store.put_config(config)
        await poller.start_due()
        await asyncio.gather(*poller._running.values())
        await channel_store.request_download("fake-main", at=clock.now)
        assert await poller.start_due() == ["fake-main"]
        await asyncio.gather(*poller._running.values())
        assert await poller.start_due() == []
