"""Fakes and sample data for the fulfilment tests."""

import uuid
from datetime import UTC, datetime

import pytest

from oms_contracts import new_envelope, topics
from oms_contracts.fulfilment.v1 import ShippingDefault
from oms_contracts.orders.v1 import OrderSnapshot
from oms_platform.testing import InMemoryDocuments, RecordingBus, SteppingClock, sample_order_details
from fulfilment.adapters.carriers import Carriers, RangeCarrier
from fulfilment.adapters.catalogue import ItemInfo
from fulfilment.domain.rules import ChannelSettings
from fulfilment.service_layer.handlers import Fulfilment, handle_command


class FakeTrackingRange:
    """The range counter and issued numbers in dicts, with the same rules as the Mongo store."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.numbers: dict[uuid.UUID, str] = {}

    async def issued(self, shipment_id: uuid.UUID) -> str | None:
        return self.numbers.get(shipment_id)

    async def take_serial(self, carrier: str, *, first: int) -> int:
        serial = max(self.counters.get(carrier, first), first)
        self.counters[carrier] = serial + 1
        return serial

    async def record(self, shipment_id: uuid.UUID, *, order_id: uuid.UUID, tracking_number: str) -> str | None:
        if shipment_id not in self.numbers and tracking_number in self.numbers.values():
            return None
        return self.numbers.setdefault(shipment_id, tracking_number)


class InMemoryShipments(InMemoryDocuments):
    """Shipment documents in a dict, listed like the Mongo repository does."""

    async def list(self, *, status: str | None, limit: int) -> list[dict]:
        docs = [d for d in self.docs.values() if status is None or d["status"] == status]
        return sorted(docs, key=lambda d: d["created_at"], reverse=True)[:limit]


class FakeCatalogue:
    """Stock items in a dict, as inventory's API would answer them."""

    def __init__(self) -> None:
        self.known: dict[str, ItemInfo] = {}
        self.asked: list[list[str]] = []

    def add(self, sku: str, **fields) -> None:
        self.known[sku] = ItemInfo(sku=sku, **fields)

    async def items(self, skus: list[str]) -> dict[str, ItemInfo]:
        self.asked.append(list(skus))
        return {sku: self.known[sku] for sku in skus if sku in self.known}


def make_order(order_id: uuid.UUID | None = None, **overrides) -> OrderSnapshot:
    """A paid telephone order with two lines (MUG-BLUE ×2, TEE-L ×1), as orders hands it to fulfilment."""
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
def bus() -> RecordingBus:
    return RecordingBus("fulfilment")


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def tracking() -> FakeTrackingRange:
    return FakeTrackingRange()


@pytest.fixture
def catalogue() -> FakeCatalogue:
    """MUG-BLUE (0.4 kg, barcode 5012345678900, A/01) and TEE-L (0.2 kg, B/02) are stocked."""
    fake = FakeCatalogue()
    fake.add("MUG-BLUE", title="Blue mug", barcode="5012345678900", weight=0.4, default_location="A",
             default_bin="01")
    fake.add("TEE-L", title="T-shirt L", barcode="5098765432109", weight=0.2, default_location="B", default_bin="02")
    return fake


@pytest.fixture
def ctx(bus, clock, tracking, catalogue) -> Fulfilment:
    """Fulfilment with in-memory documents: OMS Post numbers OM........GB, invoice and label printed."""
    return Fulfilment(
        shipments=InMemoryShipments(),
        batches=InMemoryDocuments(),
        settings=InMemoryDocuments(),
        bus=bus,
        carriers=Carriers(RangeCarrier(name="OMS Post", prefix="OM", country="GB", store=tracking, first=100)),
        catalogue=catalogue,
        default_channel=ChannelSettings(flow="printed", documents=("invoice", "shipping_label")),
        default_shipping=ShippingDefault(carrier="OMS Post"),
        clock=clock,
    )


class Worker:
    """Runs fulfilment commands through the handler, and the commands they publish to fulfilment until none is left,
    as the command consumer would."""

    def __init__(self, ctx: Fulfilment, bus: RecordingBus) -> None:
        self.ctx, self.bus = ctx, bus
        self.done = 0

    async def send(self, payload, *, settle: bool = True):
        """Handle one command (and, with `settle`, what it leads to); returns its envelope."""
        envelope = new_envelope(payload, producer="test")
        await handle_command(envelope, ctx=self.ctx)
        if settle:
            await self.settle()
        return envelope

    async def settle(self) -> None:
        """Handle every fulfilment command published since the last call."""
        while self.done < len(self.bus.published):
            envelope, _ = self.bus.published[self.done]
            self.done += 1
            if envelope.payload.TOPIC == topics.FULFILMENT_COMMANDS:
                await handle_command(envelope, ctx=self.ctx)

    def shipment(self, order_id) -> dict:
        return self.ctx.shipments.docs[str(order_id)]["shipment"]


@pytest.fixture
def worker(ctx, bus) -> Worker:
    return Worker(ctx, bus)
