"""Polling connectors: one module per channel behind the interface in `base`."""
