"""Shared contracts of the OMS: the envelope, topic names and versioned message payloads."""

from oms_contracts.envelope import DeadLetter, Envelope, Message, new_envelope, derived_id
from oms_contracts.registry import ContractError, UnknownMessageType, decode, encode, registered

__all__ = [
    "ContractError",
    "DeadLetter",
    "Envelope",
    "Message",
    "UnknownMessageType",
    "decode",
    "derived_id",
    "encode",
    "new_envelope",
    "registered",
]
