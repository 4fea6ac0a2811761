"""Settings of the ingest service (env prefix INGEST_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from oms_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the ingest service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="INGEST_")

    api_host: str = "127.0.0.1"
    api_port: int = 8101
    database: str = "oms_ingest"
    republish_after_seconds: float = Field(
        60.0,
        gt=0,
        description="Age after which an intake still 'received' (stored, not yet published) is re-published. "
        "Keep it well above INGEST_PUBLISH_TIMEOUT_SECONDS, so the request that stored it has finished with it.",
    )
    publish_timeout_seconds: float = Field(
        5.0, gt=0, description="How long a request waits for Kafka before answering 202 with the intake still "
        "'received' (the re-publisher then sends it).",
    )
    republish_every_seconds: float = Field(5.0, gt=0, description="How often the re-publisher looks for such intakes.")
    max_body_bytes: int = Field(
        1_000_000, ge=1024, le=8_000_000, description="Largest payload accepted; a larger one is refused with 413."
    )
