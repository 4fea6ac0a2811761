"""MongoDB access through PyMongo's async API; works on MongoDB and FerretDB alike."""

from typing import Any

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

DUPLICATE_KEY = 11000
# How every client decodes what it reads (`mongo_client`): aware datetimes, UUIDs in the standard representation.
CODEC_OPTIONS = CodecOptions(tz_aware=True, uuid_representation=UuidRepresentation.STANDARD)


def mongo_client(url: str) -> AsyncMongoClient:
    """A client that connects lazily, on first use (never at import time)."""
    return AsyncMongoClient(url, tz_aware=CODEC_OPTIONS.tz_aware, serverSelectionTimeoutMS=10_000,
                            uuidRepresentation="standard")


def as_read_back(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as a read would return it after it was written (BSON types, aware datetimes), as a new copy."""
    return bson.decode(bson.encode(doc, codec_options=CODEC_OPTIONS), codec_options=CODEC_OPTIONS)


def is_duplicate_key(exc: Exception) -> bool:
    """True when `exc` is MongoDB's duplicate key error (11000)."""
    return isinstance(exc, DuplicateKeyError) or getattr(exc, "code", None) == DUPLICATE_KEY
