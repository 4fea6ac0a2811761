"""Settings of the fulfilment service (env prefix FULFILMENT_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from oms_platform.settings import ServiceSettings
from fulfilment.domain.model import DOCUMENT_TYPES, ShipmentPolicy


class Settings(ServiceSettings):
    """Everything the fulfilment service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="FULFILMENT_")

    api_host: str = "127.0.0.1"
    api_port: int = 8104
    database: str = "oms_fulfilment"
    documents: Annotated[tuple[str, ...], NoDecode] = Field(
        ("invoice", "shipping_label"),
        description="Comma-separated documents every shipment prints, from: invoice, packing_slip, shipping_label.",
    )
    confirm_on: Literal["printed", "immediately"] = Field(
        "printed",
        description="'printed': confirm when every document printed; 'immediately': once the print jobs are sent.",
    )
    carrier_name: str = Field("OMS Post", min_length=1, max_length=100)
    tracking_prefix: str = Field(
        "OM", pattern=r"^[A-Z]{2}$", description="Two-letter service indicator of the S10 tracking numbers."
    )
    tracking_country: str = Field(
        "GB", pattern=r"^[A-Z]{2}$", description="Two-letter country code ending the S10 tracking numbers."
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

    def shipment_policy(self) -> ShipmentPolicy:
        """The domain's view of these settings."""
        return ShipmentPolicy(documents=self.documents, confirm_on=self.confirm_on)
