"""The demo shop: a Shopify shop stand-in, so `make run` shows orders arriving the real way.

It makes a realistic order every few seconds and sends it to ingest's real Shopify webhook endpoint
(`POST /webhooks/shopify/{account}`) as Shopify does: the REST Order JSON of an `orders/create`, signed with
`X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body with the app's secret) and named by
`X-Shopify-Webhook-Id`. Some orders arrive unpaid and are marked paid by an `orders/updated` a moment later; some
deliveries are sent twice (Shopify's retries repeat the same webhook id). Served on `--port`, the same shop
answers the Admin API a configured Shopify channel uses: the orders listing (catch-up poll, reconciliation) and
the GraphQL fulfilment that marks an order shipped with its tracking number.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from ingest.writeback_standins import ShopifyShop

API_VERSION = "2025-01"

# SKU -> (title, variant, price in GBP, price in EUR); prices include VAT, as in a UK/EU Shopify shop.
PRODUCTS = {
    "DEMO-MUG": ("Enamel mug", "Navy", Decimal("9.50"), Decimal("10.90")),
    "DEMO-TEE": ("Organic T-shirt", "L", Decimal("18.00"), Decimal("21.00")),
    "DEMO-CAP": ("Baseball cap", "Sand", Decimal("12.00"), Decimal("13.50")),
}

# Country -> currency, country name, VAT rate, shipping service and cost, then (first name, last name, email,
# phone, street, city, postcode).
MARKETS = {
    "GB": ("GBP", "United Kingdom", Decimal("0.20"), "Royal Mail Tracked 48", Decimal("3.95"), [
        ("Amelia", "Clarke", "amelia.clarke@example.co.uk", "+441134960182", "14 Hyde Park Road", "Leeds", "LS6 1AH"),
        ("Oliver", "Bennett", "o.bennett@example.co.uk", "+441174960733", "3 Gloucester Road", "Bristol", "BS7 8AA"),
        ("Priya", "Shah", "priya.shah@example.co.uk", "+441614960451", "88 Wilmslow Road", "Manchester", "M14 5TQ"),
        ("Callum", "Fraser", "callum.fraser@example.co.uk", "+441314960026", "21 Leith Walk", "Edinburgh",
         "EH6 8LN"),
    ]),
    "DE": ("EUR", "Germany", Decimal("0.19"), "DHL Paket", Decimal("4.90"), [
        ("Lena", "Schneider", "lena.schneider@example.de", "+4930901820", "Kastanienallee 12", "Berlin", "10435"),
        ("Jonas", "Weber", "jonas.weber@example.de", "+498921804433", "Leopoldstraße 44", "München", "80802"),
        ("Sophie", "Becker", "s.becker@example.de", "+492214702211", "Aachener Straße 7", "Köln", "50674"),
    ]),
    "FR": ("EUR", "France", Decimal("0.20"), "Colissimo", Decimal("5.50"), [
        ("Camille", "Martin", "camille.martin@example.fr", "+33144271020", "18 rue Oberkampf", "Paris", "75011"),
        ("Hugo", "Bernard", "hugo.bernard@example.fr", "+33478621130", "5 quai Saint-Vincent", "Lyon", "69001"),
        ("Chloé", "Dubois", "chloe.dubois@example.fr", "+33561222940", "9 rue d'Alsace-Lorraine", "Toulouse",
         "31000"),
    ]),
}
CENT = Decimal("0.01")
UNPAID_SHARE = 0.25  # orders placed unpaid (bank transfer), marked paid by an orders/updated
DUPLICATE_SHARE = 0.2  # deliveries Shopify sends again (same webhook id)
DISCOUNT_SHARE = 0.2  # orders with the WELCOME5 code


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    """A Shopify MoneyBag: the shop's and the buyer's (the same here: one currency per market)."""
    money = {"amount": str(amount), "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def random_order(rng: random.Random, *, now: datetime, paid: bool = True) -> dict[str, Any]:
    """One order as Shopify's REST Admin API (and its orders/create webhook) shows it; prices include VAT."""
    country = rng.choice(sorted(MARKETS))
    currency, country_name, vat, service, shipping_cost, customers = MARKETS[country]
    first, last, email, phone, street, city, postcode = rng.choice(customers)
    address = {"first_name": first, "last_name": last, "name": f"{first} {last}", "company": None,
               "address1": street, "address2": None, "city": city, "province": None, "province_code": None,
               "zip": postcode, "country": country_name, "country_code": country, "phone": phone}
    order_id = rng.randrange(10**12, 10**13)
    lines, goods = [], Decimal("0")
    for sku in rng.sample(sorted(PRODUCTS), k=rng.choice((1, 1, 2, 2, 3))):
        title, variant, gbp, eur = PRODUCTS[sku]
        price, quantity = (gbp if currency == "GBP" else eur), rng.choice((1, 1, 1, 2))
        tax = (price * quantity * vat / (1 + vat)).quantize(CENT)
        goods += price * quantity
        lines.append({
            "id": rng.randrange(10**13, 10**14), "sku": sku, "title": title, "variant_title": variant,
            "name": f"{title} - {variant}", "quantity": quantity, "fulfillable_quantity": quantity,
            "price": str(price), "price_set": _money(price, currency), "requires_shipping": True, "gift_card": False,
            "taxable": True, "total_discount": "0.00", "fulfillment_status": None, "discount_allocations": [],
            "tax_lines": [{"title": "VAT", "rate": float(vat), "price": str(tax), "price_set": _money(tax, currency)}],
        })
    discount = Decimal("5.00") if goods > 20 and rng.random() < DISCOUNT_SHARE else Decimal("0.00")
    if discount:
        lines[0]["discount_allocations"] = [{"amount": str(discount), "amount_set": _money(discount, currency),
                                             "discount_application_index": 0}]
    total = goods - discount + shipping_cost
    tax = (total * vat / (1 + vat)).quantize(CENT)
    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#D{order_id % 100000:05d}", "order_number": order_id % 100000,
        "created_at": _stamp(now), "updated_at": _stamp(now), "processed_at": _stamp(now),
        "cancelled_at": None, "cancel_reason": None, "closed_at": None,
        "currency": currency, "presentment_currency": currency, "taxes_included": True,
        "financial_status": "paid" if paid else "pending", "fulfillment_status": None,
        "payment_gateway_names": ["shopify_payments"] if paid else ["bank_transfer"],
        "email": email, "contact_email": email, "phone": phone,
        "customer": {"id": rng.randrange(10**12, 10**13), "first_name": first, "last_name": last, "email": email,
                     "phone": phone},
        "shipping_address": address, "billing_address": dict(address),
        "line_items": lines,
        "shipping_lines": [{"id": rng.randrange(10**13, 10**14), "title": service, "code": service,
                            "price": str(shipping_cost), "price_set": _money(shipping_cost, currency),
                            "discounted_price": str(shipping_cost), "tax_lines": []}],
        "discount_codes": [{"code": "WELCOME5", "amount": str(discount), "type": "fixed_amount"}] if discount else [],
        "total_discounts": str(discount), "total_discounts_set": _money(discount, currency),
        "total_line_items_price": str(goods), "subtotal_price": str(goods - discount),
        "total_tax": str(tax), "total_tax_set": _money(tax, currency),
        "total_price": str(total), "total_price_set": _money(total, currency),
        "note": None, "tags": "", "test": False,
    }


