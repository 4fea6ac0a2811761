"""The open-orders list on the real database: filters, free text, counts and cursor paging."""

import uuid

import pytest

pytestmark = pytest.mark.integration


def order(sku: str, *, name: str, postcode: str, country: str, paid: bool) -> dict:
    return {
        "buyer": {"name": name, "email": f"{name.split()[0].lower()}@example.org"},
        "shipping_address": {"name": name, "line1": "1 High Street", "city": "Town", "postcode": postcode,
                             "country": country},
        "lines": [{"line_id": "1", "sku": sku, "title": "Widget", "quantity": 1, "unit_price": "5.00"}],
        "shipping": {"service": "Standard", "cost": "2.00"},
        "currency": "GBP",
        "paid": paid,
    }


class TestOrderList:
    async def test_filters_free_text_counts_and_paging_on_the_real_database(self, system, ops):
        orders = system.url("orders")
        sku = f"WIDGET-{uuid.uuid4().hex[:8].upper()}"
        tag = uuid.uuid4().hex[:6].upper()  # a postcode part no other test uses
        placed = {}
        for name, country, paid in (("Mary Somerville", "GB", True), ("Emmy Noether", "DE", True),
                                    ("Sofia Kovalevskaya", "GB", False)):
            response = await ops.post(f"{orders}/orders",
                                      json=order(sku, name=name, postcode=f"Z{tag} {name[:2]}", country=country,
                                                 paid=paid))
            assert response.status_code == 201, response.text
            placed[name.split()[0]] = response.json()["order_id"]
        names = {v: k for k, v in placed.items()}

        async def listed(**params):
            response = await ops.get(f"{orders}/orders", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            return [names[o["order_id"]] for o in body["items"]], body["total"]

        assert await listed(sku=sku) == (["Sofia", "Emmy", "Mary"], 3)
        assert await listed(sku=sku, country="GB", paid="true") == (["Mary"], 1)
        assert await listed(q=f"z{tag.lower()} em") == (["Emmy"], 1)
        assert await listed(q="KOVALEVSKAYA", sku=sku) == (["Sofia"], 1)

        first = (await ops.get(f"{orders}/orders", params={"sku": sku, "limit": 2, "sort": "oldest"})).json()
        second = (await ops.get(f"{orders}/orders", params={"sku": sku, "limit": 2, "sort": "oldest",
                                                            "cursor": first["next_cursor"]})).json()
        assert [names[o["order_id"]] for o in first["items"] + second["items"]] == ["Mary", "Emmy", "Sofia"]
        assert second["next_cursor"] is None and first["total"] == second["total"] == 3

        parked = await ops.post(f"{orders}/orders/{placed['Emmy']}/park", json={"reason": "call back"})
        assert parked.status_code == 200
        assert await listed(sku=sku, parked="true") == (["Emmy"], 1)
