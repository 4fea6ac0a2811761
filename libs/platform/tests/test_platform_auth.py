"""API keys: parsing, roles and refusals."""

import httpx
import pytest
from fastapi import Depends, FastAPI

from oms_platform.auth import ApiKeys, Caller, require_role

KEYS = ApiKeys("admin:admin-key-0123456789ab,ops:ops-key-0123456789abcd,packer:packer-key-0123456789")


class TestParsing:
    def test_a_short_key_is_refused(self):
        with pytest.raises(ValueError, match="16\\+ chars"):
            ApiKeys("ops:short")

    def test_an_unknown_role_is_refused(self):
        with pytest.raises(ValueError, match="role"):
            ApiKeys("god:0123456789abcdef0123")

    def test_no_keys_is_refused(self):
        with pytest.raises(ValueError, match="no API keys"):
            ApiKeys(" , ")

    def test_the_error_never_shows_the_key(self):
        with pytest.raises(ValueError) as info:
            ApiKeys("ops:secretsecret")
        assert "secretsecret" not in str(info.value)


class TestRoles:
    @pytest.fixture
    def client(self):
        app = FastAPI()

        @app.get("/ops-only")
        def ops_only(caller: Caller = Depends(require_role(KEYS, "ops"))) -> dict:
            return {"who": caller.name}

        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    @pytest.mark.parametrize(
        ("key", "status"),
        [("ops-key-0123456789abcd", 200), ("admin-key-0123456789ab", 200), ("packer-key-0123456789", 403),
         ("wrong-key-0123456789ab", 401)],
    )
    async def test_roles_decide_who_gets_in(self, client, key, status):
        response = await client.get("/ops-only", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == status

    async def test_no_key_is_401_with_a_bearer_challenge(self, client):
        response = await client.get("/ops-only")
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


class TestConsoleKey:
    """The console key acts for the user it names, with that user's role and never more."""

    @pytest.fixture
    def client(self):
        keys = ApiKeys("console:console-key-0123456789,ops:ops-key-0123456789abcd")
        app = FastAPI()

        @app.get("/ops-only")
        def ops_only(caller: Caller = Depends(require_role(keys, "ops"))) -> dict:
            return {"who": caller.name, "role": caller.role}

        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    async def test_the_named_user_is_the_caller(self, client):
        r = await client.get("/ops-only", headers={"Authorization": "Bearer console-key-0123456789",
                                                   "X-OMS-User": "alice", "X-OMS-Role": "ops"})
        assert r.status_code == 200
        assert r.json() == {"who": "alice", "role": "ops"}

    async def test_the_users_role_decides(self, client):
        r = await client.get("/ops-only", headers={"Authorization": "Bearer console-key-0123456789",
                                                   "X-OMS-User": "pat", "X-OMS-Role": "packer"})
        assert r.status_code == 403

    @pytest.mark.parametrize("headers", [{}, {"X-OMS-User": "alice"}, {"X-OMS-User": "al ice", "X-OMS-Role": "ops"},
                                         {"X-OMS-User": "alice", "X-OMS-Role": "console"}])
    async def test_a_console_key_without_a_valid_user_is_refused(self, client, headers):
        r = await client.get("/ops-only", headers={"Authorization": "Bearer console-key-0123456789", **headers})
        assert r.status_code == 403
        assert "X-OMS-User" in r.json()["detail"]

    async def test_other_keys_ignore_the_headers(self, client):
        r = await client.get("/ops-only", headers={"Authorization": "Bearer ops-key-0123456789abcd",
                                                   "X-OMS-User": "mallory", "X-OMS-Role": "admin"})
        assert r.json() == {"who": "ops-key-2", "role": "ops"}
