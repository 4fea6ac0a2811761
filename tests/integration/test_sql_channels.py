"""Database channels through the real services: osCommerce, Zen Cart and X-Cart 4 shops on a real MariaDB (started
here) and an X-Cart 5 REST stand-in are polled by the ingest worker; the sample orders land in Open Orders with
the normalised fields right, orders outside the unprocessed statuses (and cancelled ones) do not, and polling the
same orders again and again makes one order each."""

import json
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.standin_mariadb import MariaDB
from ingest.standin_xcart5 import XCart5StandIn
from ingest.standins import serve
from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[2] / "services" / "ingest" / "tests" / "data"
EXPECTED = {f"{o['channel']}:{o['channel_order_id']}": o
            for o in json.loads((DATA / "channels-expected.json").read_text(encoding="utf-8"))["orders"]}


@pytest.fixture
def password_ref(mariadb, tmp_path) -> str:
    """The shop database password in a file, referenced as `file:<path>` (the worker resolves it)."""
    path = tmp_path / "shop-db-password"
    path.write_text(mariadb.password)
    return f"file:{path}"


async def open_order(ops, system, channel: str, channel_order_id: str) -> dict | None:
    response = await ops.get(f"{system.url('orders')}/orders/{order_id_for(channel, channel_order_id)}")
    return response.json() if response.status_code == 200 else None


CONFIGURED: dict[str, dict] = {}


async def configure(admin, system, channel_id: str, body: dict) -> None:
    response = await admin.put(f"{system.url('ingest')}/channels/{channel_id}", json=body)
    assert response.status_code == 200, response.text
    CONFIGURED[channel_id] = body


@pytest.fixture(autouse=True)
async def disable_channels_after(admin, request):
    """Once a test is done with its shop, its channels are disabled: the worker stops polling a database that
    goes away with this module."""
    yield
    if "system" not in request.fixturenames:
        return
    system = request.getfixturevalue("system")
    for channel_id, body in list(CONFIGURED.items()):
        answer = await admin.put(f"{system.url('ingest')}/channels/{channel_id}", json={**body, "enabled": False})
        assert answer.status_code == 200, answer.text
        CONFIGURED.pop(channel_id)


async def intakes_of(ops, system, channel: str, account: str) -> list[dict]:
    intake = (await ops.get(f"{system.url('ingest')}/intake", params={"channel": channel, "limit": 500})).json()
    return [i for i in intake if i["account"] == account]


def check_sample(order: dict, expected: dict) -> None:
    details = order["details"]
    assert order["status"] == "open"
    assert details["buyer"]["name"] == expected["buyer_name"]
    assert details["shipping_address"]["country"] == expected["country_code"]
    assert order["currency"] == expected["currency"] == details["currency"]
    assert len(details["lines"]) == expected["line_count"]
    assert sum(line["quantity"] for line in details["lines"]) == expected["total_quantity"]
    assert Decimal(str(order["total"])) == Decimal(expected["grand_total"])


