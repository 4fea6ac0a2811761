"""Fakes and sample data for the ingest tests (fixtures only: test modules never import this file)."""

import asyncio
import copy
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.domain.model import Intake, IntakeStatus, IntakeSummary
from ingest.domain.webhooks import WebhookSecrets, signature
from oms_contracts import Envelope
from oms_platform.testing import RecordingBus


class FakeIntakeStore:
    """Intake records in a dict, with the same guarded status moves as the MongoDB store."""

    def __init__(self) -> None:
        self.intakes: dict[uuid.UUID, Intake] = {}

    async def add(self, intake: Intake) -> None:
        if intake.intake_id in self.intakes:
            raise KeyError(f"duplicate intake {intake.intake_id}")
        self.intakes[intake.intake_id] = copy.deepcopy(intake)

    async def add_once(self, intake: Intake) -> bool:
        if intake.intake_id in self.intakes:
            return False
        self.intakes[intake.intake_id] = copy.deepcopy(intake)
        return True

    async def get(self, intake_id: uuid.UUID) -> Intake | None:
        return copy.deepcopy(self.intakes.get(intake_id))

    async def recent(self, *, status, channel, limit) -> list[IntakeSummary]:
        found = [i for i in self.intakes.values()
                 if (status is None or i.status == status) and (channel is None or i.channel == channel)]
        found.sort(key=lambda i: i.received_at, reverse=True)
        return [IntakeSummary.model_validate(i.model_dump()) for i in found[:limit]]

    async def stale(self, *, received_before, limit) -> list[Intake]:
        found = [i for i in self.intakes.values()
                 if i.status is IntakeStatus.RECEIVED and (i.received_at < received_before or i.retries)]
        return copy.deepcopy(sorted(found, key=lambda i: i.received_at)[:limit])

    async def mark_published(self, intake_id, *, event_id, at) -> bool:
        return self._move(intake_id, status=IntakeStatus.PUBLISHED, event_id=event_id, published_at=at)

    async def mark_failed(self, intake_id, *, error) -> bool:
        return self._move(intake_id, status=IntakeStatus.FAILED, error=error)

    async def mark_skipped(self, intake_id, *, reason) -> bool:
        return self._move(intake_id, status=IntakeStatus.SKIPPED, skip_reason=reason)

    async def mark_for_retry(self, intake_id, *, by, at) -> bool:
        current = self.intakes.get(intake_id)
        if current is None or current.status is not IntakeStatus.FAILED:
            return False
        retry = {"at": at, "by": by, "error": current.error}
        self.intakes[intake_id] = current.model_copy(update={"status": IntakeStatus.RECEIVED, "error": None,
                                                             "retries": [*current.retries, retry]})
        return True

    async def of_orders(self, *, channel, channel_order_ids) -> list[IntakeSummary]:
        return [IntakeSummary.model_validate(i.model_dump()) for i in self.intakes.values()
                if i.channel == channel and i.channel_order_id in set(channel_order_ids)]

    async def polled_between(self, *, channel, account, since, until) -> list[IntakeSummary]:
        return [IntakeSummary.model_validate(i.model_dump()) for i in self.intakes.values()
                if (i.channel, i.account, i.kind.value) == (channel, account, "polled_order")
                and i.channel_updated_at is not None and since <= i.channel_updated_at <= until]

    def _move(self, intake_id, **changes) -> bool:
        current = self.intakes.get(intake_id)
        if current is None or current.status is not IntakeStatus.RECEIVED:
            return False
        self.intakes[intake_id] = current.model_copy(update=changes)
        return True

    def only(self) -> Intake:
        """The one intake stored so far."""
        [intake] = self.intakes.values()
        return intake


class FlakyBus(RecordingBus):
    """A RecordingBus whose broker can be 'down' (publish raises) or 'stuck' (publish never returns)."""

    def __init__(self) -> None:
        super().__init__("ingest")
        self.down = False
        self.stuck = False
        self.on_publish = None

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        if self.on_publish is not None:
            self.on_publish(envelope)
        if self.down:
            raise ConnectionError("kafka is down")
        if self.stuck:
            await asyncio.sleep(3600)
        await super().publish(envelope, key=key)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def order_payload(**overrides) -> dict:
    """A paid demo-shop order as JSON, the way a channel posts it to the generic intake."""
    payload = {
        "channel": "demo_shop",
        "channel_order_id": f"ds-{uuid.uuid4().hex[:12]}",
        "order_number": "DEMO-1001",
        "buyer": {"name": "Amelia Clarke", "email": "amelia.clarke@example.co.uk"},
        "shipping_address": {"name": "Amelia Clarke", "line1": "14 Hyde Park Road", "city": "Leeds",
                             "postcode": "LS6 1AH", "country": "GB"},
        "lines": [{"line_id": "1", "sku": "DEMO-MUG", "title": "Enamel mug, navy", "quantity": 2,
                   "unit_price": "9.50"}],
        "shipping": {"service": "Royal Mail Tracked 48", "cost": "3.95"},
        "currency": "GBP",
        "paid": True,
    }
    payload.update(overrides)
    return payload


@pytest.fixture(name="order_payload")
def order_payload_fixture():
    """Build a generic-intake order body; keyword overrides replace fields."""
    return order_payload


