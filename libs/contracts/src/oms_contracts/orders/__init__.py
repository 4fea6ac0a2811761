"""Contracts of the orders context."""
from oms_contracts.orders import v1  # noqa: F401
