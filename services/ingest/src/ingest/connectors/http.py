"""What every REST connector does with an HTTP answer: JSON back, or a ConnectorError / RateLimited with why."""

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ingest.connectors.base import ConnectorError, RateLimited

DEFAULT_RETRY_AFTER = 60.0


def retry_after(response: httpx.Response, *, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds the channel asked us to wait: `Retry-After` as seconds or an HTTP date, else `default`."""
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _why(response: httpx.Response) -> str:
    """A short reason from an error answer (the channel's own message, cut to 300 characters)."""
    text = response.text.strip().replace("\n", " ")
    return f"{response.status_code} {response.reason_phrase}" + (f": {text[:300]}" if text else "")


async def get_json(
    http: httpx.AsyncClient, url: str, *, channel: str, params: Any = None, headers: dict[str, str] | None = None,
    missing_ok: bool = False,
) -> tuple[Any, httpx.Response]:
    """GET `url` and return its JSON (text exactly as sent, so the caller can keep it) and the response.

    401/403 → ConnectorError naming the refusal, 429 → RateLimited with Retry-After, other non-2xx, network
    errors and non-JSON bodies → ConnectorError. Credentials are in `headers` and never in a reason.
    With `missing_ok`, a 404 is (None, response): the channel has no such thing.
    """
    try:
        response = await http.get(url, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise ConnectorError(f"{channel}: cannot reach {url.split('?')[0]} ({type(exc).__name__})") from None
    if response.status_code == 429:
        raise RateLimited(f"{channel}: {_why(response)}", retry_after=retry_after(response))
    if response.status_code in (401, 403):
        raise ConnectorError(f"{channel}: credentials refused ({_why(response)})")
    if response.status_code == 404 and missing_ok:
        return None, response
    if response.status_code >= 400:
        raise ConnectorError(f"{channel}: {_why(response)}")
    try:
        return json.loads(response.text), response
    except ValueError:
        raise ConnectorError(f"{channel}: the answer is not JSON ({response.status_code})") from None


def dumps(value: Any) -> str:
    """A channel's JSON object as text for the intake log (UTF-8 characters kept as they are)."""
    return json.dumps(value, ensure_ascii=False)


async def send_json(
    http: httpx.AsyncClient, method: str, url: str, *, channel: str, json_body: Any = None,
    headers: dict[str, str] | None = None, auth: httpx.Auth | tuple[str, str] | None = None,
    params: Any = None, missing_ok: bool = False,
) -> httpx.Response:
    """Send a write (POST/PUT/PATCH) with a JSON body; the response when 2xx (or a 404 with `missing_ok`), else
    ConnectorError/RateLimited with why."""
    try:
        response = await http.request(method, url, json=json_body, headers=headers, auth=auth, params=params)
    except httpx.HTTPError as exc:
        raise ConnectorError(f"{channel}: cannot reach {url.split('?')[0]} ({type(exc).__name__})") from None
    if response.status_code == 429:
        raise RateLimited(f"{channel}: {_why(response)}", retry_after=retry_after(response))
    if response.status_code in (401, 403):
        raise ConnectorError(f"{channel}: credentials refused ({_why(response)})")
    if response.status_code == 404 and missing_ok:
        return response
    if response.status_code >= 400:
        raise ConnectorError(f"{channel}: {_why(response)}")
    return response
