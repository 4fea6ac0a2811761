"""`make run`'s demo shop against the real services: its signed Shopify webhooks are accepted by ingest's Shopify
endpoint (signature valid), a delivery sent twice is a duplicate, and every order it makes becomes one open order,
paid once its orders/updated arrives."""

import asyncio
import random
import threading
from decimal import Decimal

import pytest

from ingest.entrypoints.demo_shop import DemoShop, run_demo_shop
from oms_contracts.orders.v1 import order_id_for

pytestmark = pytest.mark.integration

SHOPIFY_SECRET = "sample-shopify-client-secret-A"  # account "fernbrook" (INGEST_WEBHOOK_SECRETS of `system`)


class TestDemoShop:
    async def test_its_webhooks_are_accepted_and_become_open_paid_orders(self, system, ops, wait_for):
        shop, lines = DemoShop(access_token="unused"), []
        run = await asyncio.to_thread(
            run_demo_shop, api=system.url("ingest"), account="fernbrook", secret=SHOPIFY_SECRET, every=0.2, count=6,
            rng=random.Random(), stop=threading.Event(), shop=shop, say=lines.append)
        assert run.orders == 6 and run.accepted == run.posted, lines
        answers = [line.rsplit(": ", 1)[-1] for line in lines[:-1]]
        assert set(answers) <= {"published", "duplicate"}, lines
        assert answers.count("published") == run.posted - answers.count("duplicate")
        made = {str(order["id"]): order for order in shop.admin.listed}

        async def all_open_and_paid():
            found = {}
            for channel_order_id in made:
                response = await ops.get(f"{system.url('orders')}/orders/{order_id_for('shopify', channel_order_id)}")
                if response.status_code != 200 or not response.json()["paid"]:
                    return False
                found[channel_order_id] = response.json()
            return found

        found = await wait_for(all_open_and_paid, timeout=90, what="the demo shop's orders, open and paid")
        for channel_order_id, order in found.items():
            sent = made[channel_order_id]
            assert order["channel"] == "shopify" and order["order_number"] == sent["name"]
            assert order["currency"] == sent["currency"] and Decimal(order["total"]) == Decimal(sent["total_price"])
        intakes = (await ops.get(f"{system.url('ingest')}/intake", params={"channel": "shopify", "limit": 500})).json()
        mine = [i for i in intakes if i["channel_order_id"] in made]
        # One intake per distinct delivery (a re-sent one is absorbed by its webhook id), each published.
        assert len(mine) == answers.count("published") and all(i["status"] == "published" for i in mine)
