"""Pure rules of fulfilment; no I/O."""
