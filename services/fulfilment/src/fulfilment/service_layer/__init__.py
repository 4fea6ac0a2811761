"""Use cases of fulfilment: one function per command, and the forwarder of other contexts' events."""
