"""Handlers of fulfilment: each command loads its aggregate, asks the domain, stores, then publishes.

Only the consumer of oms.fulfilment.commands runs `handle_command`, and every command is keyed by the document it
writes (order id for shipments, batch id for batches, 'shipping-rules' / 'channel:<name>' for settings, carrier
name for the tracking range), so each document has one writer. Events from other contexts are forwarded here as
commands by `forward_event`; it stores nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oms_contracts import Envelope, Message, derived_id
from oms_contracts.fulfilment.v1 import (
    CommandRejected,
    ConfirmBatchShipment,
    CreateBatch,
    CreateShipment,
    IssueTrackingNumber,
    PrintBatchDocuments,
    ProcessBatch,
    RecordDocumentOutcome,
    RecordTrackingNumber,
    ScanItem,
    SetChannelSettings,
    SetShippingRules,
    ShippingDefault,
    VoidShipment,
)
from oms_contracts.orders.v1 import OrderProcessingStarted, OrderSnapshot
from oms_contracts.printing.v1 import JobFailed, JobPrinted, PrintDocument, PrintPickList, print_job_id
from oms_platform.documents import DocumentStore, Decision, handle_once
from oms_platform.messaging import Bus, PermanentError
from fulfilment.adapters.carriers import CarrierError, Carriers
from fulfilment.adapters.catalogue import Catalogue, ItemInfo
from fulfilment.domain.batch import Batch, Placement, build_pick_list
from fulfilment.domain.errors import ShipmentRefused
from fulfilment.domain.model import PackItem, Shipment, ShipmentStatus
from fulfilment.domain.rules import ChannelSettings, ShippingRules

Clock = Callable[[], datetime]
SHIPPING_RULES_ID = "shipping-rules"
SHIPMENT_COMMANDS = (CreateShipment, RecordDocumentOutcome, RecordTrackingNumber, VoidShipment, ScanItem,
                     PrintBatchDocuments, ConfirmBatchShipment)


def channel_settings_id(channel: str) -> str:
    """The settings document (and Kafka key) of a channel."""
    return f"channel:{channel}"


@dataclass
class Fulfilment:
    """What the handlers need: the stores, the bus, the carriers, inventory's catalogue, defaults and a clock."""

    shipments: DocumentStore
    batches: DocumentStore
    settings: DocumentStore
    bus: Bus
    carriers: Carriers
    catalogue: Catalogue
    default_channel: ChannelSettings
    default_shipping: ShippingDefault
    clock: Clock

    async def shipping_rules(self) -> ShippingRules:
        """The rules staff set, or none with the configured default."""
        doc = await self.settings.get(SHIPPING_RULES_ID)
        if doc is None:
            return ShippingRules(rules=[], default=self.default_shipping)
        return ShippingRules.model_validate({"rules": doc["rules"], "default": doc["default"]})

    async def channel(self, channel: str) -> ChannelSettings:
        """A channel's settings, or the configured defaults."""
        doc = await self.settings.get(channel_settings_id(channel))
        if doc is None:
            return self.default_channel
        return ChannelSettings(flow=doc["flow"], documents=tuple(doc["documents"]))


async def handle_command(envelope: Envelope, *, ctx: Fulfilment) -> None:
    """Apply one fulfilment command exactly once, then publish what it caused."""
    command = envelope.payload
    if isinstance(command, SHIPMENT_COMMANDS):
        await _handle_shipment_command(envelope, ctx=ctx)
    elif isinstance(command, IssueTrackingNumber):
        await _issue_tracking_number(envelope, ctx=ctx)
    elif isinstance(command, (CreateBatch, ProcessBatch)):
        await _handle_batch_command(envelope, ctx=ctx)
    elif isinstance(command, (SetShippingRules, SetChannelSettings)):
        await _handle_settings_command(envelope, ctx=ctx)
    else:
        raise PermanentError(f"fulfilment cannot handle {envelope.type}")


# Shipments -------------------------------------------------------------------------------------------------------


async def _handle_shipment_command(envelope: Envelope, *, ctx: Fulfilment) -> None:
    command = envelope.payload
    order_id = command.order.order_id if isinstance(command, CreateShipment) else command.order_id

    async def decide(doc: dict | None) -> Decision:
        shipment = Shipment.model_validate(doc["shipment"]) if doc else None
        now = ctx.clock()
        if isinstance(command, CreateShipment):
            shipment, payloads = await _create_or_retry(shipment, command.order, ctx=ctx, now=now)
        elif shipment is None:
            raise PermanentError(f"{envelope.type} for order {order_id}, which has no shipment")
        else:
            try:
                payloads = _apply(shipment, command, now=now)
            except ShipmentRefused as refusal:
                shipment.note(now, f"{envelope.type} refused", str(refusal))
                payloads = [CommandRejected(aggregate_id=str(order_id), command_type=envelope.type,
                                            command_id=envelope.event_id, reason=str(refusal))]
        fields = {
            "status": shipment.status.value,
            "tracking_number": shipment.tracking_number,
            "channel": shipment.order.details.channel,
            "created_at": shipment.created_at.isoformat(),
            "shipment": shipment.model_dump(mode="json"),
        }
        return fields, [(p, _key(p, str(order_id))) for p in payloads]

    await handle_once(envelope, aggregate_id=order_id, store=ctx.shipments, bus=ctx.bus, decide=decide)


