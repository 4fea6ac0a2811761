"""Why inventory refuses a change."""


class StockRefused(Exception):
    """The change is not allowed (e.g. it would leave on_hand below zero); the message says why."""
