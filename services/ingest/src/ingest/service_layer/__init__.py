"""Use cases of ingest: receive an order payload, re-publish what was stored but not yet published."""
