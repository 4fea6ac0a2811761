"""What fulfilment reads about stock items (weight, barcode, location, bin) from inventory's HTTP API."""

import asyncio
from typing import Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict


class ItemInfo(BaseModel):
    """The parts of an inventory stock item fulfilment uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sku: str
    title: str | None = None
    barcode: str | None = None
    weight: float | None = None
    default_location: str | None = None
    default_bin: str | None = None


class Catalogue(Protocol):
    """Stock items by SKU; a SKU inventory does not know is simply missing from the answer."""

    async def items(self, skus: list[str]) -> dict[str, ItemInfo]: ...


class InventoryCatalogue:
    """Reads `GET /stock-items/{sku}` of the inventory API with a staff key."""

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 5.0) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
        )

    async def items(self, skus: list[str]) -> dict[str, ItemInfo]:
        """The known items among `skus`; an unreachable inventory raises, so the command is retried."""
        answers = await asyncio.gather(*(self._item(sku) for sku in dict.fromkeys(skus)))
        return {item.sku: item for item in answers if item is not None}

    async def _item(self, sku: str) -> ItemInfo | None:
        response = await self.client.get(f"/stock-items/{quote(sku, safe='')}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return ItemInfo.model_validate(response.json())

    async def close(self) -> None:
        await self.client.aclose()
