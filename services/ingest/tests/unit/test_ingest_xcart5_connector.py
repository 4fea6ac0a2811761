"""The X-Cart 5 REST connector against its stand-in: orders normalised, shipping-status filter, paging walk,
skips (cancelled, shipped), keys, and the shipped write-back (idempotent)."""

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ingest.connectors.base import ConnectorError, ShipmentNotice
from ingest.connectors.xcart5 import XCart5Connector, normalise_xcart5_order
from ingest.domain.errors import OrderSkipped
from ingest.standin_xcart5 import XCart5StandIn

DATA = Path(__file__).parents[1] / "data"
KEY, WRITE_KEY = "read-key", "write-key"
NOW = 1795710000  # a little after the sample orders


@pytest.fixture
def xc5_orders() -> list[dict]:
    return json.loads((DATA / "xcart5" / "orders.json").read_text(encoding="utf-8"))


def connector_for(standin: XCart5StandIn, **kwargs) -> XCart5Connector:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=standin.app), base_url="http://shop")
    return XCart5Connector(http=http, base_url="http://shop", key=kwargs.pop("key", KEY), write_key=WRITE_KEY,
                           clock=lambda: NOW, **kwargs)


async def fetch_all(connector, cursor=None):
    raws, pages = [], 0
    while True:
        page = await connector.fetch(cursor)
        raws += page.orders
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            return raws, cursor, pages


def take(connector, raws):
    """Normalised orders by id, and the skip reasons by id."""
    orders, skipped = {}, {}
    for raw in raws:
        try:
            orders[raw.channel_order_id] = connector.normalise(raw)
        except OrderSkipped as skip:
            skipped[raw.channel_order_id] = skip.reason
    return orders, skipped


class TestXCart5Download:
    async def test_unshipped_orders_are_normalised_with_every_field(self, xc5_orders):
        connector = connector_for(XCart5StandIn(xc5_orders, key=KEY, write_key=WRITE_KEY))
        raws, cursor, _ = await fetch_all(connector)
        orders, skipped = take(connector, raws)
        assert "7009" not in orders and "7009" not in skipped, "shipped (S) is not even listed"
        assert skipped == {"7014": "cancelled"}
        paid, waiting = orders["7012"], orders["7013"]
        assert (paid.channel, paid.order_number, paid.currency, paid.paid) == ("xcart5", "7012", "GBP", True)
        assert paid.buyer.name == "Hamish McAllister" and paid.buyer.email == "h.mcallister@example.co.uk"
        assert paid.shipping_address.country == "GB" and paid.shipping_address.postcode == "EH2 2PR"
        assert [(line.sku, line.quantity, line.unit_price) for line in paid.lines] == [
            ("MUG-ENM-NVY", 2, Decimal("9.50")), ("TEA-TWL-LIN", 3, Decimal("11.00"))]
        assert paid.shipping.service == "Royal Mail Tracked 48" and paid.shipping.cost == Decimal("3.95")
        assert paid.discount == Decimal("1.60") and paid.total() == Decimal("54.35")
        assert paid.notes == "Ring the bell twice."
        assert paid.placed_at == datetime.fromtimestamp(1795700000, UTC).isoformat()
        assert (waiting.currency, waiting.paid, waiting.total()) == ("EUR", False, Decimal("27.40"))
        assert waiting.shipping_address.line1 == "Prinsengracht 263" and waiting.billing_address.line1 == "Keizersgracht 12"
        assert json.loads(cursor) == {"status": 0, "offset": 0}, "a finished walk starts again next poll"

    async def test_the_walk_pages_through_each_unprocessed_status(self, xc5_orders):
        more = [copy.deepcopy(xc5_orders[0]) | {"order_id": 7100 + n, "orderNumber": str(7100 + n)} for n in range(3)]
        standin = XCart5StandIn([*xc5_orders, *more], key=KEY, write_key=WRITE_KEY)
        raws, _, pages = await fetch_all(connector_for(standin, page_size=2))
        ids = [raw.channel_order_id for raw in raws]
        assert sorted(ids) == ["7012", "7013", "7014", "7100", "7101", "7102"] and len(ids) == len(set(ids))
        assert pages == 4  # N: 2 + 2 + 1, then P: 1

    async def test_a_refetched_version_keeps_its_time_and_a_changed_one_moves(self, xc5_orders):
        standin = XCart5StandIn(xc5_orders, key=KEY, write_key=WRITE_KEY)
        connector = connector_for(standin)
        first, _, _ = await fetch_all(connector)
        again, _, _ = await fetch_all(connector)
        assert [(r.channel_order_id, r.updated_at) for r in first] == [(r.channel_order_id, r.updated_at) for r in again]
        standin.orders[7013]["lastRenewDate"] += 600
        changed, _, _ = await fetch_all(connector)
        moved = {r.channel_order_id: r.updated_at for r in changed}
        assert moved["7013"] > {r.channel_order_id: r.updated_at for r in first}["7013"]

    async def test_a_wrong_key_is_a_connector_error(self, xc5_orders):
        connector = connector_for(XCart5StandIn(xc5_orders, key=KEY, write_key=WRITE_KEY), key="guess")
        with pytest.raises(ConnectorError, match="credentials refused"):
            await connector.fetch(None)

    def test_a_shipped_order_is_skipped_as_already_shipped(self, xc5_orders):
        with pytest.raises(OrderSkipped, match="already_shipped"):
            normalise_xcart5_order(json.dumps(xc5_orders[2]))

    def test_tax_on_top_of_the_prices_is_carried_in_the_lines(self, xc5_orders):
        order = copy.deepcopy(xc5_orders[1])
        order["surcharges"].append({"type": "tax", "value": "4.80", "include": False})
        order["total"] = "32.20"
        normalised = normalise_xcart5_order(json.dumps(order))
        assert normalised.lines[0].unit_price == Decimal("14.40") and normalised.total() == Decimal("32.20")


class TestXCart5WriteBack:
    async def test_shipping_sets_status_and_tracking_once(self, xc5_orders):
        standin = XCart5StandIn(xc5_orders, key=KEY, write_key=WRITE_KEY)
        connector = connector_for(standin)
        notice = ShipmentNotice(channel_order_id="7012", carrier="Royal Mail", tracking_number="OM123456785GB",
                                shipped_at=datetime(2026, 11, 28, 10, tzinfo=UTC))
        await connector.confirm_shipment(notice)
        await connector.confirm_shipment(notice)
        assert standin.orders[7012]["shippingStatus"]["code"] == "S"
        assert standin.orders[7012]["trackingNumbers"] == [{"value": "OM123456785GB"}]
        assert len(standin.puts) == 1, "the retry found it done and wrote nothing"
        raws, _, _ = await fetch_all(connector)
        assert "7012" not in [r.channel_order_id for r in raws], "shipped: no longer listed"

    async def test_an_unknown_order_is_a_connector_error(self, xc5_orders):
        connector = connector_for(XCart5StandIn(xc5_orders, key=KEY, write_key=WRITE_KEY))
        notice = ShipmentNotice(channel_order_id="9999", carrier="DPD", tracking_number="X1",
                                shipped_at=datetime(2026, 11, 28, tzinfo=UTC))
        with pytest.raises(ConnectorError, match="not in the shop"):
            await connector.confirm_shipment(notice)

    async def test_cancel_and_refund_are_not_supported(self, xc5_orders):
        connector = connector_for(XCart5StandIn(xc5_orders, key=KEY, write_key=WRITE_KEY))
        with pytest.raises(NotImplementedError):
            await connector.cancel_order("7012", "buyer asked")
