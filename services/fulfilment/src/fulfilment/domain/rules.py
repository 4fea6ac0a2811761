"""Shipping rules (which service and carrier an order ships with) and per-channel processing settings."""

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.fulfilment.v1 import ProcessFlow, ShipmentDocumentType, ShippingDefault, ShippingRule
from oms_contracts.orders.v1 import OrderSnapshot


class ShippingChoice(BaseModel):
    """What an order ships with, and which rule chose it."""

    model_config = ConfigDict(frozen=True)
    service: str
    carrier: str
    manual_tracking: bool
    rule: str | None = None  # None: the default


class ShippingRules(BaseModel):
    """The ordered rules (first match wins) and the default."""

    rules: list[ShippingRule] = Field(default_factory=list)
    default: ShippingDefault

    def choose(self, order: OrderSnapshot, *, weight_kg: float) -> ShippingChoice:
        """The first rule that matches the order's channel, country, weight and value, else the default."""
        details = order.details
        value = details.total()
        for rule in self.rules:
            if _matches(rule, channel=details.channel, country=details.shipping_address.country,
                        weight_kg=weight_kg, value=value):
                return ShippingChoice(service=rule.service, carrier=rule.carrier,
                                      manual_tracking=rule.manual_tracking, rule=rule.name)
        return ShippingChoice(
            service=self.default.service or details.shipping.service,
            carrier=self.default.carrier,
            manual_tracking=self.default.manual_tracking,
        )


def _matches(rule: ShippingRule, *, channel: str, country: str, weight_kg: float, value: Decimal) -> bool:
    """Every condition the rule sets holds; maxima are exclusive so adjacent bands do not overlap."""
    return (
        (not rule.channels or channel in rule.channels)
        and (not rule.countries or country in rule.countries)
        and (rule.min_weight_kg is None or weight_kg >= rule.min_weight_kg)
        and (rule.max_weight_kg is None or weight_kg < rule.max_weight_kg)
        and (rule.min_value is None or value >= rule.min_value)
        and (rule.max_value is None or value < rule.max_value)
    )


class ChannelSettings(BaseModel):
    """How one channel's orders are processed, and the documents each prints."""

    model_config = ConfigDict(frozen=True)
    flow: ProcessFlow = "printed"
    documents: tuple[ShipmentDocumentType, ...] = Field(("invoice", "shipping_label"), min_length=1)
