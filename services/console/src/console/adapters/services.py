"""The console's only way to the system: the services' HTTP APIs, called with the console key for a signed-in user."""

from dataclasses import dataclass
from typing import Any

import httpx

SERVICES = ("ingest", "orders", "inventory", "fulfilment", "printing")


class ServiceError(Exception):
    """A service refused or failed a call; `status` is its HTTP status (503 when it did not answer)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Acting:
    """The signed-in user the console acts for."""

    name: str
    role: str


class Services:
    """One HTTP client for all services; every call names the user it is made for."""

    def __init__(self, urls: dict[str, str], key: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._urls = {service: url.rstrip("/") for service, url in urls.items()}
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(20, connect=3), transport=transport
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self, who: Acting, service: str, path: str, params: dict | None = None) -> Any:
        """The JSON a GET answers."""
        response = await self._call(who, "GET", service, path, params=_clean(params))
        return response.json()

    async def get_bytes(self, who: Acting, service: str, path: str, params: dict | None = None) -> httpx.Response:
        """The raw answer of a GET (a PDF, a CSV)."""
        return await self._call(who, "GET", service, path, params=_clean(params))

    async def post(self, who: Acting, service: str, path: str, body: Any = None, *, key: str | None = None) -> Any:
        """The JSON a POST answers; `key` becomes the Idempotency-Key, so a double-submitted form acts once."""
        headers = {"Idempotency-Key": key} if key else {}
        response = await self._call(who, "POST", service, path, json=body, headers=headers)
        return response.json() if response.content else None

    async def patch(self, who: Acting, service: str, path: str, body: Any, *, key: str | None = None) -> Any:
        """The JSON a PATCH answers (an edit)."""
        headers = {"Idempotency-Key": key} if key else {}
        response = await self._call(who, "PATCH", service, path, json=body, headers=headers)
        return response.json() if response.content else None

    async def put(self, who: Acting, service: str, path: str, body: Any, *, params: dict | None = None) -> Any:
        """The JSON a PUT answers (a whole configuration document)."""
        response = await self._call(who, "PUT", service, path, json=body, params=_clean(params))
        return response.json() if response.content else None

    async def post_for_bytes(self, who: Acting, service: str, path: str, body: Any = None) -> httpx.Response:
        """The raw answer of a POST (a rendered preview)."""
        return await self._call(who, "POST", service, path, json=body)

    async def delete(self, who: Acting, service: str, path: str, *, key: str | None = None) -> Any:
        """The JSON a DELETE answers."""
        headers = {"Idempotency-Key": key} if key else {}
        response = await self._call(who, "DELETE", service, path, headers=headers)
        return response.json() if response.content else None

    async def _call(self, who: Acting, method: str, service: str, path: str, **kwargs) -> httpx.Response:
        headers = {"X-OMS-User": who.name, "X-OMS-Role": who.role, **kwargs.pop("headers", {})}
        try:
            response = await self._client.request(method, self._urls[service] + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(503, f"the {service} service does not answer ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise ServiceError(response.status_code, _detail(response))
        return response


def _clean(params: dict | None) -> dict | None:
    """Query parameters without the empty ones a form sends."""
    return {k: v for k, v in (params or {}).items() if v not in (None, "")} or None


def _detail(response: httpx.Response) -> str:
    """The reason a service gave, readable for staff."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(detail, dict) and "message" in detail:  # e.g. a template that does not render: line and reason
        line = detail.get("line")
        return f"{detail['message']}" + (f" (line {line})" if line else "")
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in detail)
    return str(detail)