async def _create_or_retry(
    shipment: Shipment | None, order: OrderSnapshot, *, ctx: Fulfilment, now: datetime
) -> tuple[Shipment, list[Message]]:
    """A new shipment (or a new attempt after a void): choose service and carrier, then ask for the number."""
    if shipment is not None and shipment.status is not ShipmentStatus.VOIDED:
        shipment.note(now, "create requested again", "the order already has this shipment")
        return shipment, []
    settings = await ctx.channel(order.details.channel)
    known = await ctx.catalogue.items([line.sku for line in order.details.lines])
    weight = sum(line.quantity * (known[line.sku].weight or 0.0) for line in order.details.lines if line.sku in known)
    choice = (await ctx.shipping_rules()).choose(order, weight_kg=weight)
    items = _pack_items(order, known)
    if shipment is None:
        shipment, payloads = Shipment.create(order=order, choice=choice, settings=settings, items=items,
                                             weight_kg=weight, now=now)
    else:
        shipment, payloads = shipment.retry(choice=choice, settings=settings, items=items, weight_kg=weight, now=now)
    carrier = ctx.carriers.get(choice.carrier, manual=choice.manual_tracking)
    payloads += carrier.request_tracking_number(order_id=order.order_id, shipment_id=shipment.shipment_id)
    return shipment, payloads


def _pack_items(order: OrderSnapshot, known: dict[str, ItemInfo]) -> list[PackItem]:
    """What the packer must scan: each SKU once with its total quantity, and its barcode when inventory has one."""
    items: dict[str, PackItem] = {}
    for line in order.details.lines:
        if line.sku in items:
            items[line.sku].quantity += line.quantity
        else:
            info = known.get(line.sku)
            items[line.sku] = PackItem(sku=line.sku, title=line.title, barcode=info.barcode if info else None,
                                       quantity=line.quantity)
    return list(items.values())


def _apply(shipment: Shipment, command: Message, *, now: datetime) -> list[Message]:
    """Ask the shipment what a command does."""
    if isinstance(command, RecordDocumentOutcome):
        return shipment.record_document_outcome(job_id=command.job_id, printed=command.printed,
                                                 reason=command.reason, now=now)
    if isinstance(command, RecordTrackingNumber):
        return shipment.record_tracking_number(tracking_number=command.tracking_number,
                                               shipment_id=command.shipment_id, entered_by=command.entered_by,
                                               now=now)
    if isinstance(command, VoidShipment):
        return shipment.void(reason=command.reason, by=command.requested_by, now=now)
    if isinstance(command, ScanItem):
        return shipment.scan(code=command.code, station=command.station, now=now)
    if isinstance(command, PrintBatchDocuments):
        return shipment.print_for_batch(batch_id=command.batch_id, now=now)
    if isinstance(command, ConfirmBatchShipment):
        return shipment.confirm_for_batch(batch_id=command.batch_id, now=now)
    raise PermanentError(f"fulfilment cannot handle {command.TYPE}")


def _key(payload: Message, aggregate_id: str) -> str:
    """Kafka key of what we publish: print jobs by job id, tracking requests by carrier, the rest by aggregate."""
    if isinstance(payload, (PrintDocument, PrintPickList)):
        return str(payload.job_id)
    if isinstance(payload, IssueTrackingNumber):
        return payload.carrier
    if isinstance(payload, (PrintBatchDocuments, ConfirmBatchShipment)):
        return str(payload.order_id)
    return aggregate_id


# Tracking range --------------------------------------------------------------------------------------------------


async def _issue_tracking_number(envelope: Envelope, *, ctx: Fulfilment) -> None:
    """The range's single writer: issue (or find again) the shipment's number and send it to the shipment."""
    command: IssueTrackingNumber = envelope.payload
    if command.carrier != ctx.carriers.range.name:
        raise PermanentError(f"{command.carrier} has no tracking range here (only {ctx.carriers.range.name})")
    try:
        number = await ctx.carriers.range.issue(order_id=command.order_id, shipment_id=command.shipment_id)
    except CarrierError as exc:
        raise PermanentError(str(exc)) from exc
    record = RecordTrackingNumber(order_id=command.order_id, shipment_id=command.shipment_id,
                                  tracking_number=number)
    # The id derives from the command's, so a redelivered request records the same number once.
    forwarded = ctx.bus.envelope(record, cause=envelope, event_id=derived_id(envelope.event_id, "tracking-number"))
    await ctx.bus.publish(forwarded, key=str(command.order_id))


# Batches ---------------------------------------------------------------------------------------------------------


