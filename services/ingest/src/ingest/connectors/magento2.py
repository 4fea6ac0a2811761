"""Magento 2 / Adobe Commerce: REST `GET /rest/{store}/V1/orders` with search criteria on status and updated_at.

Auth: `Authorization: Bearer <token>` (an admin token, or an integration access token on a shop that sets
`oauth/consumer/enable_integration_as_bearer=1`). Filter groups are ANDed, filters in one group ORed: group 0
is `status in <unprocessed>` (default pending, processing), group 1 `updated_at gteq <cursor>`; sorted by
updated_at ascending, `pageSize` per page, stop at `total_count`. Money arrives as JSON numbers: read as
Decimal. Child rows of configurable products (`parent_item_id` set) are not lines.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from ingest.connectors.base import ConnectorError, Page, RawOrder
from ingest.connectors.amounts import amount, unit_price
from ingest.connectors.http import dumps, get_json
from ingest.domain.channel_orders import _country, _name, _order_details, _reject, _text, load_json_object, money
from ingest.domain.channels import ChannelConfig
from ingest.domain.codes import minor_digits
from ingest.domain.errors import OrderSkipped
from oms_contracts.common import OrderDetails

CHANNEL = "magento2"
DEFAULT_STATUSES = ("pending", "processing")
DEFAULT_PAGE_SIZE = 50
_TIME = "%Y-%m-%d %H:%M:%S"  # Magento's created_at / updated_at: UTC without an offset


def _magento_time(value: Any) -> datetime:
    try:
        return datetime.strptime(str(value), _TIME).replace(tzinfo=UTC)
    except ValueError:
        raise _reject(("updated_at",), f"{value!r} is not a Magento time (YYYY-MM-DD HH:MM:SS)",
                      "datetime_invalid") from None


class MagentoConnector:
    """One Magento store view's orders in the unprocessed statuses, changed since the cursor."""

    channel = CHANNEL

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, token: str, store_code: str = "default",
                 statuses: tuple[str, ...] = DEFAULT_STATUSES, page_size: int = DEFAULT_PAGE_SIZE,
                 start: str | None = None) -> None:
        self.http = http
        self.url = f"{base_url.rstrip('/')}/rest/{store_code}/V1/orders"
        self.token = token
        self.statuses = tuple(statuses)
        self.page_size = page_size
        self.start = start

    def _params(self, since: str | None, page: int) -> dict[str, str]:
        group = "searchCriteria[filter_groups]"
        params = {
            f"{group}[0][filters][0][field]": "status",
            f"{group}[0][filters][0][value]": ",".join(self.statuses),
            f"{group}[0][filters][0][condition_type]": "in",
        }
        if since:
            params |= {
                f"{group}[1][filters][0][field]": "updated_at",
                f"{group}[1][filters][0][value]": since,
                f"{group}[1][filters][0][condition_type]": "gteq",
            }
        return params | {
            "searchCriteria[sortOrders][0][field]": "updated_at",
            "searchCriteria[sortOrders][0][direction]": "ASC",
            "searchCriteria[pageSize]": str(self.page_size),
            "searchCriteria[currentPage]": str(page),
        }

    def cursor_at(self, moment: datetime) -> str:
        """A cursor that fetches every order changed since `moment` (reconciliation lists a window with it)."""
        return json.dumps({"since": moment.astimezone(UTC).strftime(_TIME), "page": 1, "max": None})

    async def fetch(self, cursor: str | None) -> Page:
        """One page of orders; the cursor is `{"since": updated_at, "page": n, "max": latest seen}`."""
        state = json.loads(cursor) if cursor else {"since": self.start, "page": 1, "max": None}
        since, page, latest = state.get("since"), int(state.get("page") or 1), state.get("max")
        data, _ = await get_json(self.http, self.url, channel=CHANNEL, params=self._params(since, page),
                                 headers={"Authorization": f"Bearer {self.token}"})
        if not isinstance(data, dict) or not isinstance(data.get("items", []), list):
            raise ConnectorError(f"{CHANNEL}: unexpected answer (no items list)")
        orders = []
        for item in data.get("items") or []:
            updated = str(item.get("updated_at") or item.get("created_at"))
            orders.append(RawOrder(channel_order_id=str(item.get("increment_id") or item.get("entity_id")),
                                   body=dumps(item), updated_at=_magento_time(updated)))
            latest = max(latest or updated, updated)
        more = page * self.page_size < int(data.get("total_count") or 0) and bool(orders)
        if more:
            next_cursor = {"since": since, "page": page + 1, "max": latest}
        else:
            # gteq on the latest time seen: orders changed in that same second are fetched again, not missed.
            next_cursor = {"since": latest or since, "page": 1, "max": None}
        return Page(orders=orders, cursor=json.dumps(next_cursor), more=more)

    def normalise(self, raw: RawOrder) -> OrderDetails:
        """A Magento order; skipped when cancelled or not in an unprocessed status."""
        return normalise_magento_order(raw.body, unprocessed=self.statuses)


