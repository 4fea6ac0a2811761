"""The channel management API: configure with credential references, read status, download now."""

import httpx
import pytest
from fastapi import FastAPI

from ingest.entrypoints.channels_api import channels_router
from oms_platform.auth import ApiKeys

ADMIN, OPS = "admin-key-0123456789abcdef", "ops-key-0123456789abcdef"


@pytest.fixture
def client(channel_store, clock):
    app = FastAPI()
    app.include_router(channels_router(channels=channel_store, keys=ApiKeys(f"admin:{ADMIN},ops:{OPS}"),
                                       clock=clock))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(key=ADMIN) -> dict:
    return {"Authorization": f"Bearer {key}"}


MAGENTO = {"name": "Web shop", "kind": "magento2", "account": "fernbrook", "url": "https://shop.example",
           "credentials": {"token": "env:MAGENTO_TOKEN"}, "interval_seconds": 120}


class TestConfigure:
    async def test_a_channel_is_added_and_read_back_with_its_empty_status(self, client):
        put = await client.put("/channels/web", json=MAGENTO, headers=auth())
        assert put.status_code == 200, put.text
        got = (await client.get("/channels/web", headers=auth(OPS))).json()
        assert got["kind"] == "magento2" and got["credentials"] == {"token": "env:MAGENTO_TOKEN"}
        assert got["status"]["cursor"] is None and got["status"]["last_sync_at"] is None

    async def test_a_credential_value_is_refused_and_never_echoed(self, client):
        bad = {**MAGENTO, "credentials": {"token": "s3cr3t-token-value"}}
        response = await client.put("/channels/web", json=bad, headers=auth())
        assert response.status_code == 422 and "s3cr3t-token-value" not in response.text
        assert "credential 'token'" in response.text

    async def test_only_admins_configure_channels(self, client):
        assert (await client.put("/channels/web", json=MAGENTO, headers=auth(OPS))).status_code == 403
        assert (await client.get("/channels")).status_code == 401

    async def test_options_take_values_lists_and_one_level_of_names(self, client):
        options = {"start": "2026-11-01T00:00:00Z", "page_size": 50, "marketplace_ids": ["A1F83G8C2ARO7P"],
                   "carrier_codes": {"OMS Post": "royal_mail"}, "push_stock": True}
        response = await client.put("/channels/web", json={**MAGENTO, "options": options}, headers=auth())
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("options", [{"nested": [[1]]}, {"deep": {"a": {"b": 1}}}, {"Bad Name": 1}])
    async def test_nested_or_oddly_named_options_are_refused(self, client, options):
        response = await client.put("/channels/web", json={**MAGENTO, "options": options}, headers=auth())
        assert response.status_code == 422, response.text
        assert "options" in response.text

    async def test_disabling_is_an_edit(self, client):
        await client.put("/channels/web", json=MAGENTO, headers=auth())
        await client.put("/channels/web", json={**MAGENTO, "enabled": False}, headers=auth())
        assert (await client.get("/channels", headers=auth())).json()[0]["enabled"] is False


class TestDownloadNow:
    async def test_download_now_is_recorded_for_the_poller(self, client, clock):
        await client.put("/channels/web", json=MAGENTO, headers=auth())
        response = await client.post("/channels/web/download", headers=auth(OPS))
        assert response.status_code == 202
        assert response.json()["download_requested_at"] is not None

    async def test_an_unknown_channel_is_404(self, client):
        assert (await client.post("/channels/nope/download", headers=auth())).status_code == 404
