"""The Shopify REST and GraphQL connectors against their stand-in: Link/page_info and GraphQL cursor paging, the
cursor, the rate limits (REST bucket pacing and 429 + Retry-After, GraphQL query cost and THROTTLED), auth, and a
polled order normalised and published exactly like the webhook of that order."""

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from ingest.connectors.base import ConnectorError, RateLimited
from ingest.connectors.registry import build_connector, polled
from ingest.connectors.shopify import ShopifyConnector, next_page_info
from ingest.connectors.shopify_graphql import LINES_PER_PAGE, ShopifyGraphQLConnector, rest_order
from ingest.domain.channel_orders import normalise_shopify_order
from ingest.entrypoints.demo_shop import random_order
from ingest.domain.channels import ChannelConfig
from ingest.domain.errors import OrderSkipped
from ingest.service_layer.handlers import receive_webhook
from ingest.service_layer.polling import take_order
from ingest.service_layer.reconciliation import list_window
from ingest.standin_shopify import ShopifyStandIn, graphql_order
from ingest.writeback_standins import ShopifyShop
from oms_contracts.ingest.v1 import OrderReceived

TOKEN = "shpat_standin"


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin")


class Sleeps:
    """A sleep that only records how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def connector_for(standin: ShopifyStandIn, **kwargs) -> ShopifyConnector:
    return ShopifyConnector(http=client(standin.app), base_url="http://standin", access_token=TOKEN, **kwargs)


async def fetch_all(connector, cursor=None):
    raws, pages = [], 0
    while True:
        page = await connector.fetch(cursor)
        raws += page.orders
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            return raws, cursor, pages


@pytest.fixture
def samples(shopify_1021, shopify_1022) -> list[dict]:
    return [json.loads(shopify_1021.raw), json.loads(shopify_1022.raw)]


def variant(order: dict, *, id: int, updated: str = "2026-11-26T10:00:00+00:00", **fields) -> dict:
    return copy.deepcopy(order) | {"id": id, "updated_at": updated, **fields}


class TestDownload:
    async def test_the_samples_page_by_page_normalise_to_what_the_research_expects(self, samples, expected_orders):
        standin = ShopifyStandIn(samples, token=TOKEN)
        connector = connector_for(standin, limit=1)
        raws, _, pages = await fetch_all(connector)
        assert pages == 2 and [r.channel_order_id for r in raws] == ["6021448801339", "6021449932347"]
        first, second = standin.requests
        assert first == {"status": "open", "fulfillment_status": "unshipped", "limit": "1"}
        # A page_info request carries only limit and page_info (Shopify refuses anything else with it).
        assert set(second) == {"limit", "page_info"}
        for raw in raws:
            order = connector.normalise(raw)
            expected = expected_orders[f"shopify:{raw.channel_order_id}"]
            assert order.channel == "shopify" and order.channel_order_id == raw.channel_order_id
            assert order.buyer.name == expected["buyer_name"]
            assert order.shipping_address.country == expected["country_code"]
            assert order.currency == expected["currency"]
            assert len(order.lines) == expected["line_count"]
            assert sum(line.quantity for line in order.lines) == expected["total_quantity"]
            assert str(order.total()) == expected["grand_total"]
        assert raws[0].updated_at == datetime(2026, 11, 24, 13, 58, 5, tzinfo=UTC)

    async def test_cancelled_closed_and_shipped_orders_are_not_listed(self, samples):
        base = samples[0]
        standin = ShopifyStandIn([
            variant(base, id=1), variant(base, id=2, cancelled_at="2026-11-26T11:00:00+00:00"),
            variant(base, id=3, closed_at="2026-11-26T11:00:00+00:00"),
            variant(base, id=4, fulfillment_status="fulfilled"), variant(base, id=5, fulfillment_status="partial"),
        ], token=TOKEN)
        raws, _, _ = await fetch_all(connector_for(standin))
        assert [r.channel_order_id for r in raws] == ["1"]

    async def test_an_order_cancelled_after_it_was_listed_is_skipped(self, samples):
        connector = connector_for(ShopifyStandIn([variant(samples[0], id=7)], token=TOKEN))
        [raw] = (await connector.fetch(None)).orders
        cancelled = json.loads(raw.body) | {"cancelled_at": "2026-11-26T11:00:00+00:00", "cancel_reason": "customer"}
        with pytest.raises(OrderSkipped, match="cancelled"):
            connector.normalise(type(raw)(raw.channel_order_id, json.dumps(cancelled), raw.updated_at))

    async def test_the_cursor_moves_to_the_latest_change_and_only_changes_come_next(self, samples):
        base = samples[0]
        standin = ShopifyStandIn([variant(base, id=11, updated="2026-11-26T10:00:00+00:00"),
                                  variant(base, id=12, updated="2026-11-26T12:30:00+01:00")], token=TOKEN)
        connector = connector_for(standin, limit=1)
        raws, cursor, _ = await fetch_all(connector)
        assert len(raws) == 2
        # 12:30+01:00 is 11:30 UTC, the later of the two: updated_at_min is inclusive, so it is the cursor.
        assert json.loads(cursor) == {"since": "2026-11-26T11:30:00+00:00", "page_info": None, "max": None}
        again, cursor, _ = await fetch_all(connector, cursor)
        assert [r.channel_order_id for r in again] == ["12"]  # the same version again: the same intake, no-op
        standin.listed.append(variant(base, id=13, updated="2026-11-26T13:00:00+00:00"))
        standin.listed[0]["updated_at"] = "2026-11-26T12:00:00+00:00"
        changed, cursor, _ = await fetch_all(connector, cursor)
        assert sorted(r.channel_order_id for r in changed) == ["11", "12", "13"]
        assert json.loads(cursor)["since"] == "2026-11-26T13:00:00+00:00"

    async def test_an_order_changed_during_a_walk_behind_a_newer_one_is_read_next_time(self, samples):
        base = samples[0]
        standin = ShopifyStandIn([variant(base, id=61, updated="2026-11-26T09:00:00+00:00"),
                                  variant(base, id=62, updated="2026-11-26T09:30:00+00:00")], token=TOKEN)
        clock = [datetime(2026, 11, 26, 10, 0, tzinfo=UTC)]
        connector = connector_for(standin, limit=1, now=lambda: clock[0])
        first = await connector.fetch(None)
        # While the walk is on page 2 (Shopify pages by id), order 61 changes, then 62 changes later still.
        standin.listed[0]["updated_at"] = "2026-11-26T10:00:10+00:00"
        standin.listed[1]["updated_at"] = "2026-11-26T10:00:20+00:00"
        clock[0] = datetime(2026, 11, 26, 10, 0, 30, tzinfo=UTC)
        rest, cursor, _ = await fetch_all(connector, first.cursor)
        assert [r.channel_order_id for r in first.orders + rest] == ["61", "62"]
        # Not 10:00:20 (which would skip 61's change at 10:00:10): five minutes before the walk began.
        assert json.loads(cursor)["since"] == "2026-11-26T09:55:00+00:00"
        again, _, _ = await fetch_all(connector, cursor)
        assert {(r.channel_order_id, r.updated_at.minute, r.updated_at.second) for r in again} == {
            ("61", 0, 10), ("62", 0, 20)}

    async def test_a_walk_cut_short_resumes_from_its_page_info(self, samples):
        base = samples[0]
        standin = ShopifyStandIn([variant(base, id=n) for n in range(21, 25)], token=TOKEN)
        connector = connector_for(standin, limit=2)
        first = await connector.fetch(None)
        assert first.more and json.loads(first.cursor)["page_info"]
        # A new connector (a restarted worker) with the stored cursor reads the rest, not the start again.
        rest, _, _ = await fetch_all(connector_for(standin, limit=2), first.cursor)
        assert [r.channel_order_id for r in first.orders + rest] == ["21", "22", "23", "24"]

    async def test_a_page_info_shopify_refuses_starts_the_walk_again_from_since(self, samples):
        standin = ShopifyStandIn([variant(samples[0], id=n) for n in range(51, 54)], token=TOKEN)
        stale = json.dumps({"since": "2026-11-01T00:00:00+00:00", "page_info": "not-a-cursor", "max": None})
        raws, cursor, _ = await fetch_all(connector_for(standin, limit=2), stale)
        assert [r.channel_order_id for r in raws] == ["51", "52", "53"]
        assert standin.requests[0] == {"limit": "2", "page_info": "not-a-cursor"}
        assert standin.requests[1]["updated_at_min"] == "2026-11-01T00:00:00+00:00"

    async def test_start_option_is_the_first_updated_at_min(self, samples):
        standin = ShopifyStandIn([variant(samples[0], id=31, updated="2026-11-20T00:00:00+00:00"),
                                  variant(samples[0], id=32, updated="2026-11-27T00:00:00+00:00")], token=TOKEN)
        raws, _, _ = await fetch_all(connector_for(standin, start="2026-11-25T00:00:00+00:00"))
        assert [r.channel_order_id for r in raws] == ["32"]
        assert standin.requests[0]["updated_at_min"] == "2026-11-25T00:00:00+00:00"

    async def test_reconciliation_lists_a_window(self, samples):
        standin = ShopifyStandIn([variant(samples[0], id=41, updated="2026-11-20T00:00:00+00:00"),
                                  variant(samples[0], id=42, updated="2026-11-27T00:00:00+00:00")], token=TOKEN)
        listed, complete = await list_window(connector_for(standin, limit=1),
                                             since=datetime(2026, 11, 26, tzinfo=UTC),
                                             until=datetime(2026, 11, 28, tzinfo=UTC))
        assert sorted(listed) == ["42"] and complete


class TestLinkHeader:
    @pytest.mark.parametrize("link, expected", [
        ('<https://shop.myshopify.com/admin/api/2025-01/orders.json?limit=250&page_info=abc123>; rel="next"',
         "abc123"),
        ('<https://s.myshopify.com/admin/api/2025-01/orders.json?page_info=prev1&limit=1>; rel="previous", '
         '<https://s.myshopify.com/admin/api/2025-01/orders.json?page_info=next2&limit=1>; rel="next"', "next2"),
        ('<https://s.myshopify.com/admin/api/2025-01/orders.json?page_info=prev1&limit=1>; rel="previous"', None),
        (None, None),
    ])
    def test_the_next_page_info_is_read_from_the_link_header(self, link, expected):
        response = httpx.Response(200, headers={"Link": link} if link else {})
        assert next_page_info(response) == expected


class TestRateLimit:
    async def test_a_full_bucket_makes_the_connector_wait_before_its_next_call(self, samples):
        standin = ShopifyStandIn(samples, token=TOKEN, bucket_size=1, leak_rate=0.001, retry_after=1.5)
        sleeps = Sleeps()
        connector = connector_for(standin, limit=1, sleep=sleeps)
        await connector.fetch(None)
        standin._level = 0.0  # the bucket drains while we "sleep" (the fake sleep does not)
        page = await connector.fetch(None)
        assert len(page.orders) == 1
        # The first answer said 1/1: the connector paced itself before the second call.
        assert sleeps.waits and sleeps.waits[0] > 0

    async def test_a_429_with_a_short_retry_after_is_retried(self, samples):
        standin = ShopifyStandIn(samples, token=TOKEN, bucket_size=1, leak_rate=0.001, retry_after=1.5)
        standin._level = 1.0  # full
        sleeps = Sleeps()

        async def drain(seconds):
            await sleeps(seconds)
            standin._level = 0.0

        page = await connector_for(standin, sleep=drain).fetch(None)
        assert len(page.orders) == 2 and standin.throttled == 1 and sleeps.waits == [1.5]

    async def test_a_long_retry_after_goes_to_the_poller(self, samples):
        standin = ShopifyStandIn(samples, token=TOKEN, bucket_size=1, leak_rate=0.001, retry_after=30)
        standin._level = 1.0
        with pytest.raises(RateLimited) as limited:
            await connector_for(standin, sleep=Sleeps(), max_wait=10).fetch(None)
        assert limited.value.retry_after == 30

    async def test_pacing_waits_in_proportion_to_how_full_the_bucket_is(self):
        connector = ShopifyConnector(http=None, base_url="http://x", access_token=TOKEN, sleep=Sleeps())
        connector.bucket = (39, 40)
        await connector._pace()
        connector.bucket = (10, 40)
        await connector._pace()
        assert connector.sleep.waits == [0.5]


class TestRefusals:
    async def test_a_wrong_token_is_a_connector_error_without_the_token(self, samples):
        connector = ShopifyConnector(http=client(ShopifyStandIn(samples, token=TOKEN).app), base_url="http://standin",
                                     access_token="shpat_wrong")
        with pytest.raises(ConnectorError, match="credentials refused") as refused:
            await connector.fetch(None)
        assert "shpat_wrong" not in str(refused.value)

    def test_the_registry_builds_it_and_polls_shopify_channels(self):
        config = ChannelConfig(channel_id="shop", name="Shop", kind="shopify", account="fernbrook",
                               url="https://fernbrook.myshopify.com", credentials={"access_token": "env:SHOP_TOKEN"},
                               options={"api": "rest", "start": "2026-11-01T00:00:00Z", "limit": 100})
        connector = build_connector(config, http=httpx.AsyncClient(), environ={"SHOP_TOKEN": "t"})
        assert isinstance(connector, ShopifyConnector) and connector.limit == 100
        assert connector.start == "2026-11-01T00:00:00+00:00"
        assert polled(config) and not polled(config.model_copy(update={"options": {"poll": False}}))
        with pytest.raises(ConnectorError, match="offset"):
            build_connector(config.model_copy(update={"options": {"api": "rest", "start": "2026-11-01"}}),
                            http=httpx.AsyncClient(),
                            environ={"SHOP_TOKEN": "t"})
        with pytest.raises(ConnectorError, match="access_token"):
            build_connector(config.model_copy(update={"credentials": {}}), http=httpx.AsyncClient())


class TestSameOrderByWebhookAndPoll:
    async def test_the_polled_order_is_published_exactly_as_its_webhook(
        self, shopify_1021, webhook_secrets, store, bus, clock
    ):
        receipt = await receive_webhook(channel="shopify", account="fernbrook",
                                        headers=list(shopify_1021.headers.items()), raw=shopify_1021.raw,
                                        secrets=webhook_secrets, store=store, bus=bus, clock=clock,
                                        max_body_bytes=1_000_000)
        assert receipt.intake_id is not None
        config = ChannelConfig(channel_id="shop", name="Shop", kind="shopify", account="fernbrook",
                               url="http://standin", credentials={"access_token": "env:T"})
        connector = connector_for(ShopifyStandIn([json.loads(shopify_1021.raw)], token=TOKEN))
        [raw] = (await connector.fetch(None)).orders
        await take_order(config, connector, raw, store=store, bus=bus, clock=clock, max_body_bytes=1_000_000,
                         publish_timeout=5)
        (by_webhook, webhook_key), (by_poll, poll_key) = bus.published
        assert webhook_key == poll_key == "shopify:6021448801339"
        hooked, polled_ = bus.payloads(OrderReceived)
        assert polled_.order == hooked.order
        assert polled_.channel_updated_at == hooked.channel_updated_at
        assert polled_.intake_id != hooked.intake_id  # two receipts of one order: orders keeps one by channel id

    async def test_an_updated_order_is_a_new_version(self, samples, store, bus, clock):
        config = ChannelConfig(channel_id="shop", name="Shop", kind="shopify", account="fernbrook",
                               url="http://standin", credentials={"access_token": "env:T"})
        standin = ShopifyStandIn([samples[0]], token=TOKEN)
        connector = connector_for(standin)
        for _ in range(2):
            [raw] = (await connector.fetch(None)).orders
            await take_order(config, connector, raw, store=store, bus=bus, clock=clock, max_body_bytes=1_000_000,
                             publish_timeout=5)
        assert len(bus.published) == 1  # the same version twice: one intake
        later = datetime.fromisoformat(samples[0]["updated_at"]) + timedelta(minutes=5)
        standin.listed[0] = samples[0] | {"updated_at": later.isoformat(), "financial_status": "paid"}
        [raw] = (await connector.fetch(None)).orders
        await take_order(config, connector, raw, store=store, bus=bus, clock=clock, max_body_bytes=1_000_000,
                         publish_timeout=5)
        assert len(bus.published) == 2 and bus.payloads(OrderReceived)[-1].channel_updated_at == later


def graphql_connector(standin: ShopifyStandIn, **kwargs) -> ShopifyGraphQLConnector:
    return ShopifyGraphQLConnector(http=client(standin.app), base_url="http://standin", access_token=TOKEN, **kwargs)


class TestGraphQL:
    async def test_the_samples_page_by_page_normalise_exactly_as_their_webhooks(self, samples, shopify_1021,
                                                                                shopify_1022, expected_orders):
        standin = ShopifyStandIn(samples, token=TOKEN)
        connector = graphql_connector(standin, first=1)
        raws, _, pages = await fetch_all(connector)
        assert pages == 2 and [r.channel_order_id for r in raws] == ["6021448801339", "6021449932347"]
        assert json.loads(raws[0].body)["id"] == "gid://shopify/Order/6021448801339"  # kept as Shopify sent it
        assert standin.graphql_requests[0]["query"] == "status:open fulfillment_status:unshipped"
        assert standin.graphql_requests[1]["after"]
        for raw, hook in zip(raws, (shopify_1021, shopify_1022)):
            by_webhook, updated = normalise_shopify_order(hook.raw.decode("utf-8"))
            assert connector.normalise(raw) == by_webhook and raw.updated_at == updated
            assert str(by_webhook.total()) == expected_orders[f"shopify:{raw.channel_order_id}"]["grand_total"]

    @pytest.mark.parametrize("seed", range(12))
    def test_demo_shop_orders_read_the_same_through_graphql(self, seed):
        order = random_order(random.Random(seed), now=datetime(2026, 11, 28, 9, tzinfo=UTC), paid=seed % 3 != 0)
        by_rest, updated = normalise_shopify_order(json.dumps(order))
        node = graphql_order(json.loads(json.dumps(order)))
        by_graphql, updated_again = normalise_shopify_order(json.dumps(rest_order(node)))
        assert by_graphql == by_rest and updated_again == updated

    async def test_an_order_with_more_lines_than_a_page_gets_all_of_them(self, samples):
        big = copy.deepcopy(samples[0])
        line = big["line_items"][0]
        big["line_items"] = [line | {"id": 9000 + n} for n in range(LINES_PER_PAGE + 5)]
        total = f"{24 * (LINES_PER_PAGE + 5) + Decimal('3.99')}"
        big["total_price"] = total
        big["total_price_set"]["presentment_money"]["amount"] = total
        connector = graphql_connector(ShopifyStandIn([big], token=TOKEN))
        [raw] = (await connector.fetch(None)).orders
        order = connector.normalise(raw)
        assert len(order.lines) == LINES_PER_PAGE + 5 and str(order.total()) == total

    async def test_the_since_goes_into_the_search_query(self, samples):
        standin = ShopifyStandIn([variant(samples[0], id=71, updated="2026-11-20T00:00:00+00:00"),
                                  variant(samples[0], id=72, updated="2026-11-27T00:00:00+00:00")], token=TOKEN)
        raws, cursor, _ = await fetch_all(graphql_connector(standin, start="2026-11-25T00:00:00+00:00"))
        assert [r.channel_order_id for r in raws] == ["72"]
        assert standin.graphql_requests[0]["query"].endswith("updated_at:>='2026-11-25T00:00:00+00:00'")
        assert json.loads(cursor)["since"] == "2026-11-27T00:00:00+00:00"

    async def test_a_cursor_shopify_refuses_starts_the_walk_again(self, samples):
        standin = ShopifyStandIn(samples, token=TOKEN)
        stale = json.dumps({"since": None, "after": "bm90LWEtY3Vyc29y", "max": None})
        raws, _, _ = await fetch_all(graphql_connector(standin), stale)
        assert [r.channel_order_id for r in raws] == ["6021448801339", "6021449932347"]

    async def test_a_throttled_query_waits_for_the_points_it_needs(self, samples):
        standin = ShopifyStandIn(samples, token=TOKEN)
        standin.points, standin.restore_rate = 0.0, 1000.0  # the points come back in well under a second

        async def refill(seconds):
            waits.append(seconds)
            standin.points = 1000.0

        waits = []
        page = await graphql_connector(standin, sleep=refill).fetch(None)
        assert len(page.orders) == 2 and standin.throttled == 1 and len(waits) == 1 and 0 < waits[0] < 1

    async def test_a_long_throttle_goes_to_the_poller(self, samples):
        standin = ShopifyStandIn(samples, token=TOKEN)
        standin.points, standin.restore_rate = 0.0, 1.0
        with pytest.raises(RateLimited) as limited:
            await graphql_connector(standin, sleep=Sleeps(), max_wait=10).fetch(None)
        assert limited.value.retry_after > 10

    async def test_a_wrong_token_is_refused(self, samples):
        connector = ShopifyGraphQLConnector(http=client(ShopifyStandIn(samples, token=TOKEN).app),
                                            base_url="http://standin", access_token="shpat_wrong")
        with pytest.raises(ConnectorError, match="credentials refused"):
            await connector.fetch(None)

    def test_it_is_the_default_and_option_api_rest_chooses_rest(self):
        config = ChannelConfig(channel_id="shop", name="Shop", kind="shopify", account="fernbrook",
                               url="https://fernbrook.myshopify.com", credentials={"access_token": "env:SHOP_TOKEN"},
                               options={"first": 5})
        connector = build_connector(config, http=httpx.AsyncClient(), environ={"SHOP_TOKEN": "t"})
        assert isinstance(connector, ShopifyGraphQLConnector) and connector.first == 5
        rest = build_connector(config.model_copy(update={"options": {"api": "rest"}}), http=httpx.AsyncClient(),
                               environ={"SHOP_TOKEN": "t"})
        assert isinstance(rest, ShopifyConnector)
        with pytest.raises(ConnectorError, match="graphql or rest"):
            build_connector(config.model_copy(update={"options": {"api": "soap"}}), http=httpx.AsyncClient(),
                            environ={"SHOP_TOKEN": "t"})

    async def test_the_write_back_shop_answers_both_listings_and_its_fulfilment_queries(self, samples):
        shop = ShopifyShop(token=TOKEN, listed=samples, orders={"6021448801339": ["11"]})
        connector = ShopifyGraphQLConnector(http=client(shop.app), base_url="http://standin", access_token=TOKEN)
        assert len((await connector.fetch(None)).orders) == 2
        rest = ShopifyConnector(http=client(shop.app), base_url="http://standin", access_token=TOKEN)
        assert len((await rest.fetch(None)).orders) == 2
