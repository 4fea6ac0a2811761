"""Settings of the orders service (env prefix ORDERS_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from oms_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the orders service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_")

    api_host: str = "127.0.0.1"
    api_port: int = 8102
    database: str = "oms_orders"
    require_paid: bool = Field(True, description="Refuse to process an unpaid order.")
    command_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a state-changing request waits for the worker before answering 202."
    )
    require_stock: bool = Field(True, description="Refuse to process an order whose stock is not all allocated.")
    park_unpaid_channels: str = Field(
        "", description="Channels (comma-separated, `*` = all) whose orders arriving unpaid are parked with reason "
        "'unpaid'; the payment releases that park (not one staff made).")
    require_not_parked: bool = Field(True, description="Refuse to process a parked order.")
    require_not_locked: bool = Field(True, description="Refuse to process a locked order.")
