"""Fakes and sample data for the orders tests."""

import re

import pytest

from oms_contracts import Envelope, topics
from pymongo import ASCENDING, DESCENDING

from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details
from orders.adapters.repository import COUNTED_FIELDS, SORTS, OrderFilter, filter_query
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

    async def counts(self, *, where: OrderFilter) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for name, field in COUNTED_FIELDS.items():
            tally: dict[str, int] = {}
            for d in self._matching(where):
                for value in (d.get(field) if field == "tags" else [d.get(field)]):
                    if value is not None:
                        key = str(value).lower() if isinstance(value, bool) else str(value)
                        tally[key] = tally.get(key, 0) + 1
            result[name] = tally
        return result

    def _matching(self, where: OrderFilter) -> "list[dict]":
        """The documents matching the filter, the way filter_query asks MongoDB for them."""
        query = filter_query(where)
        return [d for d in self.docs.values() if all(_matches(d.get(k), v) for k, v in query.items())]


def _matches(value, condition) -> bool:
    """One field against one condition of filter_query: equality (or membership in a list), $regex, $gte/$lt."""
    if isinstance(condition, dict):
        if "$regex" in condition:
            return value is not None and re.search(condition["$regex"], value) is not None
        return value is not None and all(
            (value >= bound) if op == "$gte" else (value < bound) for op, bound in condition.items())
    return condition in value if isinstance(value, list) else value == condition


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
