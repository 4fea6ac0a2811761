"""Developer tooling for running the OMS on one machine."""
