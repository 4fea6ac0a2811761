"""The demo shop: posts realistic random paid orders to ingest's generic intake, so `make run` shows orders flowing."""

import ipaddress
import random
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

CHANNEL = "demo_shop"

# SKU -> (title, price in GBP, price in EUR)
PRODUCTS = {
    "DEMO-MUG": ("Enamel mug, navy", Decimal("9.50"), Decimal("10.90")),
    "DEMO-TEE": ("Organic T-shirt, L", Decimal("18.00"), Decimal("21.00")),
    "DEMO-CAP": ("Baseball cap, sand", Decimal("12.00"), Decimal("13.50")),
}

# Country -> currency, VAT rate, shipping service and cost, then (name, email, phone, street, city, postcode).
MARKETS = {
    "GB": ("GBP", Decimal("0.20"), "Royal Mail Tracked 48", Decimal("3.95"), [
        ("Amelia Clarke", "amelia.clarke@example.co.uk", "+44 113 496 0182", "14 Hyde Park Road", "Leeds", "LS6 1AH"),
        ("Oliver Bennett", "o.bennett@example.co.uk", "+44 117 496 0733", "3 Gloucester Road", "Bristol", "BS7 8AA"),
        ("Priya Shah", "priya.shah@example.co.uk", "+44 161 496 0451", "88 Wilmslow Road", "Manchester", "M14 5TQ"),
        ("Callum Fraser", "callum.fraser@example.co.uk", "+44 131 496 0026", "21 Leith Walk", "Edinburgh",
         "EH6 8LN"),
    ]),
    "DE": ("EUR", Decimal("0.19"), "DHL Paket", Decimal("4.90"), [
        ("Lena Schneider", "lena.schneider@example.de", "+49 30 901820", "Kastanienallee 12", "Berlin", "10435"),
        ("Jonas Weber", "jonas.weber@example.de", "+49 89 2180 4433", "Leopoldstraße 44", "München", "80802"),
        ("Sophie Becker", "s.becker@example.de", "+49 221 470 2211", "Aachener Straße 7", "Köln", "50674"),
    ]),
    "FR": ("EUR", Decimal("0.20"), "Colissimo", Decimal("5.50"), [
        ("Camille Martin", "camille.martin@example.fr", "+33 1 44 27 10 20", "18 rue Oberkampf", "Paris", "75011"),
        ("Hugo Bernard", "hugo.bernard@example.fr", "+33 4 78 62 11 30", "5 quai Saint-Vincent", "Lyon", "69001"),
        ("Chloé Dubois", "chloe.dubois@example.fr", "+33 5 61 22 29 40", "9 rue d'Alsace-Lorraine", "Toulouse",
         "31000"),
    ]),
}


def random_order(rng: random.Random, *, now: datetime) -> dict[str, Any]:
    """One paid order as the shop posts it: OrderDetails JSON (money as decimal strings) plus channel_updated_at."""
    country = rng.choice(sorted(MARKETS))
    currency, vat, service, shipping_cost, customers = MARKETS[country]
    name, email, phone, street, city, postcode = rng.choice(customers)
    address = {"name": name, "line1": street, "city": city, "postcode": postcode, "country": country,
               "phone": phone}
    skus = rng.sample(sorted(PRODUCTS), k=rng.choice((1, 1, 2, 2, 3)))
    lines = []
    for number, sku in enumerate(skus, start=1):
        title, gbp, eur = PRODUCTS[sku]
        lines.append({
            "line_id": str(number),
            "sku": sku,
            "title": title,
            "quantity": rng.choice((1, 1, 1, 2)),
            "unit_price": str(gbp if currency == "GBP" else eur),
            "tax_rate": str(vat),
        })
    reference = f"{rng.getrandbits(40):010X}"
    return {
        "channel": CHANNEL,
        "channel_order_id": f"ds-{reference.lower()}",
        "order_number": f"DEMO-{now:%y%m%d}-{reference[-5:]}",
        "buyer": {"name": name, "email": email, "phone": phone},
        "shipping_address": address,
        "billing_address": address,
        "lines": lines,
        "shipping": {"service": service, "cost": str(shipping_cost)},
        "currency": currency,
        "paid": True,
        "placed_at": now.isoformat(),
        "channel_updated_at": now.isoformat(),
    }


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
    """How a run went: orders posted and orders the API accepted."""

    posted: int = 0
    accepted: int = 0


def run_demo_shop(
    *,
    api: str,
    key: str,
    every: float,
    count: int,
    rng: random.Random,
    stop: threading.Event,
    transport: httpx.BaseTransport | None = None,
    say=print,
) -> ShopRun:
    """Post `count` orders, one every `every` seconds, until done or `stop` is set."""
    base_url = loopback_url(api)
    run = ShopRun()
    # trust_env=False: no proxy from the environment may send these requests anywhere but `api`.
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10,
                      trust_env=False, follow_redirects=False, transport=transport) as client:
        for number in range(1, count + 1):
            if stop.is_set():
                break
            order = random_order(rng, now=datetime.now(UTC))
            run.posted += 1
            try:
                response = client.post(f"/channels/{CHANNEL}/orders", json=order)
            except httpx.HTTPError as exc:
                say(f"[{number}/{count}] {order['order_number']}: not sent ({type(exc).__name__}: {exc})")
            else:
                if response.status_code == 202:
                    run.accepted += 1
                    say(f"[{number}/{count}] {order['order_number']}: accepted, intake {response.json()['intake_id']}")
                else:
                    say(f"[{number}/{count}] {order['order_number']}: refused {response.status_code} {response.text}")
            if number < count:
                stop.wait(every)
    say(f"demo shop done: {run.accepted} of {run.posted} orders accepted")
    return run


def main(*, api: str, key: str, every: float, count: int, seed: int | None) -> int:
    """Run the demo shop from the command line; exit status 0 when every order it posted was accepted."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run = run_demo_shop(
            api=api, key=key, every=every, count=count, rng=random.Random(seed), stop=stop,
            say=lambda line: print(line, flush=True),
        )
    except KeyboardInterrupt:
        print("demo shop stopped", flush=True)
        return 130
    return 0 if run.accepted == run.posted else 1
