"""HTTP API of polled channels: configure one (credentials only by reference), read its sync status, download now.

Responses never carry a credential value: configurations hold only references (`env:VAR`, `file:/path`).
"""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ingest.adapters.channel_store import ChannelStore
from ingest.adapters.intake_store import IntakeStore
from ingest.adapters.reconciliation_store import ReconciliationStore
from ingest.connectors.base import ConnectorError
from ingest.domain.reconciliation import Reconciliation
from ingest.service_layer import reconciliation
from ingest.domain.channels import CHANNEL_ID_PATTERN, ChannelConfig, ChannelStatus
from ingest.service_layer.handlers import Clock
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.messaging import Bus

ConnectorOpener = reconciliation.ConnectorOpener
DEFAULT_WINDOW_DAYS = 7


# Connector options stay flat and small: values, lists of values, or one level of name → value (no nested lists,
# which a MongoDB-compatible store need not support, and nothing a connector could not read).
OptionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
OptionScalar = Annotated[str, StringConstraints(max_length=500)] | bool | int | float | None
OptionKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]  # e.g. our carrier name → the channel's
OptionValue = OptionScalar | Annotated[list[OptionScalar], Field(max_length=100)] | dict[OptionKey, OptionScalar]


class ChannelUpdate(BaseModel):
    """A channel's configuration as staff write it (PUT: the whole configuration)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")
    account: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str | None = Field(None, max_length=500)
    credentials: dict[str, str] = Field(default_factory=dict)
    interval_seconds: float = Field(300.0, ge=1, le=86_400)
    unprocessed_statuses: list[str] | None = None
    options: dict[OptionName, OptionValue] = Field(
        default_factory=dict, max_length=50,
        description="Connector settings: a name to a value, a list of values, or a table of names to values.")
    enabled: bool = True


class ChannelPublic(BaseModel):
    """A channel's configuration (credential references only) and the poller's status of it."""

    channel_id: str
    name: str
    kind: str
    account: str
    url: str | None
    credentials: dict[str, str]
    interval_seconds: float
    unprocessed_statuses: list[str] | None
    options: dict
    enabled: bool
    download_requested_at: datetime | None
    status: ChannelStatus


def channels_router(*, channels: ChannelStore, keys: ApiKeys, clock: Clock, store: IntakeStore | None = None,
                    bus: Bus | None = None, connect: ConnectorOpener | None = None, max_body_bytes: int = 1_000_000,
                    publish_timeout: float = 5.0, reports: ReconciliationStore | None = None) -> APIRouter:
    """Routes to list, read, configure, download and reconcile channels (reconciliation needs `store`, `bus`
    and `connect`, which opens a channel's connector for the length of one request)."""
    router = APIRouter(tags=["channels"])
    staff = require_role(keys, "ops")
    admin = require_role(keys, "admin")

    async def public(config: ChannelConfig) -> ChannelPublic:
        return ChannelPublic(**config.model_dump(), status=await channels.status(config.channel_id))

    async def existing(channel_id: str) -> ChannelConfig:
        config = await channels.config(channel_id)
        if config is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"channel {channel_id} not found")
        return config

    @router.get("/channels", response_model=list[ChannelPublic])
    async def list_channels(_: Caller = Depends(staff)) -> list[ChannelPublic]:
        """Every channel with its last sync, last error, cursor and counts."""
        return [await public(config) for config in await channels.configs()]

    @router.get("/channels/{channel_id}", response_model=ChannelPublic)
    async def get_channel(channel_id: str = Path(pattern=CHANNEL_ID_PATTERN),
                          _: Caller = Depends(staff)) -> ChannelPublic:
        """One channel's configuration and status."""
        return await public(await existing(channel_id))

    @router.put("/channels/{channel_id}", response_model=ChannelPublic)
    async def put_channel(update: ChannelUpdate, channel_id: str = Path(pattern=CHANNEL_ID_PATTERN),
                          _: Caller = Depends(admin)) -> ChannelPublic:
        """Add or edit a channel (enable/disable with `enabled`); credentials are references, never values."""
        try:
            config = ChannelConfig(channel_id=channel_id, **update.model_dump())
        except ValueError as exc:
            # The validator's message names the credential, never its value.
            raise HTTPException(422, [
                {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
                for e in getattr(exc, "errors", lambda: [{"loc": [], "msg": str(exc), "type": "value_error"}])()
            ]) from None
        await channels.put_config(config)
        return await public(await existing(channel_id))

    @router.post("/channels/{channel_id}/download", status_code=status.HTTP_202_ACCEPTED,
                 response_model=ChannelPublic)
    async def download_now(channel_id: str = Path(pattern=CHANNEL_ID_PATTERN),
                           _: Caller = Depends(staff)) -> ChannelPublic:
        """Ask the poller to download the channel's orders now (within a second or so; see `status`)."""
        await existing(channel_id)
        await channels.request_download(channel_id, at=clock())
        return await public(await existing(channel_id))

    async def reconciled(channel_id: str, since: datetime | None, until: datetime | None, *,
                         fetch: bool) -> Reconciliation:
        config = await existing(channel_id)
        if store is None or bus is None or connect is None:
            raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, "reconciliation is not configured here")
        until = until or clock()
        since = since or until - timedelta(days=DEFAULT_WINDOW_DAYS)
        if since.tzinfo is None or until.tzinfo is None or since >= until:
            raise HTTPException(422, [{"loc": ["query", "since"], "type": "value_error",
                                       "msg": "since and until need a UTC offset, and since must be before until"}])
        try:
            async with connect(config) as connector:
                if fetch:
                    return await reconciliation.fetch_missing(
                        config=config, connector=connector, store=store, bus=bus, clock=clock, since=since,
                        until=until, max_body_bytes=max_body_bytes, publish_timeout=publish_timeout)
                report, _ = await reconciliation.reconcile(config=config, connector=connector, store=store,
                                                           clock=clock, since=since, until=until)
                return report
        except reconciliation.CannotList as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, f"channel {channel_id}: {exc}") from None
        except ConnectorError as exc:
            # The channel refused or failed (the reason never carries a credential): not our error.
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"channel {channel_id}: {exc}") from None

    window = {
        "since": Query(None, description="Start of the window (the channel's last-changed time, ISO 8601 with "
                                         f"an offset); default {DEFAULT_WINDOW_DAYS} days before `until`."),
        "until": Query(None, description="End of the window; default now."),
    }

    @router.get("/channels/{channel_id}/reconciliation", response_model=Reconciliation,
                responses={409: {"description": "The channel's connector cannot list a time window."},
                           502: {"description": "The channel refused or failed the listing (reason given)."}})
    async def get_reconciliation(channel_id: str = Path(pattern=CHANNEL_ID_PATTERN),
                                 since: datetime | None = window["since"], until: datetime | None = window["until"],
                                 _: Caller = Depends(staff)) -> Reconciliation:
        """What the channel lists as unprocessed in the window against what we received: `missing` (listed,
        never became an order here, with any skipped/failed intake of it) and `not_listed` (imported from this
        channel, no longer listed as unprocessed there)."""
        return await reconciled(channel_id, since, until, fetch=False)

    @router.get("/channels/{channel_id}/reconciliation/latest", response_model=Reconciliation,
                responses={404: {"description": "No such channel, or no scheduled reconciliation of it yet."}})
    async def latest_reconciliation(channel_id: str = Path(pattern=CHANNEL_ID_PATTERN),
                                    _: Caller = Depends(staff)) -> Reconciliation:
        """The latest scheduled report (channel option `reconcile_every_seconds`), with `error` when the
        channel could not be listed then."""
        await existing(channel_id)
        report = None if reports is None else await reports.latest(channel_id)
        if report is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"channel {channel_id} has no scheduled reconciliation "
                                                           f"yet (option {reconciliation.EVERY_OPTION})")
        return report

    @router.post("/channels/{channel_id}/reconciliation/fetch-missing", response_model=Reconciliation,
                 responses={409: {"description": "The channel's connector cannot list a time window."},
                            502: {"description": "The channel refused or failed the listing (reason given)."}})
    async def fetch_missing_orders(channel_id: str = Path(pattern=CHANNEL_ID_PATTERN),
                                   since: datetime | None = window["since"],
                                   until: datetime | None = window["until"],
                                   _: Caller = Depends(staff)) -> Reconciliation:
        """Reconcile, then take every missing order into the intake log like a poll would (`fetched` = what
        its intake became); one skipped or failed before is left as it is (`fetched` null)."""
        return await reconciled(channel_id, since, until, fetch=True)

    return router
