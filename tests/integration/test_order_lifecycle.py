"""Split, merge, resend and return on the real broker and database; process racing cancel; 50 commands on one order.

Each test makes its own SKUs and orders, asserts on what staff see (the orders and inventory APIs) and polls with a
deadline.
"""

import asyncio
import uuid

import pytest

pytestmark = pytest.mark.integration


def phone_order(*lines: tuple[str, int], buyer: str = "Ada Lovelace") -> dict:
    return {
        "buyer": {"name": buyer, "email": "ada@example.org"},
        "shipping_address": {"name": buyer, "line1": "12 St James's Square", "city": "London",
                             "postcode": "SW1Y 4JH", "country": "GB"},
        "lines": [{"line_id": str(i), "sku": sku, "title": "Thing", "quantity": qty, "unit_price": "5.00"}
                  for i, (sku, qty) in enumerate(lines, start=1)],
        "shipping": {"service": "Tracked 48", "cost": "3.95"},
        "currency": "GBP",
        "paid": True,
    }


async def levels(ops, inventory: str, sku: str) -> tuple[int, int, int] | None:
    response = await ops.get(f"{inventory}/stock/{sku}")
    if response.status_code == 404:
        return None
    body = response.json()
    return body["on_hand"], body["allocated"], body["available"]


@pytest.fixture
def lifecycle(system, ops, wait_for):
    """Helpers: stocked SKUs, allocated orders, processed orders and waiting for stock levels."""
    inventory, orders = system.url("inventory"), system.url("orders")

    class Helpers:
        async def sku(self, on_hand: int = 10) -> str:
            sku = f"LC-{uuid.uuid4().hex[:8].upper()}"
            answer = await ops.post(f"{inventory}/stock/{sku}/adjustments", json={"delta": on_hand, "reason": "count"})
            assert answer.status_code == 202, answer.text
            await self.stock_is(sku, (on_hand, 0, on_hand))
            return sku

        async def stock_is(self, sku: str, expected: tuple[int, int, int]) -> None:
            async def check():
                return await levels(ops, inventory, sku) == expected

            await wait_for(check, what=f"{sku} at {expected} (now {await levels(ops, inventory, sku)})")

        async def order(self, *lines: tuple[str, int], **kw) -> str:
            placed = await ops.post(f"{orders}/orders", json=phone_order(*lines, **kw))
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["order_id"]
            await self.status_is(order_id, lambda o: o["stock_allocated"], "stock allocated")
            return order_id

        async def get(self, order_id: str) -> dict:
            return (await ops.get(f"{orders}/orders/{order_id}")).json()

        async def status_is(self, order_id: str, check, what: str) -> dict:
            async def ready():
                return check(await self.get(order_id))

            await wait_for(ready, what=f"order {order_id}: {what}")
            return await self.get(order_id)

        async def processed(self, *lines: tuple[str, int]) -> str:
            order_id = await self.order(*lines)
            answer = await ops.post(f"{orders}/orders/{order_id}/process")
            assert answer.status_code == 200, answer.text
            await self.status_is(order_id, lambda o: o["status"] == "processed", "processed")
            return order_id

    return Helpers()


class TestSplit:
    async def test_split_moves_lines_to_a_linked_order_and_stock_stays_exact(self, system, ops, lifecycle):
        mug, tee = await lifecycle.sku(10), await lifecycle.sku(10)
        source = await lifecycle.order((mug, 3), (tee, 1))
        await lifecycle.stock_is(mug, (10, 3, 7))
        answer = await ops.post(f"{system.url('orders')}/orders/{source}/split",
                                json={"lines": [{"line_id": "1", "quantity": 2}], "reason": "ship in two"})
        assert answer.status_code == 201, answer.text
        new = answer.json()
        assert new["links"] == [{"kind": "split_from", "order_id": source}] and new["stock_allocated"]
        assert [(l["sku"], l["quantity"]) for l in new["details"]["lines"]] == [(mug, 2)]
        after = await lifecycle.get(source)
        assert [(l["sku"], l["quantity"]) for l in after["details"]["lines"]] == [(mug, 1), (tee, 1)]
        assert after["stock_allocated"] and after["links"] == [{"kind": "split_into", "order_id": new["order_id"]}]
        await lifecycle.stock_is(mug, (10, 3, 7))
        # Both halves ship: exactly the three ordered leave the shelf.
        for order_id in (source, new["order_id"]):
            assert (await ops.post(f"{system.url('orders')}/orders/{order_id}/process")).status_code == 200
            await lifecycle.status_is(order_id, lambda o: o["status"] == "processed", "processed")
        await lifecycle.stock_is(mug, (7, 0, 7))


