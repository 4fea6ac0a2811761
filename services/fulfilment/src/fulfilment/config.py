"""Settings of the fulfilment service (env prefix FULFILMENT_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from oms_contracts.fulfilment.v1 import ProcessFlow, ShippingDefault
from oms_platform.settings import ServiceSettings
from fulfilment.adapters.carriers import SERIAL_SPACE
from fulfilment.domain.model import DOCUMENT_TYPES
from fulfilment.domain.rules import ChannelSettings


class Settings(ServiceSettings):
    """Everything the fulfilment service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="FULFILMENT_")

    api_host: str = "127.0.0.1"
    api_port: int = 8104
    database: str = "oms_fulfilment"
    documents: Annotated[tuple[str, ...], NoDecode] = Field(
        ("invoice", "shipping_label"),
        description="Comma-separated documents a shipment prints unless its channel's settings say otherwise, "
        "from: invoice, packing_slip, shipping_label.",
    )
    flow: ProcessFlow = Field(
        "printed",
        description="Process flow of channels without settings of their own: 'printed' (confirm when every "
        "document printed), 'immediately' (once the print jobs are sent), 'batch' (when the order's batch is "
        "processed), 'pack' (when the last item is scanned at a pack station).",
    )
    carrier_name: str = Field(
        "OMS Post", min_length=1, max_length=100, description="Name of the built-in carrier (tracking range)."
    )
    tracking_prefix: str = Field(
        "OM", pattern=r"^[A-Z]{2}$", description="Two-letter service indicator of the S10 tracking numbers."
    )
    tracking_country: str = Field(
        "GB", pattern=r"^[A-Z]{2}$", description="Two-letter country code ending the S10 tracking numbers."
    )
    tracking_range_start: int = Field(1, ge=0, lt=SERIAL_SPACE, description="First serial of the tracking range.")
    tracking_range_end: int = Field(
        SERIAL_SPACE - 1, ge=0, lt=SERIAL_SPACE, description="Last serial of the tracking range."
    )
    default_service: str | None = Field(
        None, min_length=1, max_length=100,
        description="Shipping service when no shipping rule matches; unset keeps the service the buyer chose.",
    )
    inventory_url: str = Field("http://127.0.0.1:8103", description="Base URL of the inventory API.")
    inventory_api_key: SecretStr | None = Field(
        None, description="Key fulfilment reads stock items with; unset: the first ops (or admin) key of OMS_API_KEYS."
    )
    command_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a state-changing request waits for the worker before answering 202."
    )

    @field_validator("documents", mode="before")
    @classmethod
    def _split_documents(cls, value: object) -> object:
        """Accept 'invoice,shipping_label' from the environment; refuse unknown or duplicate document types."""
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        value = tuple(value)
        unknown = [v for v in value if v not in DOCUMENT_TYPES]
        if unknown or not value or len(set(value)) != len(value):
            raise ValueError(f"expected distinct document types from {DOCUMENT_TYPES}, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _range_in_order(self) -> "Settings":
        if self.tracking_range_start > self.tracking_range_end:
            raise ValueError("FULFILMENT_TRACKING_RANGE_START is after FULFILMENT_TRACKING_RANGE_END")
        return self

    def default_channel(self) -> ChannelSettings:
        """What a channel without settings of its own does."""
        return ChannelSettings(flow=self.flow, documents=self.documents)

    def default_shipping(self) -> ShippingDefault:
        """Service and carrier of an order no shipping rule matches, until staff set rules."""
        return ShippingDefault(service=self.default_service, carrier=self.carrier_name)

    def inventory_key(self) -> str:
        """The key to read inventory with."""
        if self.inventory_api_key is not None:
            return self.inventory_api_key.get_secret_value()
        pairs = [p.strip().partition(":") for p in self.api_keys.get_secret_value().split(",") if p.strip()]
        for wanted in ("ops", "admin"):
            for role, _, key in pairs:
                if role == wanted:
                    return key
        raise ValueError("OMS_API_KEYS has no ops or admin key to read inventory with: set FULFILMENT_INVENTORY_API_KEY")
