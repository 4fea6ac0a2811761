"""Per-client request limits on every API, so one runaway client (or a flood at a public webhook) cannot starve
the others. A client is its API key (hashed) or, without one, its address. The window is a moving minute kept in
this process's memory: each API process counts on its own (with N processes a client gets up to N times the limit).
"""

import hashlib
import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

UNLIMITED_PATHS = ("/health",)


class RateLimitMiddleware:
    """ASGI middleware: 429 with Retry-After and the reason once a client passes `per_minute` requests."""

    def __init__(self, app: ASGIApp, *, per_minute: int) -> None:
        self.app = app
        self.limit = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        if self.limiter.hit(self.limit, client):
            await self.app(scope, receive, send)
            return
        reset_at, _ = self.limiter.get_window_stats(self.limit, client)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        answer = JSONResponse(
            {"detail": f"rate limit: more than {self.limit.amount} requests a minute from this client; "
                       f"retry in {retry_after} s"},
            status_code=429, headers={"Retry-After": str(retry_after)},
        )
        await answer(scope, receive, send)


def client_of(scope: Scope) -> str:
    """Who is asking: a digest of the bearer key when there is one (never the key itself), else the address."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return "key:" + hashlib.sha256(value[7:]).hexdigest()[:24]
    host = (scope.get("client") or ("unknown", 0))[0]
    return f"addr:{host}"
