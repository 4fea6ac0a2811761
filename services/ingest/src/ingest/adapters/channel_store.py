"""Polled channels in MongoDB: `channels` (configuration, `_id` = channel id) and `channel_status` (the poller's).

One writer per document: a `channels` document is written only by the channel API (staff edit configuration
and ask for a download; each write `$set`s only the fields it owns, never a read-modify-write), a
`channel_status` document only by the poller, which polls each channel from one task at a time. So the
cursor, stored after the page's intakes, is never overwritten by a configuration change, nor the reverse.
"""

from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from ingest.domain.channels import ChannelConfig, ChannelStatus


class ChannelStore(Protocol):
    """Where channel configurations and statuses live."""

    async def configs(self) -> list[ChannelConfig]: ...

    async def config(self, channel_id: str) -> ChannelConfig | None: ...

    async def put_config(self, config: ChannelConfig) -> None: ...

    async def request_download(self, channel_id: str, *, at: datetime) -> bool: ...

    async def status(self, channel_id: str) -> ChannelStatus: ...

    async def save_status(self, status: ChannelStatus) -> None: ...


class MongoChannelStore:
    """Channel configurations and statuses in MongoDB."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.channels = db["channels"]
        self.statuses = db["channel_status"]

    async def configs(self) -> list[ChannelConfig]:
        """Every configured channel, by id."""
        docs = await self.channels.find({}).sort("_id", 1).to_list(length=None)
        return [_config(doc) for doc in docs]

    async def config(self, channel_id: str) -> ChannelConfig | None:
        """One channel's configuration, or None."""
        doc = await self.channels.find_one({"_id": channel_id})
        return None if doc is None else _config(doc)

    async def put_config(self, config: ChannelConfig) -> None:
        """Create or replace a channel's configuration (its pending download request is kept)."""
        fields = config.model_dump(mode="python", exclude={"channel_id", "download_requested_at"})
        await self.channels.update_one({"_id": config.channel_id}, {"$set": fields}, upsert=True)

    async def request_download(self, channel_id: str, *, at: datetime) -> bool:
        """Ask the poller to poll the channel now; False when there is no such channel."""
        result = await self.channels.update_one({"_id": channel_id}, {"$set": {"download_requested_at": at}})
        return result.matched_count == 1

    async def status(self, channel_id: str) -> ChannelStatus:
        """The poller's status of a channel (an empty one before its first poll)."""
        doc = await self.statuses.find_one({"_id": channel_id})
        if doc is None:
            return ChannelStatus(channel_id=channel_id)
        return ChannelStatus.model_validate({**doc, "channel_id": doc["_id"]})

    async def save_status(self, status: ChannelStatus) -> None:
        """Store the poller's status of a channel (cursor included)."""
        fields = status.model_dump(mode="python", exclude={"channel_id"})
        await self.statuses.update_one({"_id": status.channel_id}, {"$set": fields}, upsert=True)


def _config(doc: dict[str, Any]) -> ChannelConfig:
    return ChannelConfig.model_validate({**doc, "channel_id": doc["_id"]})
