"""Handlers: load stock, ask the domain, record in the ledger, store, publish."""
