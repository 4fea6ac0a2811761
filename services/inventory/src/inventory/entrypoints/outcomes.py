"""Waiting for a command's outcome: poll a document (read-only) until its `handled` map records the command."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from oms_platform.documents import recorded_outcome

POLL_SECONDS = (0.02, 0.05, 0.1, 0.2)  # back off while the worker is busy, then keep polling every 0.2 s


async def wait_for_outcome(
    load: Callable[[], Awaitable[dict[str, Any] | None]], event_id: uuid.UUID, *, timeout: float
) -> dict[str, Any] | None:
    """The document once it records `event_id` as handled, or the latest one read when time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    attempt = 0
    while True:
        doc = await load()
        if recorded_outcome(doc, event_id) is not None:
            return doc
        remaining = deadline - loop.time()
        if remaining <= 0:
            return doc
        await asyncio.sleep(min(POLL_SECONDS[min(attempt, len(POLL_SECONDS) - 1)], remaining))
        attempt += 1
