"""Available-stock push with fakes: stock changes forwarded per SKU, a burst within the debounce window pushed
once with the latest value, only to channels that take stock and opted in, retried until pushed or failed."""

import copy
import uuid
from datetime import timedelta

import httpx

from ingest.connectors.base import ConnectorError
from ingest.connectors.registry import CAPABILITIES, build_writeback
from ingest.domain.channels import ChannelConfig
from ingest.service_layer import stock_push
from ingest.service_layer.stock_push import StockPushRunner
from ingest.service_layer.writebacks import Scheduler
from ingest.writeback_standins import WooCommerceShop
from oms_contracts.inventory.v1 import StockAllocated, StockAvailableChanged
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock


class FakePushes(InMemoryDocuments):
    async def due(self, *, now, limit):
        due = [d for d in self.docs.values() if d["state"] == "pending" and d["next_attempt_at"] <= now]
        return copy.deepcopy(due[:limit])


class FakeChannels:
    def __init__(self, *configs) -> None:
        self._configs = list(configs)

    async def configs(self):
        return list(self._configs)


class FakeShop:
    def __init__(self, failures: int = 0) -> None:
        self.failures, self.calls = failures, []

    async def set_available(self, sku, available):
        self.calls.append((sku, available))
        if self.failures:
            self.failures -= 1
            raise ConnectorError("woocommerce: 503 Service Unavailable")


WOO = ChannelConfig(channel_id="woo", name="Woo", kind="woocommerce", account="shop", url="http://x",
                    options={"push_stock": True})
QUIET_WOO = WOO.model_copy(update={"channel_id": "woo-2", "options": {}})
EBAY = ChannelConfig(channel_id="ebay", name="eBay", kind="ebay", account="uk", options={"push_stock": True})
# X-Cart 5's REST add-on takes no stock: never pushed, even when opted in.
XCART5 = ChannelConfig(channel_id="xc5", name="X-Cart 5", kind="xcart5", account="x", options={"push_stock": True})
# A disabled channel gets no stock either.
OFF_WOO = WOO.model_copy(update={"channel_id": "woo-off", "enabled": False})


def runner_with(shop: FakeShop) -> StockPushRunner:
    return StockPushRunner(store=FakePushes(), channels=FakeChannels(WOO, QUIET_WOO, EBAY, XCART5, OFF_WOO), clock=SteppingClock(),
                           build=lambda config: shop, capabilities=CAPABILITIES, debounce_seconds=10,
                           max_attempts=3, backoff_seconds=5)


async def change(runner: StockPushRunner, sku: str, available: int):
    """An inventory stock change, forwarded and handled; its envelope."""
    inventory = RecordingBus("inventory")
    event = inventory.envelope(StockAvailableChanged(sku=sku, available=available, previous_available=0,
                                                     on_hand=available, allocated=0), now=runner.clock())
    bus = RecordingBus("ingest")
    await stock_push.forward_event(event, bus=bus)
    for envelope, key in bus.published:
        assert key == sku
        await stock_push.handle_command(envelope, runner=runner)
    return event


async def run_due(runner: StockPushRunner) -> int:
    bus = RecordingBus("ingest")
    sent = await Scheduler(store=runner.store, bus=bus, clock=runner.clock, command=stock_push.attempt_command).send_due()
    for envelope, _ in bus.published:
        await stock_push.handle_command(envelope, runner=runner)
        await stock_push.handle_command(envelope, runner=runner)  # redelivered: stale
    return sent


class TestDebounce:
    async def test_a_burst_of_changes_is_one_push_of_the_latest_value_to_opted_in_stock_channels(self):
        shop = FakeShop()
        runner = runner_with(shop)
        for available in (5, 4, 3):
            await change(runner, "MUG-1", available)
        assert await run_due(runner) == 0, "not before the debounce window is over"
        runner.clock.now += timedelta(seconds=10)
        assert await run_due(runner) == 1
        assert shop.calls == [("MUG-1", 3)] * 2, "once each, the latest value, only opted-in channels taking stock"
        doc = await runner.store.get("MUG-1")
        assert doc["state"] == "pushed" and set(doc["channels"]) == {"woo", "ebay"}
        assert doc["channels"]["woo"]["available"] == 3

    async def test_a_replayed_older_change_changes_nothing(self):
        shop = FakeShop()
        runner = runner_with(shop)
        old = await change(runner, "MUG-1", 5)
        await change(runner, "MUG-1", 2)
        bus = RecordingBus("ingest")
        await stock_push.forward_event(old, bus=bus)
        await stock_push.handle_command(bus.published[0][0], runner=runner)
        assert (await runner.store.get("MUG-1"))["available"] == 2

    async def test_a_failing_channel_is_retried_then_pushed(self):
        shop = FakeShop(failures=1)
        runner = runner_with(shop)
        await change(runner, "MUG-1", 7)
        runner.clock.now += timedelta(seconds=10)
        await run_due(runner)
        doc = await runner.store.get("MUG-1")
        assert doc["state"] == "pending" and "503" in doc["last_error"]
        runner.clock.now = doc["next_attempt_at"]
        await run_due(runner)
        # The first attempt: WooCommerce refused, eBay took it; the second only goes to WooCommerce.
        assert (await runner.store.get("MUG-1"))["state"] == "pushed" and shop.calls == [("MUG-1", 7)] * 3

    async def test_other_inventory_events_are_not_forwarded(self):
        bus = RecordingBus("ingest")
        allocated = StockAllocated(order_id=uuid.uuid4(), sku="MUG-1", requested=2, short=0)
        await stock_push.forward_event(RecordingBus("inventory").envelope(allocated), bus=bus)
        assert bus.published == []


class TestWooCommerceStock:
    async def test_sets_the_stock_quantity_of_the_product_or_variation_with_the_sku(self):
        shop = WooCommerceShop(key="ck", secret="cs")
        shop.add_product("MUG-1", 41)
        shop.add_product("TEE-L", 52, parent_id=50)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shop.app), base_url="http://standin") as http:
            channel = build_writeback(WOO.model_copy(update={"url": "http://standin", "credentials": {
                "consumer_key": "env:K", "consumer_secret": "env:S"}}), http=http, environ={"K": "ck", "S": "cs"})
            await channel.set_available("MUG-1", 3)
            await channel.set_available("TEE-L", -2)
            await channel.set_available("NOT-SOLD-HERE", 9)
        assert [(r["path"], r["json"]) for r in shop.recorder.writes("PUT")] == [
            ("/wp-json/wc/v3/products/41", {"manage_stock": True, "stock_quantity": 3}),
            ("/wp-json/wc/v3/products/50/variations/52", {"manage_stock": True, "stock_quantity": 0})]
