"""Available-stock push: `inventory.stock_available_changed` is forwarded as `ingest.push_stock` (key: the SKU),
coalesced per batch of events so a burst of changes to one SKU is one command;
the ingest command consumer, the only writer of `stock_pushes`, keeps the latest value per SKU and, once its
debounce window is over (the scheduler sends `ingest.attempt_stock_push`), sets it on every configured channel
that takes stock updates and has option `push_stock` on. A channel that already has the value is not called again.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ingest.adapters.channel_store import ChannelStore
from ingest.adapters.writeback_store import WriteBackStore
from ingest.connectors.base import ConnectorError
from ingest.connectors.registry import Capabilities
from ingest.domain.channels import ChannelConfig
from ingest.domain.stock_pushes import PENDING, StockPush, from_document, to_document
from oms_contracts import Envelope, Message, derived_id
from oms_contracts.ingest.v1 import AttemptStockPush, PushStock
from oms_contracts.inventory.v1 import StockAvailableChanged
from oms_platform.messaging import Bus

log = logging.getLogger(__name__)


@dataclass
class StockPushRunner:
    """What the stock-push handlers need."""

    store: WriteBackStore  # the `stock_pushes` collection
    channels: ChannelStore
    clock: Callable[[], datetime]
    build: Callable[[ChannelConfig], object]  # the channel's write-back, with `set_available(sku, available)`
    capabilities: Mapping[str, Capabilities]
    debounce_seconds: float = 5.0
    max_attempts: int = 5
    backoff_seconds: float = 30.0


async def forward_event(envelope: Envelope, *, bus: Bus) -> None:
    """Forward a stock change as a push command with an id derived from it (other inventory events: nothing)."""
    payload = envelope.payload
    if isinstance(payload, StockAvailableChanged):
        command = PushStock(sku=payload.sku, available=payload.available, as_of=envelope.occurred_at)
        await bus.publish(bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, "push-stock")),
                          key=payload.sku)


async def forward_events(envelopes: list[Envelope], *, bus: Bus) -> int:
    """Forward a batch of inventory events coalesced: per SKU only its latest stock change (by `occurred_at`, the
    `as_of` the push document compares, so an older event inventory sends again later in the batch does not hide a
    newer one), so a burst of changes to one SKU costs one push command, and so one read and one write of its
    `stock_pushes` document. The dropped values are older than the one forwarded, which the push document would have
    replaced anyway. How many commands were sent."""
    latest: dict[str, Envelope] = {}
    for envelope in envelopes:
        if isinstance(envelope.payload, StockAvailableChanged):
            sku = envelope.payload.sku
            if sku in latest and envelope.occurred_at < latest[sku].occurred_at:
                continue
            latest.pop(sku, None)  # re-inserted last: commands go out in the order of the changes
            latest[sku] = envelope
    for envelope in latest.values():
        await forward_event(envelope, bus=bus)
    return len(latest)


def attempt_command(doc: dict, attempt: int) -> tuple[Message, str]:
    """The scheduler's attempt command of a due stock push, and its key (the SKU)."""
    return AttemptStockPush(sku=doc["_id"], attempt=attempt), doc["_id"]


async def handle_command(envelope: Envelope, *, runner: StockPushRunner) -> None:
    """Apply one stock-push command to its SKU's document (other commands: nothing)."""
    payload = envelope.payload
    if isinstance(payload, PushStock):
        await _changed(payload, runner)
    elif isinstance(payload, AttemptStockPush):
        await _attempt(payload, runner)


async def _changed(command: PushStock, runner: StockPushRunner) -> None:
    doc = await runner.store.get(command.sku)
    now = runner.clock()
    if doc is None:
        push = StockPush.first(sku=command.sku, available=command.available, as_of=command.as_of, now=now,
                               debounce=runner.debounce_seconds)
        await runner.store.save(to_document(push, version=0))
        return
    push = from_document(doc)
    if push.changed(available=command.available, as_of=command.as_of, now=now, debounce=runner.debounce_seconds):
        await runner.store.save(to_document(push, version=doc["version"]))


async def _attempt(command: AttemptStockPush, runner: StockPushRunner) -> None:
    doc = await runner.store.get(command.sku)
    if doc is None:
        return
    push = from_document(doc)
    if push.state != PENDING or command.attempt != push.attempts + 1:
        return  # stale: made already, or settled
    results: dict[str, str | None] = {}
    for config in await _stock_channels(runner):
        if push.stale(config.channel_id):
            results[config.channel_id] = await _set(config, push, runner)
    push.pushed(at=runner.clock(), results=results, max_attempts=runner.max_attempts, backoff=runner.backoff_seconds)
    await runner.store.save(to_document(push, version=doc["version"]))


async def _stock_channels(runner: StockPushRunner) -> list[ChannelConfig]:
    """Enabled channels of a kind that takes stock updates, with option `push_stock` on (a disabled channel is
    neither polled nor sent stock)."""
    return [c for c in await runner.channels.configs()
            if c.enabled and c.options.get("push_stock") is True
            and getattr(runner.capabilities.get(c.kind), "stock", False)]


async def _set(config: ChannelConfig, push: StockPush, runner: StockPushRunner) -> str | None:
    try:
        await runner.build(config).set_available(push.sku, push.available)
    except ConnectorError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - recorded on the push for staff and retried
        log.exception("stock push of %s to %s failed unexpectedly", push.sku, config.channel_id)
        return f"{type(exc).__name__}: {exc}"
    return None
