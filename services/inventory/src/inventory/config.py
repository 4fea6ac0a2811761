"""Settings of the inventory service (env prefix INVENTORY_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from oms_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the inventory service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_")

    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8103, description="Port of the API.")
    database: str = Field("oms_inventory", description="MongoDB database holding `stock` and `ledger`.")
