"""Fakes and sample data for the orders tests."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_platform.documents import save_document
from oms_platform.testing import RecordingBus


class FakeRepository:
    """Order documents in a dict, with the same version rule as MongoDB's save."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}

    async def get(self, order_id: uuid.UUID) -> dict | None:
        doc = self.docs.get(str(order_id))
        return None if doc is None else _copy(doc)

    async def save(self, doc: dict) -> None:
        await save_document(_DictCollection(self.docs), doc)

    async def list(self, *, status: str | None, limit: int) -> list[dict]:
        docs = [d for d in self.docs.values() if status is None or d["status"] == status]
        return sorted(docs, key=lambda d: d["opened_at"], reverse=True)[:limit]


class _DictCollection:
    """Just enough of a collection for save_document."""

    def __init__(self, docs: dict[str, dict]) -> None:
        self.docs = docs

    async def insert_one(self, doc: dict) -> None:
        from pymongo.errors import DuplicateKeyError

        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate", code=11000)
        self.docs[doc["_id"]] = _copy(doc)

    async def replace_one(self, query: dict, doc: dict):
        current = self.docs.get(query["_id"])
        matched = current is not None and current["version"] == query["version"]
        if matched:
            self.docs[query["_id"]] = _copy(doc)
        return type("Result", (), {"matched_count": int(matched)})()


def _copy(doc: dict) -> dict:
    import copy

    return copy.deepcopy(doc)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def make_details(**overrides) -> OrderDetails:
    """A paid telephone order with two lines."""
    values = dict(
        channel="phone",
        channel_order_id=uuid.uuid4().hex,
        order_number="PH-1001",
        buyer=Buyer(name="Ada Lovelace", email="ada@example.org"),
        shipping_address=Address(name="Ada Lovelace", line1="12 St James's Square", city="London",
                                 postcode="SW1Y 4JH", country="GB"),
        lines=[
            OrderLine(line_id="1", sku="MUG-BLUE", title="Blue mug", quantity=2, unit_price=Decimal("7.50")),
            OrderLine(line_id="2", sku="TEE-L", title="T-shirt L", quantity=1, unit_price=Decimal("15.00")),
        ],
        shipping=Shipping(service="Standard", cost=Decimal("3.95")),
        currency="GBP",
        paid=True,
    )
    values.update(overrides)
    return OrderDetails(**values)


@pytest.fixture(name="make_details")
def make_details_fixture():
    """Build OrderDetails for a test; keyword overrides change fields."""
    return make_details


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus("orders")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
