"""Hold and cancel on the real broker and database: the API answers with the outcome, and stock follows the order."""

import asyncio
import uuid

import pytest

pytestmark = pytest.mark.integration


def phone_order(sku: str, quantity: int) -> dict:
    return {
        "buyer": {"name": "Katherine Johnson", "email": "katherine@example.org"},
        "shipping_address": {"name": "Katherine Johnson", "line1": "3 Langley Way", "city": "Hampton",
                             "postcode": "23681", "country": "US"},
        "lines": [{"line_id": "1", "sku": sku, "title": "Slide rule", "quantity": quantity, "unit_price": "12.00"}],
        "shipping": {"service": "Tracked 48", "cost": "3.95"},
        "currency": "USD",
        "paid": True,
    }


@pytest.fixture
def stocked_order(system, ops, wait_for):
    """A fresh SKU with 10 on hand and an open order of 3 of it with its stock allocated: (order id, SKU)."""
    inventory, orders = system.url("inventory"), system.url("orders")

    async def make() -> tuple[str, str]:
        sku = f"RULE-{uuid.uuid4().hex[:8].upper()}"
        adjusted = await ops.post(f"{inventory}/stock/{sku}/adjustments", json={"delta": 10, "reason": "delivery"})
        assert adjusted.status_code == 202, adjusted.text
        await wait_for(lambda: _levels_are(ops, inventory, sku, (10, 0, 10)), what="opening stock")
        placed = await ops.post(f"{orders}/orders", json=phone_order(sku, 3))
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]

        async def allocated():
            return (await ops.get(f"{orders}/orders/{order_id}")).json()["stock_allocated"]

        await wait_for(allocated, what="the order's stock to be allocated")
        await wait_for(lambda: _levels_are(ops, inventory, sku, (10, 3, 7)), what="3 allocated")
        return order_id, sku

    return make


async def _levels_are(ops, inventory: str, sku: str, expected: tuple[int, int, int]) -> bool:
    response = await ops.get(f"{inventory}/stock/{sku}")
    if response.status_code == 404:  # the first adjustment has not been applied yet
        return False
    body = response.json()
    return (body["on_hand"], body["allocated"], body["available"]) == expected


class TestCancel:
    async def test_cancelling_answers_with_the_cancelled_order_and_gives_the_stock_back(
        self, system, ops, stocked_order, wait_for
    ):
        order_id, sku = await stocked_order()
        response = await ops.post(f"{system.url('orders')}/orders/{order_id}/cancel",
                                  json={"reason": "buyer changed their mind"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert response.json()["timeline"][-1]["what"] == "cancelled"
        await wait_for(lambda: _levels_are(ops, system.url("inventory"), sku, (10, 0, 10)),
                       what="the cancelled order's stock to be released")

    async def test_a_cancelled_order_cannot_be_processed(self, system, ops, stocked_order):
        order_id, _ = await stocked_order()
        orders = system.url("orders")
        assert (await ops.post(f"{orders}/orders/{order_id}/cancel", json={"reason": "x"})).status_code == 200
        response = await ops.post(f"{orders}/orders/{order_id}/process")
        assert response.status_code == 409 and "order is cancelled" in response.json()["detail"]


class TestLockAndUnlock:
    async def test_locking_releases_the_stock_and_unlocking_allocates_it_again(
        self, system, ops, stocked_order, wait_for
    ):
        order_id, sku = await stocked_order()
        orders, inventory = system.url("orders"), system.url("inventory")
        locked = await ops.post(f"{orders}/orders/{order_id}/lock", json={"reason": "address check"})
        assert locked.status_code == 200, locked.text
        assert locked.json()["locked"] and not locked.json()["stock_allocated"]
        await wait_for(lambda: _levels_are(ops, inventory, sku, (10, 0, 10)), what="the locked order's stock released")
        refused = await ops.post(f"{orders}/orders/{order_id}/process")
        assert refused.status_code == 409 and "locked" in refused.json()["detail"]

        unlocked = await ops.post(f"{orders}/orders/{order_id}/unlock", json={"reason": "address confirmed"})
        assert unlocked.status_code == 200, unlocked.text
        await wait_for(lambda: _levels_are(ops, inventory, sku, (10, 3, 7)), what="the stock allocated again")

        async def allocated_again():
            return (await ops.get(f"{orders}/orders/{order_id}")).json()["stock_allocated"]

        await wait_for(allocated_again, what="the order to see its stock allocated again")

    async def test_parking_keeps_the_stock(self, system, ops, stocked_order):
        order_id, sku = await stocked_order()
        parked = await ops.post(f"{system.url('orders')}/orders/{order_id}/park", json={"reason": "call back"})
        assert parked.status_code == 200 and parked.json()["parked"]
        assert await _levels_are(ops, system.url("inventory"), sku, (10, 3, 7))


class TestProcessRacingCancel:
    async def test_exactly_one_wins_the_other_gets_409_and_stock_stays_right(
        self, system, ops, stocked_order, wait_for
    ):
        order_id, sku = await stocked_order()
        orders, inventory = system.url("orders"), system.url("inventory")
        process, cancel = await asyncio.gather(
            ops.post(f"{orders}/orders/{order_id}/process"),
            ops.post(f"{orders}/orders/{order_id}/cancel", json={"reason": "buyer cancelled"}),
        )
        assert sorted([process.status_code, cancel.status_code]) == [200, 409], (process.text, cancel.text)
        if cancel.status_code == 200:
            assert "order is cancelled" in process.json()["detail"]
            expected, final = (10, 0, 10), "cancelled"
        else:
            assert "order is processing" in cancel.json()["detail"]
            expected, final = (7, 0, 7), "processed"

        async def settled():
            return (await ops.get(f"{orders}/orders/{order_id}")).json()["status"] == final

        await wait_for(settled, what=f"the order to end {final}")
        await wait_for(lambda: _levels_are(ops, inventory, sku, expected), what=f"stock {expected}")
