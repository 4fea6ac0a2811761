"""Contracts of the inventory context."""
from oms_contracts.inventory import v1  # noqa: F401
