"""MongoDB access through PyMongo's async API; works on MongoDB and FerretDB alike."""

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

DUPLICATE_KEY = 11000


def mongo_client(url: str) -> AsyncMongoClient:
    """A client that connects lazily, on first use (never at import time)."""
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000, uuidRepresentation="standard")


def is_duplicate_key(exc: Exception) -> bool:
    """True when `exc` is MongoDB's duplicate key error (11000)."""
    return isinstance(exc, DuplicateKeyError) or getattr(exc, "code", None) == DUPLICATE_KEY
