"""Magento 2, eBay and Amazon connectors against their stand-ins: samples normalised, paging, auth, 429."""

import copy
import json
from pathlib import Path

import httpx
import pytest

from ingest.connectors.amazon import FBA_LOCK_REASON, AmazonConnector
from ingest.connectors.base import ConnectorError, RateLimited
from ingest.connectors.ebay import EbayConnector
from ingest.connectors.magento2 import MagentoConnector
from ingest.domain.errors import OrderSkipped
from ingest.standins import AmazonStandIn, EbayStandIn, MagentoStandIn, serve

DATA = Path(__file__).parents[1] / "data"


def load(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin")


async def fetch_all(connector, cursor=None):
    raws, pages = [], 0
    while True:
        page = await connector.fetch(cursor)
        raws += page.orders
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            return raws, cursor, pages


def check(order, expected):
    assert order.buyer.name == expected["buyer_name"]
    assert order.shipping_address.country == expected["country_code"]
    assert order.currency == expected["currency"]
    assert len(order.lines) == expected["line_count"]
    assert sum(line.quantity for line in order.lines) == expected["total_quantity"]
    assert str(order.total().quantize(__import__("decimal").Decimal("0.01"))) == expected["grand_total"]


@pytest.fixture
def magento_orders():
    return load("magento2/orders-search.json")["items"]


@pytest.fixture
def ebay_orders():
    return load("ebay/getOrders.json")["orders"]


@pytest.fixture
def amazon_shop():
    orders = load("amazon/getOrders.json")["payload"]["Orders"]
    items = {o["AmazonOrderId"]: load(f"amazon/getOrderItems.{o['AmazonOrderId']}.json")["payload"]["OrderItems"]
             for o in orders}
    return orders, items


async def no_sleep(seconds):
    no_sleep.slept.append(seconds)


class TestMagento:
    async def test_the_samples_normalise_to_what_the_research_expects(self, magento_orders, expected_orders):
        standin = MagentoStandIn(magento_orders, token="t0k")
        connector = MagentoConnector(http=client(standin.app), base_url="http://standin", token="t0k", page_size=1)
        raws, _, pages = await fetch_all(connector)
        assert pages == 2 and [r.channel_order_id for r in raws] == ["000000311", "000000318"]
        for raw in raws:
            check(connector.normalise(raw), expected_orders[f"magento2:{raw.channel_order_id}"])

    async def test_only_unprocessed_statuses_are_fetched_and_the_cursor_moves_on(self, magento_orders):
        complete = copy.deepcopy(magento_orders[1]) | {"entity_id": 400, "increment_id": "000000400",
                                                       "status": "complete", "updated_at": "2026-11-26 09:00:00"}
        standin = MagentoStandIn([*magento_orders, complete], token="t0k")
        connector = MagentoConnector(http=client(standin.app), base_url="http://standin", token="t0k")
        raws, cursor, _ = await fetch_all(connector)
        assert "000000400" not in [r.channel_order_id for r in raws]
        assert json.loads(cursor)["since"] == "2026-11-25 16:41:30"

    async def test_a_wrong_token_is_a_connector_error_with_the_reason(self, magento_orders):
        standin = MagentoStandIn(magento_orders, token="t0k")
        connector = MagentoConnector(http=client(standin.app), base_url="http://standin", token="wrong")
        with pytest.raises(ConnectorError, match="credentials refused .401") as error:
            await connector.fetch(None)
        assert "wrong" not in str(error.value)

    def test_a_cancelled_order_is_skipped(self, magento_orders):
        connector = MagentoConnector(http=None, base_url="http://x", token="t")
        body = json.dumps(magento_orders[0] | {"status": "canceled"})
        with pytest.raises(OrderSkipped, match="cancelled"):
            connector.normalise(type("R", (), {"body": body})())


class TestEbay:
    async def test_the_samples_normalise_and_offset_paging_reaches_every_order(self, ebay_orders, expected_orders):
        standin = EbayStandIn(ebay_orders, token="t0k")
        connector = EbayConnector(http=client(standin.app), base_url="http://standin", token="t0k", limit=1,
                                  start="2026-11-24T00:00:00.000Z")
        raws, cursor, pages = await fetch_all(connector)
        assert pages == 2 and len(raws) == 2
        for raw in raws:
            check(connector.normalise(raw), expected_orders[f"ebay:{raw.channel_order_id}"])
        assert json.loads(cursor)["since"] == "2026-11-24T19:06:40.000Z"

    async def test_an_order_already_fulfilled_is_imported_flagged_or_skipped_by_setting(self, ebay_orders):
        shipped = ebay_orders[0] | {"orderFulfillmentStatus": "FULFILLED"}
        standin = EbayStandIn([shipped], token="t0k")
        connector = EbayConnector(http=client(standin.app), base_url="http://standin", token="t0k")
        [raw] = (await connector.fetch(None)).orders
        assert connector.placement(raw).shipped_on_channel is True
        skipping = EbayConnector(http=client(standin.app), base_url="http://standin", token="t0k", skip_shipped=True)
        assert (await skipping.fetch(None)).orders == []

    def test_a_cancelled_order_is_skipped(self, ebay_orders):
        connector = EbayConnector(http=None, token="t")
        body = json.dumps(ebay_orders[0] | {"cancelStatus": {"cancelState": "CANCELED"}})
        with pytest.raises(OrderSkipped, match="cancelled"):
            connector.normalise(type("R", (), {"body": body})())

    async def test_a_bad_token_is_a_connector_error(self, ebay_orders):
        standin = EbayStandIn(ebay_orders, token="t0k")
        connector = EbayConnector(http=client(standin.app), base_url="http://standin", token="expired")
        with pytest.raises(ConnectorError, match="Invalid access token"):
            await connector.fetch(None)


class TestAmazon:
    async def test_the_samples_normalise_with_their_items_over_real_http(self, amazon_shop, expected_orders):
        orders, items = amazon_shop
        server = serve(AmazonStandIn(orders, items, token="t0k", page_size=1).app)
        try:
            async with httpx.AsyncClient() as http:
                connector = AmazonConnector(http=http, access_token="t0k", base_url=server.url,
                                            start="2026-11-01T00:00:00Z")
                raws, cursor, pages = await fetch_all(connector)
        finally:
            server.stop()
        assert pages == 2
        for raw in raws:
            check(connector.normalise(raw), expected_orders[f"amazon:{raw.channel_order_id}"])
        assert "next" not in json.loads(cursor)

    async def test_a_429_waits_its_retry_after_and_goes_on(self, amazon_shop):
        orders, items = amazon_shop
        standin = AmazonStandIn(orders, items, token="t0k", burst=1, rate=0.0001, retry_after=2)
        no_sleep.slept = []
        connector = AmazonConnector(http=client(standin.app), access_token="t0k", base_url="http://standin",
                                    start="2026-11-01T00:00:00Z", sleep=no_sleep, max_wait=1)
        with pytest.raises(RateLimited) as limited:
            await connector.fetch(None)
        assert standin.throttled == 1 and limited.value.retry_after == 2

    async def test_short_retry_afters_are_slept_through(self, amazon_shop):
        orders, items = amazon_shop
        standin = AmazonStandIn(orders, items, token="t0k", burst=1, rate=5, retry_after=0.25)
        connector = AmazonConnector(http=client(standin.app), access_token="t0k", base_url="http://standin",
                                    start="2026-11-01T00:00:00Z", items_limit=(100, 100))
        raws, _, _ = await fetch_all(connector)
        assert len(raws) == 2 and standin.throttled >= 1

    def test_fba_orders_are_imported_locked(self, amazon_shop):
        orders, items = amazon_shop
        connector = AmazonConnector(http=None, access_token="t")
        afn = orders[0] | {"FulfillmentChannel": "AFN", "OrderStatus": "Shipped"}
        raw = type("R", (), {"body": json.dumps({"order": afn, "items": items[orders[0]["AmazonOrderId"]]})})()
        assert connector.placement(raw).lock_reason == FBA_LOCK_REASON
        assert connector.normalise(raw).channel_order_id == orders[0]["AmazonOrderId"]

    async def test_a_refused_token_is_a_connector_error(self, amazon_shop):
        orders, items = amazon_shop
        standin = AmazonStandIn(orders, items, token="t0k")
        connector = AmazonConnector(http=client(standin.app), access_token="nope", base_url="http://standin")
        with pytest.raises(ConnectorError, match="credentials refused .403"):
            await connector.fetch(None)
