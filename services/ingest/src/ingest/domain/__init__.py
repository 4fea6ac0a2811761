"""Pure rules of ingest: the intake record and how a channel order payload is read."""
