"""Which connector serves which channel kind, and building one from a channel's configuration."""

from collections.abc import Callable, Mapping

import httpx

from ingest.connectors import amazon, ebay, magento2
from ingest.connectors import woocommerce
from ingest.connectors import oscommerce, xcart4, xcart5
from ingest.connectors.base import Connector, ConnectorError
from ingest.domain.channels import ChannelConfig, resolve_credentials

# kind -> build(config, resolved credentials, shared HTTP client); each connector module adds its line here.
CONNECTORS: dict[str, Callable[[ChannelConfig, Mapping[str, str], httpx.AsyncClient], Connector]] = {
    magento2.CHANNEL: magento2.build,
    ebay.CHANNEL: ebay.build,
    amazon.CHANNEL: amazon.build,
    woocommerce.CHANNEL: woocommerce.build,
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
