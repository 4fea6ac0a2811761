"""Settings of the ops console (env prefix CONSOLE_, plus MONGODB_URL for its users)."""

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the console reads from its environment. Secrets have no defaults: a missing one fails at start."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    mongodb_url: SecretStr = Field(validation_alias="MONGODB_URL")
    database: str = "oms_console"
    api_host: str = "127.0.0.1"
    api_port: int = 8106
    service_key: SecretStr = Field(
        description="A key of role `console` from OMS_API_KEYS: the console calls the services with it, naming "
        "the signed-in user."
    )
    session_secret: SecretStr = Field(min_length=32, description="Signs the session cookies (32+ characters).")
    admin_password: SecretStr | None = Field(
        None, description="When no user exists yet, an `admin` user is created with this password at start."
    )
    secure_cookies: bool = Field(False, description="Send the session cookie over HTTPS only (true behind TLS).")
    session_hours: float = Field(12, gt=0, description="A session ends this long after sign-in.")
    live_poll_seconds: float = Field(2.0, gt=0, description="How often the live Open Orders feed asks for news.")
    ingest_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8101")
    orders_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8102")
    inventory_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8103")
    fulfilment_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8104")
    printing_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8105")
    log_level: str = Field("INFO", validation_alias="OMS_LOG_LEVEL")
