"""Fakes and sample data for the orders tests."""

import pytest

from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details


class FakeRepository(InMemoryDocuments):
    """Order documents in memory, with the list query the API uses."""

    async def list(self, *, status: str | None, limit: int) -> list[dict]:
        docs = [d for d in self.docs.values() if status is None or d["status"] == status]
        return sorted(docs, key=lambda d: d["opened_at"], reverse=True)[:limit]


@pytest.fixture(name="make_details")
def make_details_fixture():
    """Build OrderDetails for a test; keyword overrides change fields."""
    return sample_order_details


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus("orders")


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()
