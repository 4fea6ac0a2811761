"""Contracts of the ingest context."""
from oms_contracts.ingest import v1  # noqa: F401