def webhook(order: dict[str, Any], *, topic: str, secret: str, account: str,
            webhook_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of one Shopify webhook delivery of `order`, signed with `secret`."""
    raw = json.dumps(order, ensure_ascii=False).encode("utf-8")
    digest = base64.b64encode(hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).digest()).decode("ascii")
    return raw, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": f"{account}.myshopify.com",
        "X-Shopify-API-Version": API_VERSION,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


class DemoShop:
    """The shop's side: its orders, and the Admin API app (orders listing + GraphQL fulfilment) on them."""

    def __init__(self, *, access_token: str) -> None:
        self.admin = ShopifyShop(token=access_token)  # orders.json listing + GraphQL fulfilment
        self.app = self.admin.app
        self._lock = threading.Lock()

    def add(self, order: dict[str, Any]) -> None:
        """A new order in the shop, with one open fulfilment order to ship it by."""
        with self._lock:
            self.admin.listed.append(order)
            self.admin.add_order(str(order["id"]), [str(order["id"] % 10**9)])

    def shipped(self, *, now: datetime) -> list[dict[str, Any]]:
        """Orders whose fulfilment orders were all fulfilled since the last call (marked fulfilled here)."""
        done = []
        with self._lock:
            for order in self.admin.listed:
                if order["fulfillment_status"] is not None:
                    continue
                mine = [fo for fo in self.admin.fulfillment_orders.values() if fo["order_id"] == str(order["id"])]
                if mine and all(fo["status"] == "CLOSED" for fo in mine):
                    order["fulfillment_status"], order["updated_at"] = "fulfilled", _stamp(now)
                    done.append(order)
        return done

    def tracking_of(self, order: dict[str, Any]) -> str | None:
        """The tracking number the OMS sent with the order's fulfilment (None if it sent none)."""
        fo_ids = {fo["id"] for fo in self.admin.fulfillment_orders.values() if fo["order_id"] == str(order["id"])}
        for fulfilment in self.admin.recorder.received:
            groups = ((fulfilment.get("json") or {}).get("variables") or {}).get("fulfillment") or {}
            if {g.get("fulfillmentOrderId") for g in groups.get("lineItemsByFulfillmentOrder") or []} & fo_ids:
                return (groups.get("trackingInfo") or {}).get("number")
        return None


def loopback_url(url: str) -> str:
    """`url` if it points at this machine (127.0.0.0/8, ::1 or localhost) over http(s); ValueError otherwise."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{url!r} is not an http(s) URL")
    host = parsed.host
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the demo shop only posts to this machine (127.0.0.1, ::1, localhost), not {host!r}")
    return str(parsed).rstrip("/")


@dataclass
class ShopRun:
    """How a run went: deliveries sent and deliveries ingest accepted (2xx), orders made."""

    orders: int = 0
    posted: int = 0
    accepted: int = 0


def run_demo_shop(
    *,
    api: str,
    account: str,
    secret: str,
    every: float,
    count: int,
    rng: random.Random,
    stop: threading.Event,
    shop: DemoShop | None = None,
    transport: httpx.BaseTransport | None = None,
    say=print,
) -> ShopRun:
    """Make `count` orders, one every `every` seconds, and send their webhooks, until done or `stop` is set."""
    base_url = loopback_url(api)
    run = ShopRun()

    # trust_env=False: no proxy from the environment may send these requests anywhere but `api`.
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False, follow_redirects=False,
                      transport=transport) as client:

        def deliver(label: str, raw: bytes, headers: dict[str, str]) -> None:
            run.posted += 1
            try:
                response = client.post(f"/webhooks/shopify/{account}", content=raw, headers=headers)
            except httpx.HTTPError as exc:
                say(f"{label}: not sent ({type(exc).__name__}: {exc})")
                return
            if response.is_success:
                run.accepted += 1
                answer = response.json()
                say(f"{label}: {answer.get('status')}" + (f" ({answer['reason']})" if answer.get("reason") else ""))
            else:
                say(f"{label}: refused {response.status_code} {response.text}")

        for number in range(1, count + 1):
            if stop.is_set():
                break
            now = datetime.now(UTC)
            paid = rng.random() >= UNPAID_SHARE
            order = random_order(rng, now=now, paid=paid)
            run.orders += 1
            if shop is not None:
                shop.add(order)
            prefix = f"[{number}/{count}] {order['name']} ({order['total_price']} {order['currency']})"
            raw, headers = webhook(order, topic="orders/create", secret=secret, account=account)
            deliver(f"{prefix} orders/create{'' if paid else ', unpaid'}", raw, headers)
            if rng.random() < DUPLICATE_SHARE:
                deliver(f"{prefix} orders/create sent again", raw, headers)
            if not paid:
                stop.wait(every / 2)
                # Shopify stamps the change: a later updated_at makes it the newer version of the order.
                order.update(financial_status="paid", updated_at=_stamp(now + timedelta(seconds=max(every / 2, 1))))
                raw, headers = webhook(order, topic="orders/updated", secret=secret, account=account)
                deliver(f"{prefix} orders/updated, paid", raw, headers)
            if number < count:
                stop.wait(every / 2 if not paid else every)
    say(f"demo shop: {run.orders} orders, {run.accepted} of {run.posted} webhook deliveries accepted")
    return run


def wait_for_api(api: str, stop: threading.Event, *, timeout: float = 180.0) -> bool:
    """Wait until ingest answers `GET /health` (the shop may start first, to serve its Admin API early)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=loopback_url(api), timeout=2, trust_env=False) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if client.get("/health").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            stop.wait(1)
    return False


