"""Fakes for the unit tests of every service (no mocks of our own code)."""

from oms_contracts import Envelope
from oms_platform.messaging import Bus


class RecordingBus(Bus):
    """A Bus that keeps what it would publish instead of sending it."""

    def __init__(self, producer: str = "test") -> None:
        super().__init__(broker=None, producer=producer)  # type: ignore[arg-type]
        self.published: list[tuple[Envelope, str]] = []

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        """Record the envelope and its key."""
        self.published.append((envelope, key))

    def payloads(self, message_type: type | None = None) -> list:
        """The payloads published so far, optionally of one type."""
        return [e.payload for e, _ in self.published if message_type is None or isinstance(e.payload, message_type)]

    def event_ids(self) -> list:
        """The event ids published so far, in order."""
        return [e.event_id for e, _ in self.published]