async def _handle_batch_command(envelope: Envelope, *, ctx: Fulfilment) -> None:
    command = envelope.payload
    batch_id = command.batch_id

    async def decide(doc: dict | None) -> Decision:
        now = ctx.clock()
        batch = Batch.model_validate(doc["batch"]) if doc else None
        payloads: list[Message] = []
        if isinstance(command, CreateBatch):
            if batch is None:
                batch, payloads = await _create_batch(command, ctx=ctx, now=now)
        elif batch is None:
            raise PermanentError(f"{envelope.type} for batch {batch_id}, which does not exist")
        elif batch.status == "processed":
            payloads = [CommandRejected(aggregate_id=str(batch_id), command_type=envelope.type,
                                        command_id=envelope.event_id, reason=f"batch {batch_id} is processed")]
        else:
            batch.status, batch.processed_by, batch.processed_at = "processed", command.requested_by, now
            payloads = [ConfirmBatchShipment(order_id=order_id, batch_id=batch_id, requested_by=command.requested_by)
                        for order_id in batch.order_ids]
        fields = {"status": batch.status, "created_at": batch.created_at.isoformat(),
                  "batch": batch.model_dump(mode="json")}
        return fields, [(p, _key(p, str(batch_id))) for p in payloads]

    await handle_once(envelope, aggregate_id=batch_id, store=ctx.batches, bus=ctx.bus, decide=decide)


async def _create_batch(command: CreateBatch, *, ctx: Fulfilment, now: datetime) -> tuple[Batch, list[Message]]:
    """Pick list over the orders that have a shipment able to join, and each order's documents for the batch."""
    orders: list[OrderSnapshot] = []
    skipped: dict[str, str] = {}
    for order_id in dict.fromkeys(command.order_ids):
        doc = await ctx.shipments.get(order_id)
        if doc is None:
            skipped[str(order_id)] = "no shipment: the order has not been processed"
            continue
        shipment = Shipment.model_validate(doc["shipment"])
        if shipment.status in (ShipmentStatus.CONFIRMED, ShipmentStatus.VOIDED):
            skipped[str(order_id)] = f"the shipment is {shipment.status.value}"
            continue
        orders.append(shipment.order)
    known = await ctx.catalogue.items([line.sku for order in orders for line in order.details.lines])
    placements = {sku: Placement(title=item.title, location=item.default_location, bin=item.default_bin)
                  for sku, item in known.items()}
    lines = build_pick_list(orders, placements)
    job_id = print_job_id(command.batch_id, "pick_list", 1) if lines else None
    batch = Batch(batch_id=command.batch_id, order_ids=[o.order_id for o in orders], skipped=skipped,
                  pick_list=lines, pick_list_job_id=job_id, created_by=command.requested_by, created_at=now)
    payloads: list[Message] = []
    if lines:
        payloads.append(PrintPickList(job_id=job_id, batch_id=command.batch_id, lines=lines))
    payloads += [PrintBatchDocuments(order_id=o.order_id, batch_id=command.batch_id) for o in orders]
    return batch, payloads


# Settings --------------------------------------------------------------------------------------------------------


async def _handle_settings_command(envelope: Envelope, *, ctx: Fulfilment) -> None:
    command = envelope.payload
    if isinstance(command, SetShippingRules):
        aggregate_id = SHIPPING_RULES_ID
        fields: dict[str, Any] = {"rules": [r.model_dump(mode="json") for r in command.rules],
                                  "default": command.default.model_dump(mode="json")}
    else:
        aggregate_id = channel_settings_id(command.channel)
        fields = {"channel": command.channel, "flow": command.flow, "documents": list(command.documents)}
    fields |= {"updated_by": command.requested_by, "updated_at": ctx.clock().isoformat()}

    async def decide(doc: dict | None) -> Decision:
        return fields, []

    await handle_once(envelope, aggregate_id=aggregate_id, store=ctx.settings, bus=ctx.bus, decide=decide)


# Other contexts' events ------------------------------------------------------------------------------------------


async def forward_event(envelope: Envelope, *, bus: Bus) -> None:
    """Turn another context's event into a fulfilment command keyed by order id; other events are ignored."""
    event = envelope.payload
    command: Message | None = None
    if isinstance(event, OrderProcessingStarted):
        command = CreateShipment(order=event.order)
        purpose, key = "create-shipment", event.order.order_id
    elif isinstance(event, (JobPrinted, JobFailed)):
        if event.document_type == "pick_list":
            return  # a batch's pick list is not a document of any shipment
        command = RecordDocumentOutcome(
            order_id=event.order_id, job_id=event.job_id, document_type=event.document_type,
            printed=isinstance(event, JobPrinted), reason=event.reason if isinstance(event, JobFailed) else None,
        )
        purpose, key = "record-document-outcome", event.order_id
    if command is None:
        return
    forwarded = bus.envelope(command, cause=envelope, event_id=derived_id(envelope.event_id, purpose))
    await bus.publish(forwarded, key=str(key))
