"""Fakes for the unit tests of every service (no mocks of our own code)."""

import copy
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from pymongo.errors import DuplicateKeyError

from oms_contracts import Envelope
from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_platform.documents import save_document
from oms_platform.messaging import Bus


class RecordingBus(Bus):
    """A Bus that keeps what it would publish instead of sending it."""

    def __init__(self, producer: str = "test") -> None:
        super().__init__(broker=None, producer=producer)  # type: ignore[arg-type]
        self.published: list[tuple[Envelope, str]] = []

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        """Record the envelope and its key."""
        self.published.append((envelope, key))

    async def publish_all(self, envelopes) -> None:
        """Publish each in order through `publish` (which test buses override)."""
        for envelope, key in envelopes:
            await self.publish(envelope, key=key)

    def payloads(self, message_type: type | None = None) -> list:
        """The payloads published so far, optionally of one type."""
        return [e.payload for e, _ in self.published if message_type is None or isinstance(e.payload, message_type)]

    def event_ids(self) -> list:
        """The event ids published so far, in order."""
        return [e.event_id for e, _ in self.published]


class InMemoryDocuments:
    """Aggregate documents in a dict, keyed by `_id`, with the same version rule as `save_document` on MongoDB."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}

    async def get(self, aggregate_id) -> dict | None:
        """A copy of the document, or None."""
        doc = self.docs.get(str(aggregate_id))
        return None if doc is None else copy.deepcopy(doc)

    async def save(self, doc: dict) -> None:
        """Insert or replace at the version read, like the Mongo repositories."""
        await save_document(self, doc)

    # The two collection methods save_document uses:
    async def insert_one(self, doc: dict) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate", code=11000)
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def replace_one(self, query: dict, doc: dict) -> SimpleNamespace:
        current = self.docs.get(query["_id"])
        matched = current is not None and current["version"] == query["version"]
        if matched:
            self.docs[query["_id"]] = copy.deepcopy(doc)
        return SimpleNamespace(matched_count=int(matched))


class SteppingClock:
    """A clock that moves one second each time it is read."""

    def __init__(self, start: datetime = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def sample_order_details(**overrides) -> OrderDetails:
    """A paid telephone order with two lines (MUG-BLUE ×2, TEE-L ×1); keyword overrides change fields."""
    values = dict(
        channel="phone",
        channel_order_id=uuid.uuid4().hex,
        order_number="PH-1001",
        buyer=Buyer(name="Ada Lovelace", email="ada@example.org"),
        shipping_address=Address(
            name="Ada Lovelace", line1="12 St James's Square", city="London", postcode="SW1Y 4JH", country="GB"
        ),
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
