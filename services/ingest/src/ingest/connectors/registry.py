"""Which connector serves which channel kind, what can be written back to each, and building them from a
channel's configuration."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from ingest.connectors import amazon, ebay, magento2
from ingest.connectors import shopify, woocommerce
from ingest.connectors import oscommerce, xcart4, xcart5
from ingest.connectors import writebacks
from ingest.connectors.base import Connector, ConnectorError, WriteBack
from ingest.domain.channels import ChannelConfig, resolve_credentials

# kind -> build(config, resolved credentials, shared HTTP client); each connector module adds its line here.
CONNECTORS: dict[str, Callable[[ChannelConfig, Mapping[str, str], httpx.AsyncClient], Connector]] = {
    magento2.CHANNEL: magento2.build,
    ebay.CHANNEL: ebay.build,
    amazon.CHANNEL: amazon.build,
    woocommerce.CHANNEL: woocommerce.build,
    shopify.CHANNEL: shopify.build,
    oscommerce.OSCOMMERCE: oscommerce.build_oscommerce,
    oscommerce.ZENCART: oscommerce.build_zencart,
    xcart4.CHANNEL: xcart4.build,
    xcart5.CHANNEL: xcart5.build,
}


def build_connector(config: ChannelConfig, *, http: httpx.AsyncClient,
                    environ: Mapping[str, str] | None = None) -> Connector:
    """The connector of a configured channel, its credentials resolved; ConnectorError saying what is wrong."""
    factory = CONNECTORS.get(config.kind)
    if factory is None:
        raise ConnectorError(f"no connector for kind {config.kind!r} ({', '.join(sorted(CONNECTORS))})")
    try:
        credentials = resolve_credentials(config.credentials, environ=environ)
    except ValueError as exc:
        raise ConnectorError(str(exc)) from None
    return factory(config, credentials, http)


@dataclass(frozen=True)
class Capabilities:
    """What can be written back to a kind of channel (and what it needs to do so)."""

    ship: bool = False  # shipped + carrier + tracking number
    cancel: bool = False
    refund: bool = False
    stock: bool = False  # available-stock updates
    message: bool = False  # the follow-up after shipment can be a buyer message through the channel
    how: str = ""  # the channel call, for staff and the docs

    def allows(self, action: str) -> bool:
        """Whether `action` (ship, cancel, refund; follow_up is ours, by email) can be written back."""
        return action == "follow_up" or bool(getattr(self, action, False))


# kind -> what can be written back; each write-back module adds its line here (the docs table mirrors this).
CAPABILITIES: dict[str, Capabilities] = {
    "ebay": Capabilities(ship=True, stock=True, message=True,
                         how="createShippingFulfillment (POST /sell/fulfillment/v1/order/{id}/shipping_fulfillment); "
                             "POST /sell/inventory/v1/bulk_update_price_quantity shipToLocationAvailability; "
                             "Trading AddMemberMessageAAQToPartner buyer message"),
    "amazon": Capabilities(ship=True, stock=True,
                           how="SP-API confirmShipment (POST /orders/v0/orders/{id}/shipmentConfirmation); "
                               "PATCH /listings/2021-08-01/items/{sellerId}/{sku} fulfillment_availability"),
    "magento2": Capabilities(ship=True, cancel=True, stock=True,
                             how="POST /V1/order/{entity_id}/ship with tracks; POST /V1/orders/{entity_id}/cancel; "
                                 "PUT /V1/products/{sku}/stockItems/{itemId} qty + is_in_stock"),
    "woocommerce": Capabilities(ship=True, cancel=True, refund=True, stock=True,
                                how="PUT /wc/v3/orders/{id} status completed + customer note with tracking; "
                                    "status cancelled; POST /orders/{id}/refunds; PUT /products/{id} stock_quantity"),
    "shopify": Capabilities(ship=True, stock=True,
                            how="GraphQL fulfillmentCreate with trackingInfo on the open fulfilment orders; "
                                "POST /admin/api/{version}/inventory_levels/set.json"),
    oscommerce.OSCOMMERCE: Capabilities(
        ship=True, cancel=True, stock=True,
        how="database: orders_status Delivered (or Cancelled, where the shop has it) + an orders_status_history row "
            "with carrier and tracking number; products.products_quantity by products_model"),
    oscommerce.ZENCART: Capabilities(
        ship=True, cancel=True, stock=True,
        how="database: orders_status Delivered (or Cancelled, where the shop has it) + an orders_status_history row "
            "with carrier and tracking number; products.products_quantity by products_model"),
    xcart4.CHANNEL: Capabilities(ship=True, stock=True,
                                 how="database: xcart_orders status 'C' and the tracking column; "
                                     "xcart_products.avail by productcode"),
    xcart5.CHANNEL: Capabilities(ship=True, how="REST PUT _path=order/{id}: shippingStatus S + trackingNumbers"),
}

# kind -> build(config, resolved credentials, shared HTTP client) of its WriteBack.
WRITEBACKS: dict[str, Callable[[ChannelConfig, Mapping[str, str], httpx.AsyncClient], WriteBack]] = {
    "ebay": writebacks.build_ebay,
    "amazon": writebacks.build_amazon,
    "magento2": writebacks.build_magento,
    "woocommerce": writebacks.build_woocommerce,
    "shopify": writebacks.build_shopify,
    # The database and X-Cart 5 connectors write back themselves.
    oscommerce.OSCOMMERCE: oscommerce.build_oscommerce,
    oscommerce.ZENCART: oscommerce.build_zencart,
    xcart4.CHANNEL: xcart4.build,
    xcart5.CHANNEL: xcart5.build,
}


def build_writeback(config: ChannelConfig, *, http: httpx.AsyncClient,
                    environ: Mapping[str, str] | None = None) -> WriteBack:
    """The write-back of a configured channel, its credentials resolved; ConnectorError saying what is wrong."""
    factory = WRITEBACKS.get(config.kind)
    if factory is None:
        raise ConnectorError(f"no write-back for kind {config.kind!r} ({', '.join(sorted(WRITEBACKS))})")
    try:
        credentials = resolve_credentials(config.credentials, environ=environ)
    except ValueError as exc:
        raise ConnectorError(str(exc)) from None
    return factory(config, credentials, http)


def polled(config: ChannelConfig) -> bool:
    """Whether the poller downloads this channel: not one configured only for write-back (a kind with no
    connector), nor one whose option `poll` is false (its orders come by webhook only)."""
    write_back_only = config.kind in WRITEBACKS and config.kind not in CONNECTORS
    return not write_back_only and config.options.get("poll", True) is not False
