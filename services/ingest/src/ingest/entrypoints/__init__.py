"""How ingest is reached: the HTTP API, the re-publisher worker and the demo shop."""
