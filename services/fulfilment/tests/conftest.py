"""Fakes and sample data for the fulfilment tests."""

import uuid
from datetime import UTC, datetime

import pytest

from oms_contracts.orders.v1 import OrderSnapshot
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details
from fulfilment.adapters.carriers import RangeCarrier
from fulfilment.domain.model import ShipmentPolicy


class FakeTrackingNumberClaims:
    """Claimed tracking numbers in a dict: the first claim of a number wins, like a unique insert."""

    def __init__(self) -> None:
        self.holders: dict[str, uuid.UUID] = {}

    async def claim(self, tracking_number: str, *, order_id: uuid.UUID) -> uuid.UUID:
        return self.holders.setdefault(tracking_number, order_id)


def make_order(order_id: uuid.UUID | None = None, **overrides) -> OrderSnapshot:
    """A paid telephone order with two lines, as orders hands it to fulfilment."""
    return OrderSnapshot(
        order_id=order_id or uuid.uuid4(),
        details=sample_order_details(**overrides),
        opened_at=datetime(2026, 11, 28, 8, 0, tzinfo=UTC),
    )


@pytest.fixture(name="make_order")
def make_order_fixture():
    """Build an OrderSnapshot for a test; `order_id=` and keyword overrides of the details change it."""
    return make_order


@pytest.fixture
def repo() -> InMemoryDocuments:
    return InMemoryDocuments()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus("fulfilment")


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def claims() -> FakeTrackingNumberClaims:
    return FakeTrackingNumberClaims()


@pytest.fixture
def carrier(claims) -> RangeCarrier:
    """OMS Post issuing OM........GB numbers."""
    return RangeCarrier(name="OMS Post", prefix="OM", country="GB", claims=claims)


@pytest.fixture
def policy() -> ShipmentPolicy:
    """Invoice and label, confirmed when both have printed."""
    return ShipmentPolicy(documents=("invoice", "shipping_label"), confirm_on="printed")
