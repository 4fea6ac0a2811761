"""Normalisers: turn the body of an intake into the order it describes, or say precisely what is wrong."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, ValidationError

from ingest.domain.channel_orders import (
    DEFAULT_WOOCOMMERCE_STATUSES,
    SHOPIFY_ORDER_TOPICS,
    WOOCOMMERCE_ORDER_TOPICS,
    normalise_shopify_order,
    normalise_woocommerce_order,
)
from ingest.domain.errors import OrderSkipped, PayloadRejected, Problem
from ingest.domain.model import Intake, IntakeKind
from oms_contracts.common import OrderDetails


class GenericOrderPayload(OrderDetails):
    """The body of the generic order intake: a normalised order, and when the channel last changed it."""

    channel_updated_at: AwareDatetime | None = None


@dataclass(frozen=True)
class NormalisedOrder:
    """An order read from an intake, ready to publish."""

    order: OrderDetails
    channel_updated_at: datetime
    lock_reason: str | None = None
    shipped_on_channel: bool = False


def normalise(
    intake: Intake, *, woocommerce_statuses: Iterable[str] = DEFAULT_WOOCOMMERCE_STATUSES
) -> NormalisedOrder:
    """The order an intake describes; raises PayloadRejected naming each problem, or OrderSkipped with why.

    `woocommerce_statuses` are the WooCommerce statuses configured as unprocessed (the ones imported).
    """
    if intake.kind is IntakeKind.ORDER:
        return normalise_generic_order(intake)
    if intake.kind is IntakeKind.SHOPIFY_ORDER:
        if intake.topic not in SHOPIFY_ORDER_TOPICS:
            raise OrderSkipped(f"topic {intake.topic!r} is not handled ({', '.join(sorted(SHOPIFY_ORDER_TOPICS))})")
        order, updated_at = normalise_shopify_order(intake.body)
        return NormalisedOrder(order=order, channel_updated_at=updated_at)
    if intake.kind is IntakeKind.WOOCOMMERCE_ORDER:
        if intake.topic not in WOOCOMMERCE_ORDER_TOPICS:
            raise OrderSkipped(
                f"topic {intake.topic!r} is not handled ({', '.join(sorted(WOOCOMMERCE_ORDER_TOPICS))})")
        order, updated_at = normalise_woocommerce_order(intake.body, unprocessed=woocommerce_statuses)
        return NormalisedOrder(order=order, channel_updated_at=updated_at)
    raise PayloadRejected([Problem(loc=("body",), msg=f"no normaliser for {intake.kind!r}", type="unknown_kind")])


def normalise_generic_order(intake: Intake) -> NormalisedOrder:
    """Read OrderDetails JSON whose channel matches the intake's; `channel_updated_at` defaults to when it arrived.

    The default is the receipt time, not "now", so normalising the same intake again (the re-publisher)
    gives the same message.
    """
    try:
        data = json.loads(intake.body)
    except ValueError as exc:
        raise PayloadRejected([Problem(loc=("body",), msg=f"not JSON: {exc}", type="json_invalid")]) from exc
    if not isinstance(data, dict):
        raise PayloadRejected([Problem(loc=("body",), msg="expected a JSON object", type="model_type")])
    try:
        payload = GenericOrderPayload.model_validate(data)
    except ValidationError as exc:
        raise PayloadRejected([
            Problem(loc=("body", *error["loc"]), msg=error["msg"], type=error["type"]) for error in exc.errors()
        ]) from exc
    if payload.channel != intake.channel:
        raise PayloadRejected([Problem(
            loc=("body", "channel"),
            msg=f"channel {payload.channel!r} in the body does not match channel {intake.channel!r} in the path",
            type="channel_mismatch",
        )])
    order = OrderDetails(**{name: getattr(payload, name) for name in OrderDetails.model_fields})
    return NormalisedOrder(order=order, channel_updated_at=payload.channel_updated_at or intake.received_at)
