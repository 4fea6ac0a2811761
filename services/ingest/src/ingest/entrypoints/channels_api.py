"""HTTP API of polled channels: configure one (credentials only by reference), read its sync status, download now.

Responses never carry a credential value: configurations hold only references (`env:VAR`, `file:/path`).
"""

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from ingest.adapters.channel_store import ChannelStore
from ingest.domain.channels import CHANNEL_ID_PATTERN, ChannelConfig, ChannelStatus
from ingest.service_layer.handlers import Clock
from oms_platform.auth import ApiKeys, Caller, require_role


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
    options: dict = Field(default_factory=dict)
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


def channels_router(*, channels: ChannelStore, keys: ApiKeys, clock: Clock) -> APIRouter:
    """Routes to list, read, configure and download channels."""
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

    return router
