"""Per-client rate limits: a client over its limit gets 429 with Retry-After; other clients and /health do not."""

import httpx
import pytest
from fastapi import FastAPI

from oms_platform.ratelimit import RateLimitMiddleware


@pytest.fixture
def client():
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, per_minute=3)

    @app.get("/thing")
    def thing() -> dict:
        return {"ok": True}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_request_over_the_limit_is_refused_with_a_reason_and_retry_after(client):
    answers = [await client.get("/thing", headers={"Authorization": "Bearer key-one-0123456789"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert "more than 3 requests a minute" in answers[-1].json()["detail"]


async def test_each_key_has_its_own_budget(client):
    for _ in range(3):
        await client.get("/thing", headers={"Authorization": "Bearer key-one-0123456789"})
    other = await client.get("/thing", headers={"Authorization": "Bearer key-two-0123456789"})
    assert other.status_code == 200


async def test_without_a_key_the_address_is_the_client(client):
    answers = [await client.get("/thing") for _ in range(4)]
    assert answers[-1].status_code == 429


async def test_health_is_never_limited(client):
    answers = [await client.get("/health") for _ in range(10)]
    assert {a.status_code for a in answers} == {200}
