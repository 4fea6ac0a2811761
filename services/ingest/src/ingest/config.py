"""Settings of the ingest service (env prefix INGEST_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from ingest.domain.channel_orders import DEFAULT_WOOCOMMERCE_STATUSES
from ingest.domain.webhooks import WebhookSecrets
from oms_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the ingest service reads from its environment."""

    # Inputs are left out of validation errors: they would print a malformed INGEST_WEBHOOK_SECRETS in the log.
    model_config = SettingsConfigDict(env_prefix="INGEST_", hide_input_in_errors=True)

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
    webhook_publish_timeout_seconds: float = Field(
        2.0, gt=0, le=4.0, description="How long a webhook waits for Kafka before it is answered 200 with the intake "
        "still 'received' (the re-publisher then sends it); below Shopify's 5 s answer limit.",
    )
    republish_every_seconds: float = Field(5.0, gt=0, description="How often the re-publisher looks for such intakes.")
    max_body_bytes: int = Field(
        1_000_000, ge=1024, le=8_000_000, description="Largest payload accepted; a larger one is refused with 413."
    )
    webhook_secrets: SecretStr = Field(
        SecretStr(""),
        description="Shared secrets of the channel accounts that send webhooks: `channel:account:secret,...` or "
        'JSON `{"channel:account": "secret" | ["new", "old"]}` (two secrets while rotating). A webhook for an '
        "account not listed here is refused with 401.",
    )
    woocommerce_unprocessed_statuses: str = Field(
        ",".join(DEFAULT_WOOCOMMERCE_STATUSES),
        description="WooCommerce order statuses imported (comma-separated); orders in any other are skipped.",
    )

    poll_tick_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the poller looks for channels due (their own interval, or a "
        "download requested); each channel polls on its `interval_seconds`.")
    poll_http_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one HTTP call to a channel API.")

    writeback_max_attempts: int = Field(
        5, ge=1, le=50, description="Attempts of one channel write-back (or follow-up email) before it is 'failed' "
        "(staff can retry it).")
    writeback_backoff_seconds: float = Field(
        30.0, gt=0, description="Wait after a write-back's first failed attempt; it doubles each attempt (capped "
        "at an hour).")
    writeback_tick_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the ingest worker looks for write-backs whose next attempt is due.")
    writeback_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one write-back call to a channel.")
    stock_push_debounce_seconds: float = Field(
        5.0, gt=0, description="Available-stock changes of one SKU within this window are pushed to channels once, "
        "with the latest value.")
    tracking_url_template: str = Field(
        "https://parcelsapp.com/en/tracking/{tracking_number}",
        description="Tracking link in follow-up emails and channel notes; `{tracking_number}` and `{carrier}` are "
        "filled in (empty: no link).")
    smtp_host: str | None = Field(
        None, description="SMTP server of the follow-up emails sent after shipment; unset: no follow-up emails.")
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_from: str = Field("orders@localhost", description="From address of the follow-up emails.")
    smtp_username: str | None = Field(None, description="SMTP login name (unset: no login).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password; never logged.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")

    # PayPal payments (IPN, REST webhooks, activity files).
    paypal_ipn_verify_url: str = Field(
        "https://ipnpb.paypal.com/cgi-bin/webscr",
        description="Where an IPN is posted back (`cmd=_notify-validate`) to be verified; the sandbox's is "
        "https://ipnpb.sandbox.paypal.com/cgi-bin/webscr.")
    paypal_api_url: str = Field("https://api-m.paypal.com", description="PayPal REST API base URL (webhook checks).")
    paypal_client_id: str = Field("", description="PayPal REST app client id (verifies webhooks).")
    paypal_client_secret: SecretStr = Field(SecretStr(""), description="PayPal REST app secret; never logged.")
    paypal_webhook_id: str = Field("", description="Id of our webhook at PayPal; without it webhooks are refused.")
    paypal_receivers: str = Field(
        "", description="Our PayPal account emails (comma-separated); an IPN paying anyone else is refused. "
        "Empty: any.")
    paypal_order_accounts: str = Field(
        "", description="PayPal as a sales channel: account emails (comma-separated) whose completed payments "
        "matching no order become new open orders from their items, buyer and address.")
    paypal_dates_day_first: bool = Field(True, description="Activity files' date order: DD/MM/YYYY (UK) or MM/DD.")
    paypal_timeout_seconds: float = Field(10.0, gt=0, le=60, description="Timeout of one call to PayPal.")

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets_readable(cls, value: SecretStr) -> SecretStr:
        """Fail at startup, not at the first webhook (the error never quotes a secret)."""
        WebhookSecrets.parse(value.get_secret_value())
        return value

    def parsed_webhook_secrets(self) -> WebhookSecrets:
        """The webhook secrets per (channel, account)."""
        return WebhookSecrets.parse(self.webhook_secrets.get_secret_value())

    def woocommerce_statuses(self) -> tuple[str, ...]:
        """The WooCommerce statuses configured as unprocessed."""
        return tuple(s.strip() for s in self.woocommerce_unprocessed_statuses.split(",") if s.strip())

    def tracking_url(self, carrier: str, tracking_number: str) -> str | None:
        """The tracking link of a parcel, from INGEST_TRACKING_URL_TEMPLATE (None when it is empty)."""
        if not self.tracking_url_template or not tracking_number:
            return None
        return self.tracking_url_template.format(tracking_number=quote(tracking_number), carrier=quote(carrier))
