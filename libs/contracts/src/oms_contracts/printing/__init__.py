"""Contracts of the printing context."""
from oms_contracts.printing import v1  # noqa: F401
