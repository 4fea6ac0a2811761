"""Pure rules of the order book; no I/O."""
