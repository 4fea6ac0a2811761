"""Where ingest talks to the world: the intake log in MongoDB."""
