"""Available stock written to the osCommerce, Zen Cart and X-Cart 4 shop databases (a real MariaDB, started by
the test, loaded with each shop's schema and products): the product whose model / product code is the SKU gets the
quantity, other products keep theirs, a SKU the shop does not sell changes nothing, and oversold is 0."""

import uuid
from pathlib import Path

import httpx
import pytest

from ingest.connectors.base import ConnectorError
from ingest.connectors.registry import build_writeback
from ingest.domain.channels import ChannelConfig
from ingest.standin_mariadb import MariaDB

pytestmark = pytest.mark.integration  # a real database server (started here, no Kafka or MongoDB needed)

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def mariadb():
    with MariaDB() as server:
        yield server


def shop(server: MariaDB, kind: str, folder: str):
    name = f"{folder}_{uuid.uuid4().hex[:8]}"
    dsn = server.database(name, DATA / folder / "schema.sql", DATA / folder / "products.sql")
    config = ChannelConfig(channel_id=name.replace("_", "-"), name=kind, kind=kind, account="shop", url=dsn,
                           credentials={"password": "env:PW"}, options={"currency": "GBP"})
    writeback = build_writeback(config, http=httpx.AsyncClient(), environ={"PW": server.password})
    return writeback, lambda sql: server.sql(sql, database=name).stdout.decode().split("\n")[1:-1]


class TestShopDatabaseStock:
    @pytest.mark.parametrize(("kind", "folder", "sku", "other"), [
        ("oscommerce", "oscommerce", "OSC-MUG-1", "OSC-TEE-L"), ("zencart", "zencart", "ZC-CANDLE", "ZC-WICK")])
    async def test_products_quantity_of_the_model(self, mariadb, kind, folder, sku, other):
        writeback, rows = shop(mariadb, kind, folder)
        before = rows(f"SELECT products_quantity FROM products WHERE products_model = '{other}'")
        await writeback.set_available(sku, 5)
        await writeback.set_available(sku, 5)  # again: the same
        await writeback.set_available("NOT-SOLD", 8)
        assert rows(f"SELECT products_quantity, products_last_modified IS NOT NULL FROM products "
                    f"WHERE products_model = '{sku}'") == ["5\t1"]
        assert rows(f"SELECT products_quantity FROM products WHERE products_model = '{other}'") == before
        await writeback.set_available(sku, -2)
        assert rows(f"SELECT products_quantity FROM products WHERE products_model = '{sku}'") == ["0"]

    async def test_xcart_avail_of_the_product_code(self, mariadb):
        writeback, rows = shop(mariadb, "xcart", "xcart")
        await writeback.set_available("XC-LAMP", 11)
        await writeback.set_available("NOT-SOLD", 1)
        assert rows("SELECT productcode, avail FROM xcart_products ORDER BY productid") == ["XC-LAMP\t11", "XC-SHADE\t9"]

    async def test_a_database_that_refuses_is_a_connector_error(self, mariadb):
        writeback, _ = shop(mariadb, "oscommerce", "oscommerce")
        writeback.db._connect["password"] = "wrong"
        with pytest.raises(ConnectorError, match="oscommerce: cannot connect"):
            await writeback.set_available("OSC-MUG-1", 1)
