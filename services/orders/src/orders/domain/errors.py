"""Why an order refuses a command."""


class OrderRefused(Exception):
    """The command is not allowed in the order's current state; the message says why.

    `guard` names the processing guard that refused (open, paid, parked, locked, stock), when one did.
    """

    def __init__(self, reason: str, *, guard: str | None = None) -> None:
        super().__init__(reason)
        self.guard = guard
