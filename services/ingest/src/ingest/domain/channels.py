"""Polled channels: a channel's configuration (written by staff) and its sync status (written by the poller only).

Credentials are never stored here, only references to where they live (`env:NAME` or `file:/run/secrets/x`),
resolved by the poller when it builds the channel's connector.
"""

import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oms_contracts import derived_id

CHANNEL_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,49}$"
# A credential reference: where the secret lives, never the secret itself.
CREDENTIAL_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/\S+)$"
MAX_BACKOFF_SECONDS = 3600.0
# Purpose in the derived intake id of a polled order version.
POLLED_ORDER_PURPOSE = "polled-order"


class ChannelConfig(BaseModel):
    """One channel account polled for orders: which connector, where, with which credentials and how often."""

    model_config = ConfigDict(frozen=True)

    channel_id: str = Field(pattern=CHANNEL_ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$",
                      description="The connector, and the channel name its orders carry (magento2, ebay, amazon...).")
    account: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                         description="Our name of the account at the channel (intakes carry it).")
    url: str | None = Field(None, max_length=500, description="The channel API's base URL (or DSN, no password).")
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Credential name -> where it lives: `env:VAR` or `file:/run/secrets/name`; never the secret.",
    )
    interval_seconds: float = Field(300.0, ge=1, le=86_400)
    unprocessed_statuses: list[str] | None = Field(
        None, description="Website carts: the statuses imported (None = the connector's documented default).")
    options: dict[str, Any] = Field(default_factory=dict, description="Connector settings (start date, ...).")
    enabled: bool = True
    download_requested_at: datetime | None = None

    @field_validator("credentials")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        """A credential must be a reference: a value that looks like a secret is refused (and never echoed)."""
        for name, ref in value.items():
            if not re.match(CREDENTIAL_REF_PATTERN, ref):
                raise ValueError(f"credential {name!r} must be a reference `env:VAR` or `file:/path`, not a value")
        return value


def resolve_credentials(refs: dict[str, str], *, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The secret values behind credential references; ValueError naming the missing one (never a value)."""
    environ = os.environ if environ is None else environ
    secrets = {}
    for name, ref in refs.items():
        scheme, _, where = ref.partition(":")
        if scheme == "env":
            if not environ.get(where):
                raise ValueError(f"credential {name!r}: environment variable {where} is not set")
            secrets[name] = environ[where]
        else:
            try:
                secrets[name] = Path(where).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"credential {name!r}: cannot read {where} ({exc.strerror})") from None
    return secrets


class ChannelStatus(BaseModel):
    """What the poller knows of a channel: its cursor, the last sync and its result, failures and counts."""

    channel_id: str
    cursor: str | None = None
    last_attempt_at: datetime | None = None
    last_sync_at: datetime | None = None  # the last sync that completed without error
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0  # consecutive
    next_attempt_at: datetime | None = None
    orders_fetched: int = 0  # raw orders read (re-fetches included)
    orders_new: int = 0  # new intakes stored
    pages: int = 0
    handled_download_at: datetime | None = None  # the "download now" request the poller last served

    def due(self, config: ChannelConfig, now: datetime) -> bool:
        """Whether the channel should be polled now: enabled and its time has come, or staff asked for it."""
        if not config.enabled:
            return False
        requested = config.download_requested_at
        if requested is not None and (self.handled_download_at is None or requested > self.handled_download_at):
            # A backoff still holds: "download now" does not hammer a channel that asked us to wait.
            return self.next_attempt_at is None or self.failures == 0 or now >= self.next_attempt_at
        return self.next_attempt_at is None or now >= self.next_attempt_at


def backoff_seconds(*, interval: float, failures: int, retry_after: float | None = None) -> float:
    """How long to wait after `failures` consecutive failures: doubling from the interval, capped at an hour,
    never shorter than what the channel asked for (Retry-After)."""
    wait = min(interval * 2 ** max(failures - 1, 0), MAX_BACKOFF_SECONDS)
    if retry_after is not None:
        wait = max(retry_after, min(wait, MAX_BACKOFF_SECONDS)) if failures > 1 else retry_after
    return wait


def next_attempt(now: datetime, seconds: float) -> datetime:
    """`now` plus `seconds`."""
    return now + timedelta(seconds=seconds)


def polled_intake_id(channel: str, account: str, channel_order_id: str, updated_at: datetime) -> uuid.UUID:
    """The intake id of one version of a polled order: the same version fetched again is the same intake."""
    return derived_id(f"{channel}:{account}", POLLED_ORDER_PURPOSE, channel_order_id,
                      updated_at.astimezone(UTC).isoformat())
