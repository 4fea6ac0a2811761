"""Why a print job refuses a change."""


class InvalidTransition(Exception):
    """The job cannot move to that state from the one it is in; the message says which."""
