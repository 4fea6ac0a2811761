"""Use cases of the order book: one function per command or event."""
