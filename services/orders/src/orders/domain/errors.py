"""Why an order refuses a command."""


class OrderRefused(Exception):
    """The command is not allowed in the order's current state; the message says why."""
