"""Write-back handlers: orders events become write-back commands; the command consumer (the only writer of
write-back documents, serialised per order by the Kafka key) tries each one and records the outcome; a scheduler
sends the next attempt of those whose backoff is over.

Idempotent: a write-back's id derives from (order, action), so a replayed event finds its document and sends
nothing twice; an attempt command carries its attempt number and a stale one changes nothing; a staff retry
records its command id in the document it changed.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.adapters.channel_store import ChannelStore
from ingest.adapters.writeback_store import WriteBackStore
from ingest.connectors.base import ConnectorError, RateLimited, RefundNotice, ShipmentNotice, WriteBack as ChannelWriteBack
from ingest.connectors.registry import Capabilities
from ingest.domain.channels import ChannelConfig
from ingest.domain.writebacks import WriteBack, WriteBackState, from_document, to_document
from oms_contracts import Envelope, Message, derived_id
from oms_contracts.common import OrderDetails
from oms_contracts.ingest.v1 import AttemptWriteBack, RetryWriteBack, WriteBackToChannel, writeback_id_for
from oms_contracts.orders.v1 import OrderCancelled, OrderProcessed, ReturnBooked
from oms_platform.messaging import Bus

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
FollowUpSender = Callable[[WriteBack], Awaitable[None]]
BuyerMessage = Callable[[WriteBack], tuple[str, str]]  # the write-back's (subject, body) for a channel message

# How a channel's follow-up after shipment goes (channel option `follow_up`): a buyer message through the channel
# (the default where the capability table allows it: eBay), the SMTP email (the default elsewhere), or none.
FOLLOW_UP_WAYS = ("message", "email", "off")


@dataclass
class WriteBackRunner:
    """What the write-back handlers need: where documents live, the channels, how to reach them, the rules."""

    store: WriteBackStore
    channels: ChannelStore
    bus: Bus
    clock: Clock
    build: Callable[[ChannelConfig], ChannelWriteBack]
    capabilities: Mapping[str, Capabilities]
    send_follow_up: FollowUpSender | None = None  # None: no SMTP server configured, no follow-up emails
    buyer_message: BuyerMessage | None = None  # the follow-up as a channel message (None: no template, no message)
    tracking_url: Callable[[str, str], str | None] = lambda carrier, number: None
    max_attempts: int = 5
    backoff_seconds: float = 30.0


def commands_for(envelope: Envelope, *, capabilities: Mapping[str, Capabilities],
                 follow_up: bool) -> list[tuple[Message, str]]:
    """The write-back commands an orders event asks for (and their Kafka key, the order id); none for others."""
    payload = envelope.payload
    commands: list[Message] = []
    if isinstance(payload, OrderProcessed):
        order_id, details = payload.order.order_id, payload.order.details
        if details.channel in capabilities:
            commands.append(WriteBackToChannel(
                writeback_id=writeback_id_for(order_id, "ship"), order_id=order_id, action="ship", order=details,
                carrier=payload.carrier, tracking_number=payload.tracking_number, shipped_at=payload.processed_at))
        can_message = getattr(capabilities.get(details.channel), "message", False)
        if (follow_up and details.buyer.email) or can_message:
            commands.append(WriteBackToChannel(
                writeback_id=writeback_id_for(order_id, "follow_up"), order_id=order_id, action="follow_up",
                order=details, carrier=payload.carrier, tracking_number=payload.tracking_number,
                shipped_at=payload.processed_at))
    elif isinstance(payload, OrderCancelled) and payload.order.details.channel in capabilities:
        order_id = payload.order.order_id
        commands.append(WriteBackToChannel(
            writeback_id=writeback_id_for(order_id, "cancel"), order_id=order_id, action="cancel",
            order=payload.order.details, reason=payload.reason))
    elif isinstance(payload, ReturnBooked) and payload.refund > 0:
        # The return names no channel: the handler takes the order from its shipment write-back, if any.
        commands.append(WriteBackToChannel(
            writeback_id=writeback_id_for(payload.order_id, "refund", str(payload.rma_id)), order_id=payload.order_id,
            action="refund", refund=payload.refund, reason=payload.reason_category))
    return [(command, str(command.order_id)) for command in commands]


async def forward_event(envelope: Envelope, *, bus: Bus, capabilities: Mapping[str, Capabilities],
                        follow_up: bool) -> None:
    """Forward an orders event as write-back commands with ids derived from it (a replay sends the same ids)."""
    for command, key in commands_for(envelope, capabilities=capabilities, follow_up=follow_up):
        event_id = derived_id(envelope.event_id, "writeback", command.action)
        await bus.publish(bus.envelope(command, cause=envelope, event_id=event_id), key=key)


async def handle_command(envelope: Envelope, *, runner: WriteBackRunner) -> None:
    """Apply one write-back command to its document."""
    payload = envelope.payload
    if isinstance(payload, WriteBackToChannel):
        await _write_back(payload, runner)
    elif isinstance(payload, AttemptWriteBack):
        await _attempt_again(payload, runner)
    elif isinstance(payload, RetryWriteBack):
        await _retry(envelope.event_id, payload, runner)


async def _write_back(command: WriteBackToChannel, runner: WriteBackRunner) -> None:
    if await runner.store.get(command.writeback_id) is not None:
        return  # a replayed event: the write-back exists, nothing is sent twice
    order = command.order or await _shipped_order(command.order_id, runner)
    if order is None:
        return  # a refund of an order we never wrote back (not from a channel)
    now = runner.clock()
    writeback = WriteBack(
        writeback_id=command.writeback_id, order_id=command.order_id, action=command.action,
        channel=order.channel, channel_account=order.channel_account, channel_order_id=order.channel_order_id,
        order=order, carrier=command.carrier, tracking_number=command.tracking_number, shipped_at=command.shipped_at,
        refund=command.refund, reason=command.reason, next_attempt_at=now, created_at=now,
    )
    capabilities = runner.capabilities.get(order.channel)
    if command.action == "follow_up":
        writeback.via = await _follow_up_way(writeback, runner)
        if writeback.via == "off" or (writeback.via == "email" and runner.send_follow_up is None):
            return  # no follow-up for this channel (or no SMTP server): nothing to send, nothing to record
    if command.action != "follow_up" and (capabilities is None or not capabilities.allows(command.action)):
        writeback.skip(f"{order.channel} cannot take a {command.action} write-back (see GET /channels/capabilities)")
    elif writeback.via == "message" and not getattr(capabilities, "message", False):
        writeback.skip(f"{order.channel} takes no buyer messages (channel option follow_up: email or off)")
    elif writeback.via == "email" and not order.buyer.email:
        writeback.skip("the buyer has no email address")
    else:
        await _try(writeback, runner)
    await runner.store.save(to_document(writeback, version=0, handled={}))


async def _shipped_order(order_id: uuid.UUID, runner: WriteBackRunner) -> OrderDetails | None:
    doc = await runner.store.get(writeback_id_for(order_id, "ship"))
    return None if doc is None else from_document(doc).order


async def _attempt_again(command: AttemptWriteBack, runner: WriteBackRunner) -> None:
    doc = await runner.store.get(command.writeback_id)
    if doc is None:
        return
    writeback = from_document(doc)
    if writeback.state is not WriteBackState.PENDING or command.attempt != len(writeback.attempts) + 1:
        return  # stale: that attempt was made already (or the write-back is settled)
    await _try(writeback, runner)
    await runner.store.save(to_document(writeback, version=doc["version"], handled=doc.get("handled", {})))


async def _retry(command_id: uuid.UUID, command: RetryWriteBack, runner: WriteBackRunner) -> None:
    doc = await runner.store.get(command.writeback_id)
    if doc is None or str(command_id) in doc.get("handled", {}):
        return
    writeback = from_document(doc)
    if writeback.retry(at=runner.clock()):
        await _try(writeback, runner)
    # Recorded with what it published (nothing), so the API waiting on this command sees it handled.
    handled = {**doc.get("handled", {}), str(command_id): []}
    await runner.store.save(to_document(writeback, version=doc["version"], handled=handled))


async def _try(writeback: WriteBack, runner: WriteBackRunner) -> None:
    """One attempt, recorded on the write-back: confirmed, pending with its next time, or failed."""
    error = await _send(writeback, runner)
    if error is not None:
        log.warning("write-back %s (%s %s, order %s) attempt %d failed: %s", writeback.writeback_id,
                    writeback.action, writeback.channel, writeback.order_id, len(writeback.attempts) + 1, error)
    writeback.attempted(at=runner.clock(), error=error, max_attempts=runner.max_attempts,
                        backoff=runner.backoff_seconds)


async def _send(writeback: WriteBack, runner: WriteBackRunner) -> str | None:
    """Tell the channel (or the buyer); None when accepted, else the reason staff see."""
    try:
        if writeback.action == "follow_up" and writeback.via == "message":
            if runner.buyer_message is None:
                return "no buyer message template is configured"
            subject, body = runner.buyer_message(writeback)
            channel = runner.build(await _channel_of(writeback, runner))
            await channel.send_buyer_message(writeback.channel_order_id, subject=subject, body=body)
            return None
        if writeback.action == "follow_up":
            if runner.send_follow_up is None:
                return "no SMTP server is configured (INGEST_SMTP_HOST)"
            await runner.send_follow_up(writeback)
            return None
        channel = runner.build(await _channel_of(writeback, runner))
        if writeback.action == "ship":
            lines = writeback.order.lines
            await channel.confirm_shipment(ShipmentNotice(
                channel_order_id=writeback.channel_order_id, carrier=writeback.carrier or "",
                tracking_number=writeback.tracking_number or "", shipped_at=writeback.shipped_at or runner.clock(),
                line_ids=[line.line_id for line in lines], quantities={line.line_id: line.quantity for line in lines},
                service=writeback.order.shipping.service,
                tracking_url=runner.tracking_url(writeback.carrier or "", writeback.tracking_number or ""),
                package_ref=package_ref(writeback.order_id)))
        elif writeback.action == "cancel":
            await channel.cancel_order(writeback.channel_order_id, writeback.reason or "cancelled")
        elif writeback.action == "refund":
            await channel.refund(RefundNotice(channel_order_id=writeback.channel_order_id,
                                              amount=writeback.refund or 0, currency=writeback.order.currency,
                                              reason=writeback.reason or "return"))
    except RateLimited as exc:
        return f"rate limited: {exc}"
    except ConnectorError as exc:
        return str(exc)
    except NotImplementedError as exc:
        return f"not supported: {exc}"
    except Exception as exc:  # noqa: BLE001 - SMTP, network or a connector bug: recorded for staff, retried
        log.exception("write-back %s failed unexpectedly", writeback.writeback_id)
        return f"{type(exc).__name__}: {exc}"
    return None


async def _follow_up_way(writeback: WriteBack, runner: WriteBackRunner) -> str:
    """The order's channel option `follow_up` (message, email or off); unset or no channel configured: a buyer
    message where the channel takes one, else email."""
    configs = [c for c in await runner.channels.configs() if c.kind == writeback.channel
               and (writeback.channel_account is None or c.account == writeback.channel_account)]
    chosen = configs[0].options.get("follow_up") if len(configs) == 1 else None
    if chosen in FOLLOW_UP_WAYS:
        return chosen
    return "message" if getattr(runner.capabilities.get(writeback.channel), "message", False) else "email"


def package_ref(order_id: uuid.UUID) -> str:
    """A positive package number of our order: the same on every retry, another for each half of a split order."""
    return str(int(order_id.hex[:12], 16) % 999_999_999 + 1)


async def _channel_of(writeback: WriteBack, runner: WriteBackRunner) -> ChannelConfig:
    """The configured channel the order came from: its kind and, when the order says, its account."""
    found = [c for c in await runner.channels.configs() if c.kind == writeback.channel
             and (writeback.channel_account is None or c.account == writeback.channel_account)]
    which = f"{writeback.channel}" + (f" account {writeback.channel_account}" if writeback.channel_account else "")
    if not found:
        raise ConnectorError(f"no {which} channel is configured (PUT /channels/{{id}} with its API credentials)")
    if len(found) > 1:
        raise ConnectorError(f"{len(found)} {which} channels are configured: "
                             f"{', '.join(c.channel_id for c in found)}; cannot tell which one")
    return found[0]


def attempt_write_back(doc: dict, attempt: int) -> tuple[Message, str]:
    """The attempt command of a due write-back document, and its key (the order id)."""
    return (AttemptWriteBack(writeback_id=uuid.UUID(doc["_id"]), order_id=uuid.UUID(doc["order_id"]),
                             attempt=attempt), doc["order_id"])


class Scheduler:
    """Sends the next attempt of each pending document whose time has come (read-only on the documents):
    write-backs by default, or what `command` makes of a due document (the stock pushes)."""

    def __init__(self, *, store: WriteBackStore, bus: Bus, clock: Clock, resend_after: float = 30.0,
                 command: Callable[[dict, int], tuple[Message, str]] = attempt_write_back) -> None:
        self.store, self.bus, self.clock, self.command = store, bus, clock, command
        self.resend_after = timedelta(seconds=resend_after)
        self._sent: dict[str, tuple[int, datetime]] = {}  # attempt sent and when, so one is not sent every tick

    async def send_due(self, *, limit: int = 100) -> int:
        """Publish `ingest.attempt_write_back` for the due ones; how many were sent."""
        now = self.clock()
        # Forget what was sent long enough ago: resent if still due, and the map does not grow without end.
        self._sent = {key: value for key, value in self._sent.items() if now - value[1] < self.resend_after}
        sent = 0
        for doc in await self.store.due(now=now, limit=limit):
            attempts = doc.get("attempts") or 0
            attempt = (attempts if isinstance(attempts, int) else len(attempts)) + 1
            previous = self._sent.get(doc["_id"])
            if previous is not None and previous[0] == attempt and now - previous[1] < self.resend_after:
                continue  # sent already; the consumer has not got to it yet
            command, key = self.command(doc, attempt)
            envelope = self.bus.envelope(command, event_id=derived_id(doc["_id"], "attempt", str(attempt)))
            await self.bus.publish(envelope, key=key)
            self._sent[doc["_id"]] = (attempt, now)
            sent += 1
        return sent
