"""PayPal's verification calls: the IPN post-back (`cmd=_notify-validate`) and the REST verify-webhook-signature."""

import logging
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)


class Unverifiable(Exception):
    """PayPal could not be asked (unreachable, slow, an unexpected answer): the notification is neither trusted nor
    refused; PayPal sends it again later."""


class PayPalVerifier(Protocol):
    """Asks PayPal whether a notification really came from it."""

    async def verify_ipn(self, raw: bytes) -> bool: ...

    async def verify_webhook(self, headers: dict[str, str], event: dict[str, Any]) -> bool: ...


# The headers PayPal signs a REST webhook delivery with (lower case, as Starlette gives them).
WEBHOOK_HEADERS = {
    "transmission_id": "paypal-transmission-id",
    "transmission_time": "paypal-transmission-time",
    "transmission_sig": "paypal-transmission-sig",
    "cert_url": "paypal-cert-url",
    "auth_algo": "paypal-auth-algo",
}


class HttpPayPalVerifier:
    """The verifier over HTTP, against the configured IPN post-back URL and REST API base URL."""

    def __init__(self, http: httpx.AsyncClient, *, ipn_url: str, api_url: str, client_id: str, client_secret: str,
                 webhook_id: str) -> None:
        self.http = http
        self.ipn_url = ipn_url
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id

    async def verify_ipn(self, raw: bytes) -> bool:
        """Post the unchanged body back, prefixed with `cmd=_notify-validate`: True on VERIFIED, False on INVALID."""
        try:
            answer = await self.http.post(
                self.ipn_url, content=b"cmd=_notify-validate&" + raw,
                headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "oms-ingest-ipn"},
            )
        except httpx.HTTPError as exc:
            raise Unverifiable(f"PayPal IPN post-back failed: {type(exc).__name__}: {exc}") from exc
        text = answer.text.strip()
        if answer.status_code == 200 and text == "VERIFIED":
            return True
        if answer.status_code == 200 and text == "INVALID":
            return False
        raise Unverifiable(f"PayPal IPN post-back answered {answer.status_code} {text[:80]!r}")

    async def verify_webhook(self, headers: dict[str, str], event: dict[str, Any]) -> bool:
        """POST /v1/notifications/verify-webhook-signature with an OAuth token: True on SUCCESS."""
        if not (self.client_id and self.client_secret and self.webhook_id):
            raise Unverifiable("PayPal REST credentials or webhook id are not configured")
        missing = [name for name in WEBHOOK_HEADERS.values() if not headers.get(name)]
        if missing:
            return False
        try:
            token = await self.http.post(
                f"{self.api_url}/v1/oauth2/token", data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
            )
            if token.status_code != 200:
                raise Unverifiable(f"PayPal OAuth token request answered {token.status_code}")
            body = {field: headers[name] for field, name in WEBHOOK_HEADERS.items()}
            answer = await self.http.post(
                f"{self.api_url}/v1/notifications/verify-webhook-signature",
                json={**body, "webhook_id": self.webhook_id, "webhook_event": event},
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise Unverifiable(f"PayPal verify-webhook-signature failed: {type(exc).__name__}: {exc}") from exc
        if answer.status_code != 200:
            raise Unverifiable(f"PayPal verify-webhook-signature answered {answer.status_code}")
        return answer.json().get("verification_status") == "SUCCESS"
