"""WooCommerce REST API v3: `GET /wp-json/wc/v3/orders?status=processing,on-hold&modified_after=<cursor>`.

Auth: the shop's REST API consumer key and secret as HTTP Basic (WooCommerce accepts Basic over HTTPS; plain
HTTP needs OAuth 1.0a, which we do not speak: give the connector an https URL). Filter: the statuses
configured as unprocessed (default processing = paid, on-hold = awaiting a bank transfer, imported unpaid),
`modified_after` in GMT (`dates_are_gmt=true`); paging with `per_page` (max 100) and `page`, stopping at
`X-WP-TotalPages`. `modified_after` is strict, so the cursor stays one second behind the latest change seen:
orders changed in that same second are fetched again (absorbed as re-fetches), not missed. The order JSON is
the same as the webhooks', so it is normalised by the same code and makes the same order.
"""

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from ingest.connectors.base import ConnectorError, Page, RawOrder
from ingest.connectors.http import dumps, get_json
from ingest.domain.channel_orders import DEFAULT_WOOCOMMERCE_STATUSES, normalise_woocommerce_order
from ingest.domain.channels import ChannelConfig
from ingest.domain.webhooks import WOOCOMMERCE
from oms_contracts.common import OrderDetails

CHANNEL = WOOCOMMERCE  # the same channel name as the webhooks: one order per WooCommerce order id
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 100
_GMT = "%Y-%m-%dT%H:%M:%S"  # WooCommerce's `*_gmt` times: UTC without an offset


def woo_time(moment: datetime) -> str:
    """A time as WooCommerce's GMT date parameters take it (no offset; `dates_are_gmt=true` says it is UTC)."""
    return moment.astimezone(UTC).strftime(_GMT)


def modified_at(order: dict) -> datetime:
    """When WooCommerce last changed an order (`date_modified_gmt`, else `date_created_gmt`), in UTC."""
    text = order.get("date_modified_gmt") or order.get("date_created_gmt")
    try:
        return datetime.strptime(str(text), _GMT).replace(tzinfo=UTC)
    except ValueError:
        raise ConnectorError(f"{CHANNEL}: order {order.get('id')} has no readable date_modified_gmt "
                             f"({text!r})") from None


class WooCommerceConnector:
    """One WooCommerce shop's orders in the unprocessed statuses, changed since the cursor."""

    channel = CHANNEL

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, consumer_key: str, consumer_secret: str,
                 statuses: tuple[str, ...] = DEFAULT_WOOCOMMERCE_STATUSES, per_page: int = DEFAULT_PER_PAGE,
                 start: str | None = None) -> None:
        self.http = http
        self.url = f"{base_url.rstrip('/')}/wp-json/wc/v3/orders"
        basic = base64.b64encode(f"{consumer_key}:{consumer_secret}".encode("utf-8")).decode("ascii")
        self.authorization = f"Basic {basic}"
        self.statuses = tuple(statuses)
        self.per_page = max(1, min(per_page, MAX_PER_PAGE))
        self.start = start

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed after `moment` (reconciliation lists a window with it)."""
        return json.dumps({"since": woo_time(moment), "page": 1, "max": None})

    async def fetch(self, cursor: str | None) -> Page:
        """One page; the cursor is `{"since": modified_after, "page": n, "max": latest date_modified_gmt}`."""
        state = json.loads(cursor) if cursor else {"since": self.start, "page": 1, "max": None}
        since, page, latest = state.get("since"), int(state.get("page") or 1), state.get("max")
        params = {"status": ",".join(self.statuses), "per_page": str(self.per_page), "page": str(page),
                  "orderby": "date", "order": "asc", "dates_are_gmt": "true"}
        if since:
            params["modified_after"] = since
        data, response = await get_json(self.http, self.url, channel=CHANNEL, params=params,
                                        headers={"Authorization": self.authorization})
        if not isinstance(data, list):
            raise ConnectorError(f"{CHANNEL}: unexpected answer (not a list of orders)")
        orders = []
        for order in data:
            if not isinstance(order, dict) or order.get("id") is None:
                raise ConnectorError(f"{CHANNEL}: unexpected answer (an order without an id)")
            updated_at = modified_at(order)
            orders.append(RawOrder(channel_order_id=str(order["id"]), body=dumps(order), updated_at=updated_at))
            latest = woo_time(updated_at) if latest is None or woo_time(updated_at) > latest else latest
        try:
            total_pages = int(response.headers.get("x-wp-totalpages") or 0)
        except ValueError:
            raise ConnectorError(f"{CHANNEL}: X-WP-TotalPages is not a number") from None
        more = page < total_pages and bool(orders)
        if more:
            next_cursor = {"since": since, "page": page + 1, "max": latest}
        else:
            back = None
            if latest is not None:
                # modified_after is strict: one second back fetches the latest second again instead of missing it.
                back = woo_time(datetime.strptime(latest, _GMT).replace(tzinfo=UTC) - timedelta(seconds=1))
            next_cursor = {"since": max(back, since) if back and since else back or since, "page": 1, "max": None}
        return Page(orders=orders, cursor=json.dumps(next_cursor), more=more)

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """A WooCommerce order; skipped when cancelled or not in an unprocessed status (changed since listed)."""
        order, _ = normalise_woocommerce_order(raw.body, unprocessed=self.statuses)
        return order


def build(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> WooCommerceConnector:
    """The connector of a configured WooCommerce channel (credentials `consumer_key`, `consumer_secret`; options
    `per_page`, `start` = first modified_after cursor, GMT `YYYY-MM-DDTHH:MM:SS`)."""
    if not config.url:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} has no url")
    missing = [name for name in ("consumer_key", "consumer_secret") if name not in credentials]
    if missing:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} needs credential(s) {', '.join(missing)}")
    return WooCommerceConnector(
        http=http, base_url=config.url, consumer_key=credentials["consumer_key"],
        consumer_secret=credentials["consumer_secret"],
        statuses=tuple(config.unprocessed_statuses or DEFAULT_WOOCOMMERCE_STATUSES),
        per_page=int(config.options.get("per_page", DEFAULT_PER_PAGE)), start=config.options.get("start"),
    )