class TestDatabaseShops:
    async def test_sample_orders_land_in_open_orders_once_and_other_statuses_do_not(
        self, system, ops, admin, wait_for, mariadb, password_ref
    ):
        run = uuid.uuid4().hex[:6]
        shops = {}
        for kind, folder in (("oscommerce", "oscommerce"), ("zencart", "zencart"), ("xcart", "xcart")):
            name = f"it_{folder}_{run}"
            dsn = mariadb.database(name, DATA / folder / "schema.sql", DATA / folder / "orders.sql")
            shops[kind] = (name, dsn)
        # Orders outside the unprocessed statuses: delivered (osCommerce 3), a shop status Cancelled, X-Cart complete.
        osc, zen, xc = shops["oscommerce"][0], shops["zencart"][0], shops["xcart"][0]
        mariadb.sql("UPDATE orders SET orders_status = 3 WHERE orders_id = 1001", database=osc)
        mariadb.sql("INSERT INTO orders_status (orders_status_id, language_id, orders_status_name) "
                    "VALUES (9, 1, 'Cancelled'); UPDATE orders SET orders_status = 9 WHERE orders_id = 2001",
                    database=zen)
        mariadb.sql("UPDATE xcart_orders SET status = 'C' WHERE orderid = 5101", database=xc)
        for kind, (name, dsn) in shops.items():
            options = {"settle_seconds": 0} | ({"currency": "GBP"} if kind == "xcart" else {})
            await configure(admin, system, f"{kind}-{run}", {
                "name": f"{kind} shop", "kind": kind, "account": f"{kind}{run}", "url": dsn,
                "credentials": {"password": password_ref}, "interval_seconds": 1, "options": options})
        imported = [("oscommerce", "1002"), ("zencart", "2002"), ("xcart", "5102")]
        left_out = [("oscommerce", "1001"), ("zencart", "2001"), ("xcart", "5101")]

        async def all_open():
            found = {key: await open_order(ops, system, *key) for key in imported}
            return found if all(found.values()) else None

        found = await wait_for(all_open, timeout=60, what="the database shops' orders in Open Orders")
        for (channel, order_id), order in found.items():
            check_sample(order, EXPECTED[f"{channel}:{order_id}"])
        zen_order = found[("zencart", "2002")]["details"]
        # EUR on a GBP shop: every stored value × currency_value, rounded row by row.
        assert [Decimal(line["unit_price"]) for line in zen_order["lines"]] == [Decimal("21.06"), Decimal("14.04")]
        assert Decimal(zen_order["shipping"]["cost"]) == Decimal("8.78")
        assert Decimal(zen_order["discount"]) == Decimal("5.62") and found[("zencart", "2002")]["paid"] is True
        osc_order = found[("oscommerce", "1002")]["details"]
        assert osc_order["shipping_address"]["line2"] == "Lgh 1102" and osc_order["buyer"]["email"] == \
            "asa.lindqvist@example.se"
        assert [line["sku"] for line in osc_order["lines"]] == ["CDL-BWX-NAT", "SNF-BRASS"]
        assert Decimal(osc_order["discount"]) == Decimal("2.90")
        xc_order = found[("xcart", "5102")]
        assert xc_order["paid"] is False and Decimal(xc_order["details"]["discount"]) == Decimal("7.05")
        assert xc_order["details"]["shipping"]["service"] == "International Tracked"

        # Polled every second: the same orders are read again and again, yet each is one intake and one order.
        status = (await ops.get(f"{system.url('ingest')}/channels/zencart-{run}")).json()["status"]

        async def polled_again():
            now = (await ops.get(f"{system.url('ingest')}/channels/zencart-{run}")).json()["status"]
            return now["pages"] >= status["pages"] + 3 and now["orders_fetched"] > status["orders_fetched"]

        await wait_for(polled_again, timeout=30, what="more polls of the Zen Cart shop")
        for kind in shops:
            mine = await intakes_of(ops, system, kind, f"{kind}{run}")
            assert len(mine) == 1 and mine[0]["status"] == "published", (kind, mine)
        for key in left_out:
            assert await open_order(ops, system, *key) is None, key

        # A status change in the shop (Delivered -> Processing, last_modified now) is fetched as a new version.
        mariadb.sql("UPDATE orders SET orders_status = 2, last_modified = NOW() WHERE orders_id = 1001", database=osc)
        changed = await wait_for(lambda: open_order(ops, system, "oscommerce", "1001"), timeout=30,
                                 what="osCommerce order 1001 after it moved to Processing")
        check_sample(changed, EXPECTED["oscommerce:1001"])
        assert changed["details"]["notes"] == "Please leave with the neighbour at no. 9 if out."