def _address(address: dict, loc: tuple) -> dict[str, Any]:
    street = [line for line in (address.get("street") or []) if _text(line)]
    return {
        "name": _name(address.get("firstname"), address.get("lastname")),
        "company": _text(address.get("company")),
        "line1": _text(street[0]) if street else None,
        "line2": _text(", ".join(street[1:])) if len(street) > 1 else None,
        "city": _text(address.get("city")),
        "region": _text(address.get("region")),
        "postcode": _text(address.get("postcode")),
        "country": _country(address.get("country_id"), loc=(*loc, "country_id")),
        "phone": _text(address.get("telephone")),
    }


def normalise_magento_order(body: str, *, unprocessed: tuple[str, ...] = DEFAULT_STATUSES) -> OrderDetails:
    """A Magento 2 REST order (one of `items` of the orders search) as OrderDetails."""
    data = load_json_object(body)
    status = _text(data.get("status")) or ""
    if status == "canceled" or data.get("state") == "canceled":
        raise OrderSkipped("cancelled")
    if status not in unprocessed:
        reason = "already_shipped" if status in ("complete", "closed") else "not_unprocessed"
        raise OrderSkipped(f"{reason}: status {status!r} is not one of {', '.join(unprocessed)}")
    currency = _text(data.get("order_currency_code")) or ""
    step = Decimal(1).scaleb(-minor_digits(currency))
    lines = []
    for i, item in enumerate(data.get("items") or []):
        if item.get("parent_item_id") is not None:
            continue  # the zero-priced child row of a configurable product: its parent is the line
        loc = ("items", i)
        quantity = item.get("qty_ordered")
        quantity = int(quantity) if isinstance(quantity, (int, Decimal)) and quantity == int(quantity) else quantity
        row = money(item.get("row_total") or 0, currency=currency, loc=(*loc, "row_total")) + money(
            item.get("tax_amount") or 0, currency=currency, loc=(*loc, "tax_amount"))
        lines.append({
            "line_id": str(item.get("item_id")),
            "sku": _text(item.get("sku")),
            "title": _text(item.get("name")),
            "quantity": quantity,
            "unit_price": unit_price(row, quantity, currency=currency, loc=(*loc, "row_total")),
            "tax_rate": Decimal(str(item.get("tax_percent") or 0)) / 100,
        })
    assignments = (data.get("extension_attributes") or {}).get("shipping_assignments") or []
    shipping = (assignments[0].get("shipping") or {}) if assignments else {}
    ship_to = shipping.get("address") or data.get("billing_address")
    if not isinstance(ship_to, dict):
        raise _reject(("extension_attributes", "shipping_assignments"), "the order has no shipping address",
                      "missing")
    billing = data.get("billing_address") if isinstance(data.get("billing_address"), dict) else None
    shipping_cost = money(data.get("shipping_amount") or 0, currency=currency, loc=("shipping_amount",)) + money(
        data.get("shipping_tax_amount") or 0, currency=currency, loc=("shipping_tax_amount",))
    # Order-level discount_amount is negative (per-item ones are positive).
    discount = amount(data.get("discount_amount"), currency=currency, loc=("discount_amount",), signed=True)
    charged = money(data.get("grand_total"), currency=currency, loc=("grand_total",))
    paid = Decimal(str(data.get("total_paid") or 0)) >= charged > 0
    fields = {
        "channel": CHANNEL,
        "channel_order_id": str(data.get("increment_id") or data.get("entity_id")),
        "order_number": str(data.get("increment_id") or data.get("entity_id")),
        "buyer": {
            "name": _name(data.get("customer_firstname"), data.get("customer_lastname"))
            or _name((billing or {}).get("firstname"), (billing or {}).get("lastname"))
            or _name(ship_to.get("firstname"), ship_to.get("lastname")),
            "email": _text(data.get("customer_email")) or _text((billing or {}).get("email")),
            "phone": _text((billing or {}).get("telephone")) or _text(ship_to.get("telephone")),
        },
        "shipping_address": _address(ship_to, ("shipping_address",)),
        "billing_address": _address(billing, ("billing_address",)) if billing else None,
        "lines": lines,
        "shipping": {"service": _text(data.get("shipping_description")) or _text(shipping.get("method"))
                     or "Standard", "cost": shipping_cost.quantize(step)},
        "currency": currency,
        "discount": discount,
        "paid": paid,
        "placed_at": _magento_time(data.get("created_at")).isoformat() if data.get("created_at") else None,
    }
    return _order_details(fields, charged=charged, loc_total=("grand_total",))


def build(config: ChannelConfig, credentials: Mapping[str, str], http: httpx.AsyncClient) -> MagentoConnector:
    """The connector of a configured Magento channel (credential `token`; options `store_code`, `page_size`,
    `start` = first updated_at cursor, `YYYY-MM-DD HH:MM:SS`)."""
    if not config.url:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} has no url")
    if "token" not in credentials:
        raise ConnectorError(f"{CHANNEL}: channel {config.channel_id} needs credential 'token'")
    return MagentoConnector(
        http=http, base_url=config.url, token=credentials["token"],
        store_code=str(config.options.get("store_code", "default")),
        statuses=tuple(config.unprocessed_statuses or DEFAULT_STATUSES),
        page_size=int(config.options.get("page_size", DEFAULT_PAGE_SIZE)),
        start=config.options.get("start"),
    )
