"""Contracts of the dead-letter desk every service runs."""
from oms_contracts.deadletters import v1  # noqa: F401
