"""Why a shipment refuses a command."""


class ShipmentRefused(Exception):
    """The command does not apply to this shipment; the message says why."""
