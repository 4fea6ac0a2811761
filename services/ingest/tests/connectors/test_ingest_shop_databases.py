"""The osCommerce, Zen Cart and X-Cart 4 connectors against a real MariaDB (Debian's mariadb-server, started by
the test) loaded with each shop's schema and the research samples: normalised fields, the unprocessed-status
filter, the change cursor, and the write-back (status + history / tracking, idempotent)."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ingest.connectors.base import ConnectorError, ShipmentNotice
from ingest.connectors.registry import CAPABILITIES, build_connector, build_writeback
from ingest.domain.channels import ChannelConfig
from ingest.domain.errors import OrderSkipped, PayloadRejected
from ingest.service_layer.reconciliation import list_window
from ingest.standin_mariadb import MariaDB

pytestmark = pytest.mark.integration  # a real database server (started here, no Kafka or MongoDB needed)

DATA = Path(__file__).parents[1] / "data"
SHIPPED_AT = datetime(2026, 11, 28, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def mariadb():
    with MariaDB() as server:
        yield server


class Shop:
    """One fresh shop database and the connector of a channel configured on it."""

    def __init__(self, server: MariaDB, kind: str, folder: str, **config) -> None:
        self.server, self.name = server, f"{folder}_{uuid.uuid4().hex[:8]}"
        self.dsn = server.database(self.name, DATA / folder / "schema.sql", DATA / folder / "orders.sql")
        options = {"settle_seconds": 0, **config.pop("options", {})}
        self.config = ChannelConfig(channel_id=self.name.replace("_", "-"), name=kind, kind=kind, account="shop",
                                    url=self.dsn, credentials={"password": "env:SHOP_DB_PASSWORD"}, options=options,
                                    **config)
        self.environ = {"SHOP_DB_PASSWORD": server.password}
        self.connector = build_connector(self.config, http=httpx.AsyncClient(), environ=self.environ)

    def sql(self, statements: str) -> str:
        return self.server.sql(statements, database=self.name).stdout.decode()

    async def fetch_all(self, cursor=None):
        raws = []
        while True:
            page = await self.connector.fetch(cursor)
            raws += page.orders
            cursor = page.cursor
            if not page.more:
                return raws, cursor

    def take(self, raws):
        orders, skipped = {}, {}
        for raw in raws:
            try:
                orders[raw.channel_order_id] = self.connector.normalise(raw)
            except OrderSkipped as skip:
                skipped[raw.channel_order_id] = skip.reason
        return orders, skipped


def check_expected(order, expected) -> None:
    assert order.buyer.name == expected["buyer_name"]
    assert order.shipping_address.country == expected["country_code"]
    assert order.currency == expected["currency"]
    assert len(order.lines) == expected["line_count"]
    assert sum(line.quantity for line in order.lines) == expected["total_quantity"]
    assert order.total() == Decimal(expected["grand_total"])


OSC_FAMILY = [("oscommerce", "oscommerce", ["1001", "1002"]), ("zencart", "zencart", ["2001", "2002"])]


@pytest.mark.parametrize(("kind", "folder", "ids"), OSC_FAMILY)
class TestOsCommerceFamilyDownload:
    async def test_the_samples_normalise_to_what_the_research_expects(self, mariadb, expected_orders, kind, folder,
                                                                      ids):
        shop = Shop(mariadb, kind, folder, options={"page_size": 1})
        raws, _ = await shop.fetch_all()
        orders, skipped = shop.take(raws)
        assert sorted(orders) == ids and skipped == {}
        for order_id, order in orders.items():
            assert order.channel == kind and order.order_number == order_id
            check_expected(order, expected_orders[f"{kind}:{order_id}"])
        pending, processing = orders[ids[0]], orders[ids[1]]
        assert (pending.paid, processing.paid) == (False, True), "Pending awaits payment, Processing is paid"
        assert pending.shipping_address.line1 and pending.buyer.email and pending.placed_at.startswith("2026-11-24")

    async def test_chosen_options_are_read_into_the_line_title(self, mariadb, kind, folder, ids):
        shop = Shop(mariadb, kind, folder)
        line = shop.sql(f"SELECT orders_products_id FROM orders_products WHERE orders_id = {ids[1]} "
                        f"ORDER BY orders_products_id LIMIT 1").split("\n")[1]
        extra = ", products_prid" if kind == "zencart" else ""
        shop.sql(f"INSERT INTO orders_products_attributes (orders_id, orders_products_id, products_options, "
                 f"products_options_values, options_values_price, price_prefix{extra}) VALUES ({ids[1]}, {line}, "
                 f"'Size', 'Large', 0, '+'{', 1' if extra else ''})")
        raws, _ = await shop.fetch_all()
        orders, _ = shop.take(raws)
        assert orders[ids[1]].lines[0].title.endswith("(Size: Large)")
        assert not orders[ids[0]].lines[0].title.endswith(")")

    async def test_only_unprocessed_statuses_are_fetched(self, mariadb, kind, folder, ids):
        shop = Shop(mariadb, kind, folder, unprocessed_statuses=["Processing"])
        raws, _ = await shop.fetch_all()
        assert [raw.channel_order_id for raw in raws] == [ids[1]]

    async def test_a_new_order_and_a_status_change_come_after_the_cursor_and_nothing_else(self, mariadb, kind,
                                                                                          folder, ids):
        shop = Shop(mariadb, kind, folder)
        first, cursor = await shop.fetch_all()
        assert sorted(r.channel_order_id for r in first) == ids
        shop.sql(f"UPDATE orders SET orders_status = 3, last_modified = NOW() - INTERVAL 5 SECOND "
                 f"WHERE orders_id = {ids[1]}")  # delivered by hand in the shop: no longer listed
        shop.sql(_copy_order(ids[0], 3001, status=2))
        again, cursor = await shop.fetch_all(cursor)
        assert [r.channel_order_id for r in again] == ["3001"], "only the new order: the others are behind the cursor"
        shop.sql(f"UPDATE orders SET orders_status = 2, last_modified = NOW() WHERE orders_id = {ids[0]}")
        later, _ = await shop.fetch_all(cursor)
        changed = {r.channel_order_id: r for r in later}
        assert ids[0] in changed and changed[ids[0]].updated_at > next(
            r.updated_at for r in first if r.channel_order_id == ids[0])
        assert shop.connector.normalise(changed[ids[0]]).paid, "moved to Processing: paid"

    async def test_an_order_younger_than_the_settle_time_waits(self, mariadb, kind, folder, ids):
        shop = Shop(mariadb, kind, folder, options={"settle_seconds": 600})
        shop.sql(_copy_order(ids[0], 3002, status=1))
        raws, _ = await shop.fetch_all()
        assert "3002" not in [r.channel_order_id for r in raws] and len(raws) == 2

    async def test_a_cancelled_order_is_skipped_and_an_unknown_country_rejected(self, mariadb, kind, folder, ids):
        shop = Shop(mariadb, kind, folder, unprocessed_statuses=["Pending", "Processing", "Cancelled"])
        shop.sql("INSERT INTO orders_status (orders_status_id, language_id, orders_status_name) VALUES (9, 1, 'Cancelled')")
        shop.sql(f"UPDATE orders SET orders_status = 9 WHERE orders_id = {ids[0]}")
        shop.sql(f"UPDATE orders SET delivery_country = 'Atlantis' WHERE orders_id = {ids[1]}")
        raws = {r.channel_order_id: r for r in (await shop.fetch_all())[0]}
        with pytest.raises(OrderSkipped, match="cancelled"):
            shop.connector.normalise(raws[ids[0]])
        with pytest.raises(PayloadRejected, match="Atlantis"):
            shop.connector.normalise(raws[ids[1]])

    async def test_a_wrong_password_is_a_connector_error_that_does_not_show_it(self, mariadb, kind, folder, ids):
        shop = Shop(mariadb, kind, folder)
        wrong = build_connector(shop.config, http=httpx.AsyncClient(), environ={"SHOP_DB_PASSWORD": "not-it-123"})
        with pytest.raises(ConnectorError) as refused:
            await wrong.fetch(None)
        assert "not-it-123" not in str(refused.value) and "denied" in str(refused.value).lower()


def _copy_order(source: str, new_id: int, *, status: int) -> str:
    """SQL copying an order (row, lines, totals) under a new id, placed just now."""
    return (
        f"CREATE TEMPORARY TABLE o AS SELECT * FROM orders WHERE orders_id = {source}; "
        f"UPDATE o SET orders_id = {new_id}, orders_status = {status}, date_purchased = NOW() - INTERVAL 2 SECOND, "
        f"last_modified = NULL; INSERT INTO orders SELECT * FROM o; "
        f"CREATE TEMPORARY TABLE p AS SELECT * FROM orders_products WHERE orders_id = {source}; "
        f"UPDATE p SET orders_id = {new_id}, orders_products_id = orders_products_id + {new_id}; "
        f"INSERT INTO orders_products SELECT * FROM p; "
        f"CREATE TEMPORARY TABLE t AS SELECT * FROM orders_total WHERE orders_id = {source}; "
        f"UPDATE t SET orders_id = {new_id}, orders_total_id = orders_total_id + {new_id}; "
        f"INSERT INTO orders_total SELECT * FROM t;")


@pytest.mark.parametrize(("kind", "folder", "ids"), OSC_FAMILY)
class TestOsCommerceFamilyWriteBack:
    async def test_shipping_sets_delivered_with_one_history_row_however_often_it_is_sent(self, mariadb, kind, folder,
                                                                                        ids):
        shop = Shop(mariadb, kind, folder)
        assert CAPABILITIES[kind].allows("ship") and CAPABILITIES[kind].allows("cancel")
        assert not CAPABILITIES[kind].allows("refund")
        writeback = build_writeback(shop.config, http=httpx.AsyncClient(), environ=shop.environ)
        notice = ShipmentNotice(channel_order_id=ids[1], carrier="Royal Mail", tracking_number="OM123456785GB",
                                shipped_at=SHIPPED_AT)
        await writeback.confirm_shipment(notice)
        await writeback.confirm_shipment(notice)
        assert shop.sql(f"SELECT orders_status, last_modified IS NOT NULL FROM orders WHERE orders_id = {ids[1]}"
                        ).split("\n")[1] == "3\t1"
        history = shop.sql(f"SELECT orders_status_id, comments FROM orders_status_history WHERE orders_id = {ids[1]} "
                           f"AND comments LIKE '%OM123456785GB%'").strip().split("\n")[1:]
        assert history == ["3\tShipped with Royal Mail, tracking number OM123456785GB"]
        raws, _ = await shop.fetch_all()
        assert ids[1] not in [r.channel_order_id for r in raws], "delivered: no longer downloaded"

    async def test_cancel_needs_a_cancelled_status_and_refund_is_not_supported(self, mariadb, kind, folder, ids):
        shop = Shop(mariadb, kind, folder)
        with pytest.raises(ConnectorError, match="no order status named 'Cancelled'"):
            await shop.connector.cancel_order(ids[0], "out of stock")
        shop.sql("INSERT INTO orders_status (orders_status_id, language_id, orders_status_name) VALUES (9, 1, 'Cancelled')")
        await shop.connector.cancel_order(ids[0], "out of stock")
        await shop.connector.cancel_order(ids[0], "out of stock")
        assert shop.sql(f"SELECT COUNT(*) FROM orders_status_history WHERE orders_id = {ids[0]} AND orders_status_id = 9"
                        ).split("\n")[1] == "1"
        with pytest.raises(NotImplementedError):
            await shop.connector.refund(None)

    async def test_an_unknown_order_is_a_connector_error(self, mariadb, kind, folder, ids):
        shop = Shop(mariadb, kind, folder)
        with pytest.raises(ConnectorError, match="not in the shop"):
            await shop.connector.confirm_shipment(ShipmentNotice(
                channel_order_id="424242", carrier="DPD", tracking_number="X1", shipped_at=SHIPPED_AT))


class TestXCart4:
    async def test_the_samples_normalise_to_what_the_research_expects(self, mariadb, expected_orders):
        shop = Shop(mariadb, "xcart", "xcart", options={"currency": "GBP", "page_size": 1})
        raws, _ = await shop.fetch_all()
        orders, skipped = shop.take(raws)
        assert sorted(orders) == ["5101", "5102"] and skipped == {}
        for order_id, order in orders.items():
            check_expected(order, expected_orders[f"xcart:{order_id}"])
        card, transfer = orders["5101"], orders["5102"]
        assert (card.paid, transfer.paid) == (True, False), "P processed is paid, Q queued (bank transfer) is not"
        assert transfer.discount == Decimal("7.05") and transfer.shipping.cost == Decimal("11.90")
        assert transfer.shipping.service == "International Tracked" and transfer.notes.startswith("Proszę")
        assert [(line.sku, line.quantity, line.unit_price) for line in transfer.lines] == [
            ("THR-WOOL-OAT", 1, Decimal("39.00")), ("CUS-45-RUST", 2, Decimal("4.00"))]
        assert card.placed_at == datetime.fromtimestamp(1795519600, UTC).isoformat()

    async def test_only_unprocessed_statuses_and_changes_after_the_cursor_are_fetched(self, mariadb):
        shop = Shop(mariadb, "xcart", "xcart", options={"currency": "GBP"})
        shop.sql("UPDATE xcart_orders SET status = 'C' WHERE orderid = 5101")
        first, cursor = await shop.fetch_all()
        assert [r.channel_order_id for r in first] == ["5102"]
        again, cursor = await shop.fetch_all(cursor)
        assert [(r.channel_order_id, r.updated_at) for r in again] == [(r.channel_order_id, r.updated_at) for r in first]
        # A status change logged in the history makes a newer version of the order.
        shop.sql("UPDATE xcart_orders SET status = 'P' WHERE orderid = 5102; INSERT INTO xcart_order_status_history "
                 "(orderid, date_time, details) VALUES (5102, UNIX_TIMESTAMP() - 1, 'Q -> P')")
        later, _ = await shop.fetch_all(cursor)
        assert [r.channel_order_id for r in later] == ["5102"] and later[0].updated_at > first[0].updated_at
        assert shop.connector.normalise(later[0]).paid

    async def test_shipping_sets_complete_and_the_tracking_number_once(self, mariadb):
        shop = Shop(mariadb, "xcart", "xcart", options={"currency": "GBP"})
        assert CAPABILITIES["xcart"].allows("ship") and not CAPABILITIES["xcart"].allows("cancel")
        notice = ShipmentNotice(channel_order_id="5102", carrier="DPD", tracking_number="15501234567890",
                                shipped_at=SHIPPED_AT)
        await shop.connector.confirm_shipment(notice)
        await shop.connector.confirm_shipment(notice)
        assert shop.sql("SELECT status, tracking FROM xcart_orders WHERE orderid = 5102").split("\n")[1] == \
            "C\t15501234567890"
        raws, _ = await shop.fetch_all()
        assert [r.channel_order_id for r in raws] == ["5101"]
        with pytest.raises(NotImplementedError):
            await shop.connector.cancel_order("5101", "buyer asked")

    async def test_a_shop_without_a_currency_option_is_refused(self, mariadb):
        with pytest.raises(ConnectorError, match="currency"):
            Shop(mariadb, "xcart", "xcart")

    def test_a_skipped_status_says_why(self):
        body = json.dumps({"order": {"orderid": 1, "status": "C"}, "details": [], "currency": "GBP"})
        from ingest.connectors.xcart4 import normalise_xcart4_order
        with pytest.raises(OrderSkipped, match="already_shipped"):
            normalise_xcart4_order(body)


class TestReconciliationWindow:
    @pytest.mark.parametrize(("kind", "folder", "options", "expected"), [
        ("oscommerce", "oscommerce", {}, ["1002"]),
        ("zencart", "zencart", {"timezone": "Europe/London"}, ["2002"]),
        ("xcart", "xcart", {"currency": "GBP"}, ["5102"]),
    ])
    async def test_a_window_lists_the_unprocessed_orders_changed_in_it(self, mariadb, kind, folder, options,
                                                                       expected):
        shop = Shop(mariadb, kind, folder, options=options)
        listed, complete = await list_window(shop.connector, since=datetime(2026, 11, 25, tzinfo=UTC),
                                             until=datetime(2026, 11, 26, tzinfo=UTC))
        assert complete and sorted(listed) == expected
