"""Webhook secrets per channel account, and the signature check channels' webhooks are verified with."""

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

SHOPIFY = "shopify"
WOOCOMMERCE = "woocommerce"
WEBHOOK_CHANNELS = (SHOPIFY, WOOCOMMERCE)

# The header each channel signs its deliveries in, and the one naming the delivery (the dedupe key).
SIGNATURE_HEADERS = {SHOPIFY: "x-shopify-hmac-sha256", WOOCOMMERCE: "x-wc-webhook-signature"}
DELIVERY_HEADERS = {SHOPIFY: "x-shopify-webhook-id", WOOCOMMERCE: "x-wc-webhook-delivery-id"}
TOPIC_HEADERS = {SHOPIFY: "x-shopify-topic", WOOCOMMERCE: "x-wc-webhook-topic"}


class WebhookSecrets:
    """The shared secrets of each (channel, account): one, or two while a secret is being rotated."""

    def __init__(self, secrets: Mapping[tuple[str, str], tuple[str, ...]] | None = None) -> None:
        self._secrets = dict(secrets or {})

    @classmethod
    def parse(cls, text: str) -> "WebhookSecrets":
        """Read `channel:account:secret,...` or JSON `{"channel:account": "secret" | ["new", "old"]}`.

        Errors never quote a secret (they end up in startup logs).
        """
        text = text.strip()
        pairs: list[tuple[str, str]] = []
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                raise ValueError("webhook secrets: not valid JSON") from None
            for name, value in data.items():
                values = [value] if isinstance(value, str) else value
                if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                    raise ValueError(f"webhook secrets: {name!r} must be a secret or a list of secrets")
                pairs.extend((name, v) for v in values)
        elif text:
            for number, entry in enumerate(text.split(","), start=1):
                channel, sep1, rest = entry.strip().partition(":")
                account, sep2, secret = rest.partition(":")
                if not (sep1 and sep2 and secret):
                    raise ValueError(f"webhook secrets: entry {number} is not channel:account:secret")
                pairs.append((f"{channel}:{account}", secret))
        secrets: dict[tuple[str, str], tuple[str, ...]] = {}
        for name, secret in pairs:
            channel, _, account = name.partition(":")
            if channel not in WEBHOOK_CHANNELS or not account:
                raise ValueError(f"webhook secrets: {name!r} is not <{'|'.join(WEBHOOK_CHANNELS)}>:<account>")
            secrets[(channel, account)] = (*secrets.get((channel, account), ()), secret)
        for (channel, account), values in secrets.items():
            if len(values) > 2:
                raise ValueError(f"webhook secrets: {channel}:{account} has more than two secrets")
        return cls(secrets)

    def of(self, channel: str, account: str) -> tuple[str, ...]:
        """The secrets of one account (empty when it has none)."""
        return self._secrets.get((channel, account), ())

    def accounts(self) -> list[tuple[str, str]]:
        """Every configured (channel, account), for diagnostics (never the secrets)."""
        return sorted(self._secrets)

    def __repr__(self) -> str:
        return f"WebhookSecrets(accounts={self.accounts()!r})"


def signature(raw: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, raw body)): what Shopify and WooCommerce put in their signature header."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).digest()).decode("ascii")


def signature_matches(raw: bytes, given: str | None, secrets: tuple[str, ...]) -> bool:
    """True when `given` is the signature of the raw body under one of `secrets` (compared in constant time)."""
    if not given or not secrets:
        return False
    # The base64 text is compared, not its decoding: a decoder would also accept non-canonical spellings
    # (other padding bits) of the same digest.
    given_text = given.strip().encode("utf-8")
    matched = False
    # Every secret is tried (no early exit), so the time taken does not tell which one matched.
    for secret in secrets:
        matched |= hmac.compare_digest(signature(raw, secret).encode("ascii"), given_text)
    return matched