class TestMerge:
    async def test_two_matching_orders_merge_and_the_originals_end_merged(self, system, ops, lifecycle):
        sku = await lifecycle.sku(10)
        first, second = await lifecycle.order((sku, 1)), await lifecycle.order((sku, 2))
        answer = await ops.post(f"{system.url('orders')}/orders/merge", json={"order_ids": [first, second]})
        assert answer.status_code == 201, answer.text
        merged = answer.json()
        assert {link["order_id"] for link in merged["links"]} == {first, second} and merged["stock_allocated"]
        assert sum(line["quantity"] for line in merged["details"]["lines"]) == 3
        for original in (first, second):
            assert (await lifecycle.get(original))["status"] == "merged"
        await lifecycle.stock_is(sku, (10, 3, 7))
        cancelled = await ops.post(f"{system.url('orders')}/orders/{merged['order_id']}/cancel", json={"reason": "x"})
        assert cancelled.status_code == 200
        await lifecycle.stock_is(sku, (10, 0, 10))

    async def test_merge_is_refused_for_a_parked_order(self, system, ops, lifecycle):
        sku = await lifecycle.sku(10)
        first, second = await lifecycle.order((sku, 1)), await lifecycle.order((sku, 1))
        orders = system.url("orders")
        assert (await ops.post(f"{orders}/orders/{second}/park", json={"reason": "call"})).status_code == 200
        answer = await ops.post(f"{orders}/orders/merge", json={"order_ids": [first, second]})
        number = (await lifecycle.get(second))["order_number"]
        assert answer.status_code == 409 and answer.json()["detail"] == f"order {number} is parked"
        assert (await lifecycle.get(first))["status"] == "open"
        await lifecycle.stock_is(sku, (10, 2, 8))


class TestResend:
    async def test_a_resend_is_a_linked_open_order_that_allocates_stock(self, system, ops, lifecycle):
        sku = await lifecycle.sku(10)
        original = await lifecycle.processed((sku, 2))
        await lifecycle.stock_is(sku, (8, 0, 8))
        answer = await ops.post(f"{system.url('orders')}/orders/{original}/resend",
                                json={"lines": [{"line_id": "1", "quantity": 1}], "reason": "arrived broken"})
        assert answer.status_code == 201, answer.text
        resend = answer.json()
        assert resend["status"] == "open" and resend["links"] == [{"kind": "resend_of", "order_id": original}]
        await lifecycle.stock_is(sku, (8, 1, 7))
        before = await lifecycle.get(original)
        assert before["status"] == "processed" and before["links"][0]["kind"] == "resent_as"