def serve_shop(shop: DemoShop, port: int) -> tuple[threading.Thread, Any]:
    """Serve the shop's Admin API on 127.0.0.1:`port` in a thread; (thread, server)."""
    import asyncio

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(shop.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    return thread, server


def main(*, api: str, account: str, secret: str, access_token: str | None, port: int | None, every: float,
         count: int, seed: int | None) -> int:
    """Run the demo shop from the command line. With `port` it also serves its Admin API and keeps doing so
    (reporting shipments) after the last order, until stopped; exit status 0 when every delivery was accepted."""
    api = loopback_url(api)  # before anything starts: a remote API is refused at once
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    say = lambda line: print(line, flush=True)  # noqa: E731
    shop = DemoShop(access_token=access_token or uuid.uuid4().hex) if port else None
    server = None
    try:
        if shop is not None:
            _, server = serve_shop(shop, port)
            say(f"demo shop: Admin API on http://127.0.0.1:{port} (orders.json, graphql.json)")
        if not wait_for_api(api, stop):
            say(f"demo shop: ingest at {api} did not answer; no orders sent")
            return 1
        run = run_demo_shop(api=api, account=account, secret=secret, every=every, count=count,
                            rng=random.Random(seed), stop=stop, shop=shop, say=say)
        while shop is not None and not stop.is_set():
            for order in shop.shipped(now=datetime.now(UTC)):
                say(f"{order['name']}: fulfilled by the OMS, tracking {shop.tracking_of(order)}")
            stop.wait(1)
    except KeyboardInterrupt:
        say("demo shop stopped")
        return 130
    finally:
        if server is not None:
            server.should_exit = True
    return 0 if run.accepted == run.posted else 1