class TestDatabaseWriteBack:
    async def test_a_processed_zen_cart_order_is_delivered_in_the_shop_with_its_tracking_number(
        self, system, ops, admin, wait_for, mariadb, password_ref
    ):
        run = uuid.uuid4().hex[:6]
        name, new_id = f"it_wb_{run}", 60000 + int(run, 16) % 30000  # an order id of this run's own
        dsn = mariadb.database(name, DATA / "zencart" / "schema.sql", DATA / "zencart" / "orders.sql")
        mariadb.sql(f"DELETE FROM orders WHERE orders_id = 2001; "
                    f"UPDATE orders_products SET products_model = CONCAT(products_model, '-{run}'); "
                    + "; ".join(f"UPDATE {table} SET orders_id = {new_id} WHERE orders_id = 2002"
                                for table in ("orders", "orders_products", "orders_total", "orders_status_history")),
                    database=name)
        skus = [f"APR-LIN-CHR-{run}", f"SCS-HERB-{run}"]
        for sku in skus:
            answer = await ops.post(f"{system.url('inventory')}/stock/{sku}/adjustments",
                                    json={"delta": 10, "reason": "count"})
            assert answer.status_code == 202, answer.text
        await configure(admin, system, f"zenwb-{run}", {
            "name": "Zen Cart shop", "kind": "zencart", "account": f"zenwb{run}", "url": dsn,
            "credentials": {"password": password_ref}, "interval_seconds": 1, "options": {"settle_seconds": 0}})
        order_id = order_id_for("zencart", str(new_id))

        async def allocated():
            order = await open_order(ops, system, "zencart", str(new_id))
            return order is not None and order["stock_allocated"]

        await wait_for(allocated, timeout=60, what="the Zen Cart order open with its stock")
        answer = await ops.post(f"{system.url('orders')}/orders/{order_id}/process")
        assert answer.status_code == 200, answer.text

        async def confirmed():
            found = (await ops.get(f"{system.url('ingest')}/writebacks", params={"order_id": str(order_id)})).json()
            return next((w for w in found if w["action"] == "ship" and w["state"] == "confirmed"), None)

        writeback = await wait_for(confirmed, timeout=90, what="the ship write-back confirmed by the shop")
        tracking = writeback["tracking_number"]
        assert tracking
        rows = mariadb.sql(f"SELECT o.orders_status, h.orders_status_id, h.comments FROM orders o JOIN "
                           f"orders_status_history h ON h.orders_id = o.orders_id WHERE o.orders_id = {new_id} "
                           f"AND h.comments LIKE '%{tracking}%'", database=name).stdout.decode().strip().split("\n")
        assert len(rows) == 2 and rows[1].startswith("3\t3\tShipped with "), rows
        # Delivered in the shop: no longer downloaded, and still one order.
        mine = await intakes_of(ops, system, "zencart", f"zenwb{run}")
        assert len(mine) == 1


class TestXCart5:
    async def test_rest_orders_land_in_open_orders_once(self, system, ops, admin, wait_for, tmp_path):
        run = uuid.uuid4().hex[:6]
        orders = json.loads((DATA / "xcart5" / "orders.json").read_text(encoding="utf-8"))
        for order in orders:  # this run's own order numbers
            order["order_id"] = int(f"{order['order_id']}{int(run, 16) % 10_000:04d}")
            order["orderNumber"] = str(order["order_id"])
            order["date"] = order["lastRenewDate"] = int(time.time()) - 3600  # inside the walk's date range
        standin = XCart5StandIn(orders, key="read-" + run, write_key="write-" + run)
        key_file = tmp_path / "xc5-key"
        key_file.write_text("read-" + run)
        server = serve(standin.app)
        try:
            await configure(admin, system, f"xc5-{run}", {
                "name": "X-Cart 5 shop", "kind": "xcart5", "account": f"xc5{run}", "url": server.url,
                "credentials": {"key": f"file:{key_file}"}, "interval_seconds": 1,
                "options": {"page_size": 1}})
            paid_id, waiting_id, shipped_id, cancelled_id = (o["orderNumber"] for o in orders)

            async def both_open():
                found = [await open_order(ops, system, "xcart5", i) for i in (paid_id, waiting_id)]
                return found if all(found) else None

            paid, waiting = await wait_for(both_open, timeout=60, what="the X-Cart 5 orders in Open Orders")
            assert paid["paid"] is True and Decimal(str(paid["total"])) == Decimal("54.35")
            assert paid["details"]["buyer"]["email"] == "h.mcallister@example.co.uk"
            assert waiting["paid"] is False and waiting["currency"] == "EUR"
            calls = standin.calls
            await wait_for(lambda: _more_calls(standin, calls + 4), timeout=30, what="more polls")
            mine = await intakes_of(ops, system, "xcart5", f"xc5{run}")
            by_order = {}
            for intake in mine:
                by_order.setdefault(intake["channel_order_id"], []).append(intake["status"])
            assert by_order == {paid_id: ["published"], waiting_id: ["published"], cancelled_id: ["skipped"]}
            assert await open_order(ops, system, "xcart5", shipped_id) is None
            assert await open_order(ops, system, "xcart5", cancelled_id) is None
        finally:
            server.stop()


async def _more_calls(standin, calls: int) -> bool:
    return standin.calls >= calls
