"""Dead-letter desk commands, version 1 (topic oms.platform.deadletters). Key: the letter id.

Each service files the dead letters of its own consumers (consumer groups `<service>` and `<service>.*`) and acts only on the
commands naming it.
"""

from pydantic import Field

from oms_contracts import topics
from oms_contracts.envelope import Message
from oms_contracts.registry import register


@register
class RetryDeadLetter(Message):
    """Send a dead letter's original message to its topic again (its consumers are idempotent)."""

    TYPE = "deadletters.retry"
    TOPIC = topics.DEAD_LETTER_COMMANDS
    service: str
    letter_id: str
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str


@register
class DiscardDeadLetter(Message):
    """Close a dead letter without sending it again, with the reason."""

    TYPE = "deadletters.discard"
    TOPIC = topics.DEAD_LETTER_COMMANDS
    service: str
    letter_id: str
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str