class TestReturns:
    async def test_restock_raises_on_hand_by_exactly_the_returned_quantity_and_scrap_does_not(
        self, system, ops, lifecycle
    ):
        mug, tee = await lifecycle.sku(10), await lifecycle.sku(10)
        order_id = await lifecycle.processed((mug, 3), (tee, 2))
        await lifecycle.stock_is(mug, (7, 0, 7))
        await lifecycle.stock_is(tee, (8, 0, 8))
        orders = system.url("orders")
        booked = await ops.post(f"{orders}/orders/{order_id}/returns", json={
            "lines": [{"line_id": "1", "quantity": 2, "action": "restock"},
                      {"line_id": "2", "quantity": 1, "action": "scrap"}],
            "reason_category": "not as described", "refund": "15.00"})
        assert booked.status_code == 201, booked.text
        too_many = await ops.post(f"{orders}/orders/{order_id}/returns", json={
            "lines": [{"line_id": "1", "quantity": 2, "action": "restock"}], "reason_category": "x", "refund": "0"})
        assert too_many.status_code == 409 and "more than was shipped" in too_many.json()["detail"]
        await lifecycle.stock_is(mug, (7, 0, 7))  # booked, not yet received
        rma = booked.json()["rma_id"]
        received = await ops.post(f"{orders}/orders/{order_id}/returns/{rma}/receive")
        assert received.status_code == 200 and received.json()["received"]
        await lifecycle.stock_is(mug, (9, 0, 9))
        again = await ops.post(f"{orders}/orders/{order_id}/returns/{rma}/receive")
        assert again.status_code == 409
        await asyncio.sleep(0)  # nothing more is in flight for these SKUs; the levels must not move again
        assert await levels(ops, system.url("inventory"), mug) == (9, 0, 9)
        assert await levels(ops, system.url("inventory"), tee) == (8, 0, 8)
        assert (await lifecycle.get(order_id))["status"] == "processed"


class TestConcurrency:
    async def test_process_racing_cancel_exactly_one_wins_and_stock_is_right(self, system, ops, lifecycle):
        sku = await lifecycle.sku(10)
        order_id = await lifecycle.order((sku, 3))
        orders = system.url("orders")
        process, cancel = await asyncio.gather(
            ops.post(f"{orders}/orders/{order_id}/process"),
            ops.post(f"{orders}/orders/{order_id}/cancel", json={"reason": "buyer cancelled"}),
        )
        assert sorted([process.status_code, cancel.status_code]) == [200, 409], (process.text, cancel.text)
        final, expected = ("cancelled", (10, 0, 10)) if cancel.status_code == 200 else ("processed", (7, 0, 7))
        await lifecycle.status_is(order_id, lambda o: o["status"] == final, final)
        await lifecycle.stock_is(sku, expected)

    async def test_fifty_concurrent_commands_leave_a_consistent_order_and_timeline(self, system, ops, lifecycle):
        sku = await lifecycle.sku(100)
        order_id = await lifecycle.order((sku, 2))
        orders = system.url("orders")
        actions = ["park", "unpark", "lock", "unlock"] * 12 + ["process", "cancel"]
        answers = await asyncio.gather(*(
            ops.post(f"{orders}/orders/{order_id}/{action}", **({} if action == "process" else {
                "json": {"reason": f"try {i}"}}))
            for i, action in enumerate(actions)))
        assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers if a.status_code >= 500]
        order = await lifecycle.get(order_id)
        accepted = sum(a.status_code == 200 for a in answers)
        refused = sum(a.status_code == 409 for a in answers)
        assert accepted + refused == 50
        whats = [entry["what"] for entry in order["timeline"]]
        assert sum(w.endswith("refused") for w in whats) == refused
        # The flags agree with the last hold entries, and stock agrees with the final state.
        held = {"parked": False, "locked": False}
        for what in whats:
            if what in ("parked", "unparked"):
                held["parked"] = what == "parked"
            if what in ("locked", "unlocked"):
                held["locked"] = what == "locked"
        assert (order["parked"], order["locked"]) == (held["parked"], held["locked"])
        if order["status"] == "cancelled" or (order["status"] == "open" and order["locked"]):
            await lifecycle.stock_is(sku, (100, 0, 100))
        elif order["status"] == "open":
            await lifecycle.stock_is(sku, (100, 2, 98))
        else:
            await lifecycle.status_is(order_id, lambda o: o["status"] == "processed", "processed")
            await lifecycle.stock_is(sku, (98, 0, 98))
