"""The one small interface every polling channel connector implements.

A connector knows one channel's documented API (or database schema): how to authenticate, page, filter on
the statuses configured as unprocessed and respect its rate limits (`fetch`), and how to read one of its
raw orders into our normalised `OrderDetails` (`normalise`). It keeps no state of its own: the poller stores
each raw order in the intake log first and the cursor after, so a restart neither misses nor re-imports.
Connectors whose channel accepts it also implement `WriteBack` (shipped + tracking, cancel, refund, stock).
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from oms_contracts.common import OrderDetails


@dataclass(frozen=True)
class RawOrder:
    """One order exactly as the channel gave it.

    `body` is the channel's own text (JSON for REST APIs; for database connectors the JSON of the order's rows,
    so staff see what was read); `updated_at` is the channel's last-modified time of this version: the same
    order at the same `updated_at` is the same intake (a re-fetch changes nothing), a later one is an update.
    """

    channel_order_id: str
    body: str
    updated_at: datetime


@dataclass(frozen=True)
class Page:
    """What one `fetch` returned: raw orders, the cursor to store once they are safe, and whether more wait."""

    orders: list[RawOrder] = field(default_factory=list)
    cursor: str | None = None  # opaque to the poller; None = keep the cursor it had
    more: bool = False


@dataclass(frozen=True)
class Placement:
    """How an order enters Open Orders beyond its details; connectors that need it define `placement(raw)`.

    The poller uses `Placement()` for a connector without that method.
    """

    lock_reason: str | None = None  # imported locked, for the record (e.g. Amazon FBA: Amazon ships it)
    shipped_on_channel: bool = False  # a marketplace order the channel already marks shipped: flagged for staff


class ConnectorError(Exception):
    """The channel refused or failed a fetch (bad credentials, 5xx, bad response); the reason is for staff."""


class RateLimited(ConnectorError):
    """The channel said to slow down; `retry_after` seconds is how long it asked us to wait."""

    def __init__(self, reason: str, *, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Connector(Protocol):
    """A channel's orders, fetched page by page since a cursor and normalised one by one."""

    channel: str  # the channel name orders carry, e.g. "magento", "ebay"

    async def fetch(self, cursor: str | None) -> Page:
        """The next page of new or changed orders since `cursor` (None: the channel's configured start)."""
        ...

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """The order `raw` describes; raises OrderSkipped (not an unprocessed status, FBA...) or PayloadRejected."""
        ...


@dataclass(frozen=True)
class ShipmentNotice:
    """What the channel is told when an order shipped."""

    channel_order_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime
    line_ids: list[str] = field(default_factory=list)  # the channel's line ids shipped; empty = the whole order
    quantities: dict[str, int] = field(default_factory=dict)  # line id -> quantity shipped (channels that ask)
    service: str | None = None  # the shipping service (Amazon's shippingMethod)
    tracking_url: str | None = None  # where the buyer follows the parcel (Shopify shows it)
    package_ref: str = "1"  # our package number, stable across retries (Amazon's packageReferenceId)


@dataclass(frozen=True)
class RefundNotice:
    """What the channel is told when an order (or part of it) was refunded."""

    channel_order_id: str
    amount: Decimal
    currency: str
    reason: str


class WriteBack(Protocol):
    """Telling a channel what happened to its order. Every method is idempotent on the channel's side where
    the channel allows it (a retried call must not ship or refund twice), and raises ConnectorError with a
    reason staff can act on. A channel that cannot do one of these raises NotImplementedError for it, and the
    capability table (`ingest.connectors.registry`) says so."""

    async def confirm_shipment(self, notice: ShipmentNotice) -> None: ...

    async def cancel_order(self, channel_order_id: str, reason: str) -> None: ...

    async def refund(self, notice: RefundNotice) -> None: ...


class StockUpdates(Protocol):
    """A channel that takes available-stock updates (the capability table's `stock`)."""

    async def set_available(self, sku: str, available: int) -> None:
        """Set the listing of `sku` to `available` (raises ConnectorError with a reason)."""
        ...
