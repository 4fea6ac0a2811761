"""Ingest: receives channel payloads, keeps each one verbatim in the intake log, publishes normalised orders."""