@pytest.fixture
def store() -> FakeIntakeStore:
    return FakeIntakeStore()


@pytest.fixture
def bus() -> FlakyBus:
    return FlakyBus()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


SAMPLE_CSV = Path(__file__).parent / "data" / "orders-import.csv"


@pytest.fixture
def sample_csv() -> str:
    """The channel research's sample CSV order file (2 orders, 3 rows), as text."""
    return SAMPLE_CSV.read_text(encoding="utf-8")


@pytest.fixture
def csv_file(sample_csv):
    """Build a CSV file with the sample's header: each row given as {column: value} over the sample's first row
    (PHONE-10001, one line of 32.00 + 4.50 shipping = 36.50); `header=` another header, `base_row=False` no base.
    """
    reader = csv.DictReader(io.StringIO(sample_csv))
    base = next(reader)
    columns = list(reader.fieldnames)

    def build(*rows: dict, header: list[str] | None = None, base_row: bool = True) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header or columns, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**(base if base_row else {}), **row})
        return out.getvalue()

    build.base = dict(base)
    return build


DATA = Path(__file__).parent / "data"
SHOPIFY_SECRET = "sample-shopify-client-secret-A"
WOOCOMMERCE_SECRET = "sample-woo-webhook-secret-A"


class WebhookSample:
    """A webhook delivery of the channel research's samples: raw body bytes (exactly as signed) and headers."""

    def __init__(self, channel: str, name: str) -> None:
        self.raw = (DATA / channel / f"{name}.body.json").read_bytes()
        self.headers: dict[str, str] = json.loads((DATA / channel / f"{name}.headers.json").read_text())

    def with_headers(self, **changes: str | None) -> dict[str, str]:
        """The headers with some replaced (`X_Shopify_Topic="..."`) or dropped (None)."""
        headers = dict(self.headers)
        for name, value in changes.items():
            name = name.replace("_", "-")
            match = next((h for h in headers if h.lower() == name.lower()), name)
            headers.pop(match, None)
            if value is not None:
                headers[match] = value
        return headers


@pytest.fixture
def shopify_1021() -> WebhookSample:
    """Shopify orders/create of order #1021 (one line, GBP 27.99), signed with SHOPIFY_SECRET."""
    return WebhookSample("shopify", "webhook-orders-create-1021")


@pytest.fixture
def shopify_1022() -> WebhookSample:
    """Shopify orders/create of order #1022 (two lines, a discount code, GBP 65.70)."""
    return WebhookSample("shopify", "webhook-orders-create-1022")


@pytest.fixture
def woocommerce_1052() -> WebhookSample:
    """WooCommerce order.created of order 1052 (EUR, prices without tax, a coupon), signed with WOOCOMMERCE_SECRET."""
    return WebhookSample("woocommerce", "webhook-order.created-1052")


@pytest.fixture
def woocommerce_orders() -> list[dict]:
    """The WooCommerce REST order list sample (orders 1052 and 1047), parsed."""
    return json.loads((DATA / "woocommerce" / "orders-list.json").read_text(encoding="utf-8"))


@pytest.fixture
def expected_orders() -> dict[str, dict]:
    """What the channel research says each sample order normalises to, by `<channel>:<channel_order_id>`."""
    expected = json.loads((DATA / "channels-expected.json").read_text(encoding="utf-8"))
    return {f"{o['channel']}:{o['channel_order_id']}": o for o in expected["orders"]}


@pytest.fixture
def webhook_secrets():
    """The sample secrets: Shopify account `fernbrook`, WooCommerce account `shop`; another Shopify account."""
    return WebhookSecrets.parse(
        f"shopify:fernbrook:{SHOPIFY_SECRET},woocommerce:shop:{WOOCOMMERCE_SECRET},shopify:other:other-secret"
    )


@pytest.fixture
def sign():
    """sign(raw, secret) -> the base64 HMAC-SHA256 header value."""
    return signature


class FakeChannelStore:
    """Channel configurations and statuses in dicts, like MongoChannelStore."""

    def __init__(self) -> None:
        from ingest.domain.channels import ChannelConfig, ChannelStatus

        self._config, self._status = ChannelConfig, ChannelStatus
        self.configs_by_id: dict = {}
        self.statuses: dict = {}
        self.saved_cursors: list = []

    async def configs(self) -> list:
        return [self.configs_by_id[key] for key in sorted(self.configs_by_id)]

    async def config(self, channel_id):
        return self.configs_by_id.get(channel_id)

    async def put_config(self, config) -> None:
        old = self.configs_by_id.get(config.channel_id)
        requested = old.download_requested_at if old else None
        self.configs_by_id[config.channel_id] = config.model_copy(update={"download_requested_at": requested})

    async def request_download(self, channel_id, *, at) -> bool:
        if channel_id not in self.configs_by_id:
            return False
        self.configs_by_id[channel_id] = self.configs_by_id[channel_id].model_copy(
            update={"download_requested_at": at})
        return True

    async def status(self, channel_id):
        return self.statuses.get(channel_id) or self._status(channel_id=channel_id)

    async def save_status(self, status) -> None:
        self.statuses[status.channel_id] = status
        self.saved_cursors.append(status.cursor)


@pytest.fixture
def channel_store() -> FakeChannelStore:
    return FakeChannelStore()
