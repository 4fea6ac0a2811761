"""Stock items (what a SKU is: title, barcode, weight, default location, minimum level, supplier), CSV and low stock."""

import csv
import io

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oms_contracts.inventory.v1 import DEFAULT_LOCATION, DefineStockItem, StockLow
from inventory.domain.model import LOCATION_PATTERN, Levels

CSV_COLUMNS = ("sku", "title", "barcode", "weight", "default_location", "default_bin", "minimum_level", "supplier")
SKU_PATTERN = r"^\S(.*\S)?$"
# A bin is a label on a shelf ("A-01-03", "B2.4"); it is never a document key, so dots are fine.
BIN_PATTERN = r"^[A-Za-z0-9_./-]{1,50}$"


class StockItem(BaseModel):
    """The description of one SKU; `minimum_level` is the level below which a reorder is suggested."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64, pattern=SKU_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    barcode: str | None = Field(None, max_length=64)
    weight: float | None = Field(None, ge=0, description="Kilograms.")
    default_location: str = Field(DEFAULT_LOCATION, pattern=LOCATION_PATTERN)
    default_bin: str | None = Field(None, pattern=BIN_PATTERN, description="Bin within the default location.")
    minimum_level: int = Field(0, ge=0)
    supplier: str | None = Field(None, max_length=200)

    @classmethod
    def of(cls, command: DefineStockItem) -> "StockItem":
        """The item a define command describes."""
        return cls.model_validate(command.model_dump(exclude={"defined_by"}))

    def command(self, *, defined_by: str) -> DefineStockItem:
        """The command that defines this item."""
        return DefineStockItem(**self.model_dump(), defined_by=defined_by)


class RowError(BaseModel):
    """Why one CSV row (1 = the first row after the header) cannot be imported."""

    row: int
    errors: list[str]


def parse_csv(text: str) -> tuple[list[StockItem], list[RowError]]:
    """Every row of a stock-item CSV checked: the items, and the errors of the rows that are wrong (none → import)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    if "sku" not in header or "title" not in header:
        problem = f"header must name at least sku and title (columns: {', '.join(CSV_COLUMNS)})"
        return [], [RowError(row=0, errors=[problem])]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        return [], [RowError(row=0, errors=[f"unknown columns: {', '.join(unknown)}"])]
    items: list[StockItem] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=1):
        if None in raw:
            errors.append(RowError(row=number, errors=["more values than columns"]))
            continue
        values = {key.strip(): value.strip() for key, value in raw.items() if value is not None and value.strip()}
        try:
            item = StockItem.model_validate(values)
        except ValidationError as exc:
            errors.append(RowError(row=number, errors=[_describe(e) for e in exc.errors()]))
            continue
        if item.sku in seen:
            errors.append(RowError(row=number, errors=[f"sku: {item.sku} already on row {seen[item.sku]}"]))
            continue
        seen[item.sku] = number
        items.append(item)
    return items, errors


def to_csv(items: list[StockItem]) -> str:
    """Stock items as CSV with the import's columns, so an export can be imported again."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow({k: "" if v is None else v for k, v in item.model_dump().items()})
    return out.getvalue()


def low_stock(item: StockItem | None, totals: Levels, *, due: int = 0) -> StockLow | None:
    """The low-stock event when available is below the item's minimum level (issue 4's reorder formula), else None."""
    if item is None or totals.available >= item.minimum_level:
        return None
    suggested = item.minimum_level + totals.allocated - totals.available - due
    return StockLow(
        sku=item.sku, available=totals.available, allocated=totals.allocated, minimum_level=item.minimum_level,
        due=due, suggested_reorder=max(suggested, 0), supplier=item.supplier,
    )


def _describe(error: dict) -> str:
    """One pydantic error as 'field: message'."""
    field = ".".join(str(part) for part in error["loc"]) or "row"
    return f"{field}: {error['msg']}"
