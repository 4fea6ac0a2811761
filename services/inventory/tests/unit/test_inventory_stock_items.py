"""Stock items: defined once per command by the stock consumer, parsed from CSV, and the low-stock warning."""

import uuid

import pytest

from oms_contracts.inventory.v1 import AdjustStock, AllocateStock, DefineStockItem, StockLevelChanged, StockLow
from inventory.domain.items import StockItem, low_stock, parse_csv, to_csv
from inventory.domain.model import Levels
from inventory.service_layer.handlers import handle_command


@pytest.fixture
def handle(repo, bus, clock):
    async def run(envelope):
        await handle_command(envelope, repo=repo, bus=bus, clock=clock)

    return run


def define(sku="MUG", minimum_level=5, **fields) -> DefineStockItem:
    return DefineStockItem(sku=sku, title=fields.pop("title", "Blue mug"), minimum_level=minimum_level,
                           defined_by="ops", **fields)


class TestDefineStockItem:
    async def test_a_new_item_is_stored_with_its_fields_and_the_handled_command(self, handle, command, repo):
        envelope = command(define(barcode="5012345678900", weight=0.35, supplier="Potteries Ltd"))
        await handle(envelope)
        doc = repo.items.docs["MUG"]
        assert (doc["title"], doc["barcode"], doc["weight"], doc["minimum_level"]) == (
            "Blue mug", "5012345678900", 0.35, 5)
        assert doc["supplier"] == "Potteries Ltd" and str(envelope.event_id) in doc["handled"]
        assert doc["version"] == 1

    async def test_defining_again_replaces_the_fields_and_keeps_the_created_time(self, handle, command, repo):
        await handle(command(define(minimum_level=5)))
        created = repo.items.docs["MUG"]["created_at"]
        await handle(command(define(minimum_level=8, title="Big blue mug")))
        doc = repo.items.docs["MUG"]
        assert (doc["minimum_level"], doc["title"], doc["created_at"], doc["version"]) == (
            8, "Big blue mug", created, 2)

    async def test_same_command_twice_changes_nothing(self, handle, command, repo, bus):
        envelope = command(define())
        await handle(envelope)
        stored = dict(repo.items.docs["MUG"])
        await handle(envelope)
        assert repo.items.docs["MUG"] == stored
        assert bus.published == []

    async def test_an_item_does_not_create_stock(self, handle, command, repo):
        await handle(command(define()))
        assert repo.stock == {} and repo.ledger == {}


class TestLowStock:
    async def test_a_change_leaving_available_below_minimum_publishes_stock_low_with_a_suggestion(
        self, handle, command, bus
    ):
        await handle(command(define(minimum_level=5, supplier="Potteries Ltd")))
        await handle(command(AdjustStock(sku="MUG", delta=6, reason="delivery", adjusted_by="ops")))
        assert bus.payloads(StockLow) == []
        await handle(command(AllocateStock(order_id=uuid.uuid4(), sku="MUG", quantity=2)))
        [low] = bus.payloads(StockLow)
        # minimum + open orders − available − due = 5 + 2 − 4 − 0
        assert (low.available, low.allocated, low.minimum_level, low.suggested_reorder) == (4, 2, 5, 3)
        assert low.supplier == "Potteries Ltd"
        assert bus.published[-1][1] == "MUG"

    async def test_stock_low_is_recorded_in_the_ledger_and_republished_with_the_same_id_on_redelivery(
        self, handle, command, bus, repo
    ):
        await handle(command(define(minimum_level=5)))
        envelope = command(AdjustStock(sku="MUG", delta=3, reason="delivery", adjusted_by="ops"))
        await handle(envelope)
        await handle(envelope)
        lows = [e for e, _ in bus.published if isinstance(e.payload, StockLow)]
        assert len(lows) == 2 and lows[0].event_id == lows[1].event_id
        assert repo.stock["MUG"]["on_hand"] == 3 and len(repo.ledger) == 1

    async def test_without_an_item_or_above_minimum_there_is_no_warning(self, handle, command, bus):
        await handle(command(AdjustStock(sku="TEE", delta=1, reason="delivery", adjusted_by="ops")))
        await handle(command(define(sku="CUP", minimum_level=2)))
        await handle(command(AdjustStock(sku="CUP", delta=2, reason="delivery", adjusted_by="ops")))
        assert bus.payloads(StockLow) == [] and len(bus.payloads(StockLevelChanged)) == 2

    def test_the_suggestion_never_goes_below_zero(self):
        item = StockItem(sku="MUG", title="Mug", minimum_level=1)
        assert low_stock(item, Levels(on_hand=0, allocated=0), due=10).suggested_reorder == 0


class TestStockItemCsv:
    def test_valid_rows_become_items(self):
        items, errors = parse_csv("sku,title,barcode,weight,default_location,minimum_level,supplier\n"
                                  "MUG,Blue mug,501,0.35,shelf-A,5,Potteries\nTEE,Tee,,,,,\n")
        assert errors == []
        assert [(i.sku, i.weight, i.default_location, i.minimum_level) for i in items] == [
            ("MUG", 0.35, "shelf-A", 5), ("TEE", None, "default", 0)]

    def test_every_bad_row_is_reported_with_its_number_and_reasons(self):
        _, errors = parse_csv("sku,title,weight,minimum_level\nMUG,Mug,1,1\n,Tee,x,-1\nMUG,Again,,\n")
        assert [e.row for e in errors] == [2, 3]
        assert errors[0].errors == ["sku: Field required", "weight: Input should be a valid number, unable to "
                                    "parse string as a number", "minimum_level: Input should be greater than or "
                                    "equal to 0"]
        assert errors[1].errors == ["sku: MUG already on row 1"]

    def test_an_unknown_column_or_missing_sku_column_is_a_header_error(self):
        assert parse_csv("sku,title,colour\nA,B,red\n")[1][0].errors == ["unknown columns: colour"]
        assert parse_csv("title\nB\n")[1][0].row == 0

    def test_the_default_bin_column_is_optional_and_checked(self):
        items, errors = parse_csv("sku,title,default_location,default_bin\nMUG,Mug,shelf-A,A-01.3\nTEE,Tee,,\n")
        assert errors == [] and [(i.sku, i.default_bin) for i in items] == [("MUG", "A-01.3"), ("TEE", None)]
        _, errors = parse_csv("sku,title,default_bin\nMUG,Mug,A 1\n")
        assert errors[0].errors[0].startswith("default_bin:")

    def test_an_export_imports_again_unchanged(self):
        items = [StockItem(sku="MUG", title="Mug, blue", weight=0.5, default_bin="A-3", minimum_level=2, supplier="P")]
        assert parse_csv(to_csv(items)) == (items, [])
