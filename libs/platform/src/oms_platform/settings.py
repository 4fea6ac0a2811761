"""The settings every service shares; each service's own `Settings` subclasses this with its env prefix."""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Endpoints and secrets common to all services. Secrets have no defaults: a missing one fails at start."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    mongodb_url: SecretStr = Field(validation_alias="MONGODB_URL")
    api_keys: SecretStr = Field(
        validation_alias="OMS_API_KEYS",
        description="Comma-separated role:key pairs, e.g. 'admin:k1,ops:k2'. Roles: admin, ops, packer, console.",
    )
    topic_partitions: int = Field(3, ge=1, validation_alias="OMS_TOPIC_PARTITIONS")
    max_attempts: int = Field(
        5, ge=1, validation_alias="OMS_MAX_ATTEMPTS",
        description="Tries of a failing handler before the DLQ (database and Kafka outages do not count: retried "
        "without limit).",
    )
    log_level: str = Field("INFO", validation_alias="OMS_LOG_LEVEL")
    log_format: Literal["json", "text"] = Field(
        "json", validation_alias="OMS_LOG_FORMAT", description="'json': one JSON object per line; 'text' for people."
    )
    worker_metrics_host: str = Field("127.0.0.1", description="Address of the worker's Prometheus /metrics.")
    worker_metrics_port: int = Field(0, ge=0, le=65535, description="Port of the worker's /metrics; 0: none.")

    @property
    def service_name(self) -> str:
        """The service these settings belong to, from its env prefix (ORDERS_ → orders)."""
        return str(self.model_config.get("env_prefix", "")).rstrip("_").lower()
    rate_limit_per_minute: int = Field(
        3000, ge=0, validation_alias="OMS_RATE_LIMIT_PER_MINUTE",
        description="Requests a minute one client (API key, or address without one) may make to one API process; "
        "0 turns the limit off.",
    )
