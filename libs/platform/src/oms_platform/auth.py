"""Bearer API keys with roles, compared in constant time; keys are never logged.

A key of role `console` belongs to the ops console, which signs users in itself: it must name the user it acts
for in `X-OMS-User` and that user's role in `X-OMS-Role`, so every timeline entry names a person, and the
user's role (never the console's) decides what is allowed.
"""

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Header, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ROLES = ("admin", "ops", "packer")
CONSOLE_ROLE = "console"
_USER_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the role of the key and a non-secret label for timelines."""

    role: str
    name: str


class ApiKeys:
    """The configured keys, parsed from 'role:key,role:key'."""

    def __init__(self, spec: str) -> None:
        self._keys: list[tuple[bytes, str]] = []
        for index, item in enumerate(filter(None, (part.strip() for part in spec.split(",")))):
            role, sep, key = item.partition(":")
            if not sep or role not in (*ROLES, CONSOLE_ROLE) or len(key) < 16:
                raise ValueError(
                    f"API key #{index + 1}: expected role:key with a role in {(*ROLES, CONSOLE_ROLE)} and 16+ chars"
                )
            self._keys.append((key.encode(), role))
        if not self._keys:
            raise ValueError("no API keys configured")

    def caller_for(self, presented: str) -> Caller | None:
        """The caller a presented key belongs to; every key is compared so timing reveals nothing."""
        found = None
        for index, (key, role) in enumerate(self._keys):
            if hmac.compare_digest(key, presented.encode()):
                found = Caller(role=role, name=f"{role}-key-{index + 1}")
        return found


_bearer = HTTPBearer(auto_error=False)


def require_role(keys: ApiKeys, *roles: str) -> Callable[..., Caller]:
    """A FastAPI dependency that admits a bearer key of one of `roles` (admin is always admitted)."""

    def dependency(
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        acting_user: str | None = Header(None, alias="X-OMS-User", include_in_schema=False),
        acting_role: str | None = Header(None, alias="X-OMS-Role", include_in_schema=False),
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"}
            )
        caller = keys.caller_for(credentials.credentials)
        if caller is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if caller.role == CONSOLE_ROLE:
            caller = _console_user(acting_user, acting_role)
        if caller.role != "admin" and caller.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {caller.role!r} may not do this")
        return caller

    return dependency


def _console_user(name: str | None, role: str | None) -> Caller:
    """The signed-in console user a console key acts for; 403 when the console did not name a valid one."""
    if not name or not _USER_NAME.match(name) or role not in ROLES:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"a console key must name its user (X-OMS-User) and role (X-OMS-Role) in {ROLES}"
        )
    return Caller(role=role, name=name)
