"""Contracts of the fulfilment context."""
from oms_contracts.fulfilment import v1  # noqa: F401
