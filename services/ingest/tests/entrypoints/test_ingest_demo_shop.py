"""The demo shop: the orders it makes, where it may post them, and that it stops by itself."""

import json
import random
import threading
from datetime import UTC, datetime

import httpx
import pytest

from ingest.__main__ import main as ingest_main
from ingest.domain.normalise import GenericOrderPayload
from ingest.entrypoints.demo_shop import loopback_url, random_order, run_demo_shop
from oms_contracts.common import OrderDetails

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CURRENCY = {"GB": "GBP", "DE": "EUR", "FR": "EUR"}


class TestDemoOrders:
    @pytest.mark.parametrize("seed", range(50))
    def test_every_order_is_a_valid_paid_demo_shop_order(self, seed):
        body = random_order(random.Random(seed), now=NOW)
        order = OrderDetails.model_validate(body)
        assert order.channel == "demo_shop" and order.paid
        assert {line.sku for line in order.lines} <= {"DEMO-MUG", "DEMO-TEE", "DEMO-CAP"}
        assert order.shipping_address.country in CURRENCY
        assert order.currency == CURRENCY[order.shipping_address.country]
        assert GenericOrderPayload.model_validate(body).channel_updated_at == NOW

    def test_the_body_is_plain_json_with_money_as_decimal_strings(self):
        body = random_order(random.Random(1), now=NOW)
        assert json.loads(json.dumps(body)) == body
        assert all(isinstance(line["unit_price"], str) for line in body["lines"])

    def test_orders_are_different_from_each_other(self):
        rng = random.Random(7)
        ids = {random_order(rng, now=NOW)["channel_order_id"] for _ in range(200)}
        assert len(ids) == 200

    def test_all_three_countries_and_skus_come_up(self):
        rng = random.Random(3)
        orders = [random_order(rng, now=NOW) for _ in range(100)]
        assert {o["shipping_address"]["country"] for o in orders} == {"GB", "DE", "FR"}
        assert {line["sku"] for o in orders for line in o["lines"]} == {"DEMO-MUG", "DEMO-TEE", "DEMO-CAP"}


class TestWhereItPosts:
    @pytest.mark.parametrize("url", ["http://127.0.0.1:8101", "http://localhost:8101/", "http://[::1]:8101",
                                     "http://127.0.0.2:9000"])
    def test_this_machine_is_allowed(self, url):
        assert loopback_url(url) == url.rstrip("/")

    @pytest.mark.parametrize("url", ["http://example.com:8101", "http://10.0.0.5:8101", "https://8.8.8.8",
                                     "ftp://127.0.0.1/", "127.0.0.1:8101"])
    def test_anything_else_is_refused(self, url):
        with pytest.raises(ValueError):
            loopback_url(url)

    def test_the_command_line_refuses_a_remote_api(self, capsys):
        with pytest.raises(SystemExit) as exit_:
            ingest_main(["demo-shop", "--api", "http://example.com:8101", "--key", "k", "--count", "1"])
        assert exit_.value.code == 2 and "only posts to this machine" in capsys.readouterr().err


class FakeIngest:
    """An httpx transport standing in for the ingest API: records requests, accepts every order."""

    def __init__(self, status: int = 202) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json={"intake_id": f"intake-{len(self.requests)}"})


class TestTheLoop:
    def run(self, ingest, *, count, stop=None, api="http://127.0.0.1:8101", lines=None):
        return run_demo_shop(api=api, key="ops-key-0123456789abcdef", every=0, count=count, rng=random.Random(1),
                             stop=stop or threading.Event(), transport=httpx.MockTransport(ingest),
                             say=(lines if lines is not None else []).append)

    def test_it_posts_count_orders_to_the_generic_intake_and_stops(self):
        ingest = FakeIngest()
        assert self.run(ingest, count=3).accepted == 3
        assert len(ingest.requests) == 3
        for request in ingest.requests:
            assert str(request.url) == "http://127.0.0.1:8101/channels/demo_shop/orders"
            assert request.headers["authorization"] == "Bearer ops-key-0123456789abcdef"
            OrderDetails.model_validate_json(request.content)

    def test_it_stops_early_when_told(self):
        ingest = FakeIngest()
        stop = threading.Event()
        stop.set()
        assert self.run(ingest, count=5, stop=stop).posted == 0 and ingest.requests == []

    def test_a_refused_order_is_reported_and_the_next_one_still_goes(self):
        ingest, lines = FakeIngest(status=422), []
        assert self.run(ingest, count=2, lines=lines).accepted == 0
        assert len(ingest.requests) == 2 and "refused 422" in lines[0]
        assert lines[-1] == "demo shop done: 0 of 2 orders accepted"

    def test_it_never_posts_to_another_machine(self):
        ingest = FakeIngest()
        with pytest.raises(ValueError):
            self.run(ingest, count=1, api="http://192.0.2.10:8101")
        assert ingest.requests == []
