"""Fakes and sample data for the orders tests."""

import pytest

from oms_contracts import Envelope, topics
from pymongo import ASCENDING, DESCENDING

from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details
from orders.adapters.repository import SORTS, OrderFilter, filter_query
from orders.domain.model import ProcessingGuards
from orders.service_layer.handlers import forward_event, handle_command


class FakeRepository(InMemoryDocuments):
    """Order documents in memory, with the list query the API uses."""

    async def list(self, *, where: OrderFilter, sort: str = "newest", limit: int = 50, after=None) -> list[dict]:
        field, direction = SORTS[sort]
        docs = sorted(self._matching(where), key=lambda d: (d[field], d["_id"]), reverse=direction == DESCENDING)
        if after is not None:
            beyond = (lambda a, b: a > b) if direction == ASCENDING else (lambda a, b: a < b)
            docs = [d for d in docs if beyond((d[field], d["_id"]), tuple(after))]
        return docs[:limit]

    async def count(self, *, where: OrderFilter) -> int:
        return len(self._matching(where))

    def _matching(self, where: OrderFilter) -> "list[dict]":
        """The documents matching the filter, the way filter_query asks MongoDB for them."""
        wanted = {k: v for k, v in filter_query(where).items() if k not in ("search", "skus")}
        return [
            d for d in self.docs.values()
            if all(d.get(k) == v for k, v in wanted.items())
            and (where.sku is None or where.sku in d["skus"])
            and (where.text is None or where.text.lower() in d["search"])
        ]


class InProcessBus(RecordingBus):
    """The orders worker wired in-process: a published orders command is handled at once, on the same repository.

    Other messages (orders events, commands of other contexts) are only recorded.
    """

    def __init__(self, repo: FakeRepository, clock: SteppingClock, guards: ProcessingGuards) -> None:
        super().__init__("orders")
        self.repo, self.clock, self.guards = repo, clock, guards

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        if envelope.payload.TOPIC == topics.ORDERS_COMMANDS:
            await handle_command(envelope, repo=self.repo, bus=self, guards=self.guards, clock=self.clock)


class LinkedBus(InProcessBus):
    """InProcessBus that also runs the orders forwarder on orders events (split, merge and resend feed new orders)."""

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        await super().publish(envelope, key=key)
        if envelope.payload.TOPIC == topics.ORDERS_EVENTS:
            await forward_event(envelope, bus=self)


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


@pytest.fixture
def worker_bus(repo, clock) -> InProcessBus:
    """A bus whose orders commands are handled straight away by the orders command handler."""
    return InProcessBus(repo, clock, ProcessingGuards())


@pytest.fixture
def linked_bus(repo, clock) -> LinkedBus:
    """A bus running the orders worker in-process, forwarders included."""
    return LinkedBus(repo, clock, ProcessingGuards())
