"""Settings of the inventory service (env prefix INVENTORY_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from oms_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the inventory service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_")

    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8103, description="Port of the API.")
    database: str = Field(
        "oms_inventory", description="MongoDB database holding `stock`, `ledger`, `stock_items` and `purchase_orders`."
    )
    command_timeout_seconds: float = Field(
        10.0, gt=0, description="Seconds PUT /stock-items and the purchase-order routes wait for the worker before 202."
    )
