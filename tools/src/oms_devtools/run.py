"""`make run`: the whole OMS on this machine, with a demo shop feeding orders and a raw printer taking jobs.

The demo shop is a Shopify stand-in: it sends signed `orders/create` (and `orders/updated`) webhooks to ingest's
Shopify endpoint, and serves the Admin API of the Shopify channel configured here (`demo-shop`), so its orders are
also polled and reconciled and their shipments written back to it, as with a real shop.

Expects the infrastructure to be up (`make infra-up` writes `.oms/infra/infra.env`, or `$OMS_INFRA_DIR/infra.env`).
Ctrl-C or SIGTERM (`make stop`) stops every process it started. `OMS_RUN_PORT_BASE` moves every port (services
base+1..base+6, demo shop base+10, printer base+9) and `OMS_RUN_DIR` the keys, logs and spool, so a second
`make run` can share the machine.
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from oms_devtools.system import CONSOLE, DEFAULT_PORTS, SERVICES, System, SystemFailed

REPO = Path(__file__).resolve().parents[3]
RUN_DIR = Path(os.environ.get("OMS_RUN_DIR") or REPO / ".oms" / "run").resolve()
INFRA_DIR = Path(os.environ.get("OMS_INFRA_DIR") or REPO / ".oms" / "infra").resolve()
PORT_BASE = int(os.environ["OMS_RUN_PORT_BASE"]) if os.environ.get("OMS_RUN_PORT_BASE") else None
KEY_ROLES = ("admin", "ops", "packer", "console")
# The demo shop's Shopify account, and its channel in ingest.
DEMO_ACCOUNT, DEMO_CHANNEL = "demo", "demo-shop"
DEMO_SKUS = {"DEMO-MUG": 40, "DEMO-TEE": 25, "DEMO-CAP": 15}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (an optional leading `export`)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ").strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value.strip("'\"")
    return env


def api_keys() -> dict[str, str]:
    """This machine's local API keys and console secrets, made once and kept in `.oms/run/api-keys.env` (git-ignored)."""
    path = RUN_DIR / "api-keys.env"
    values = read_env_file(path) if path.exists() else {}
    wanted = [f"{role.upper()}_KEY" for role in KEY_ROLES] + ["CONSOLE_SESSION_SECRET", "CONSOLE_ADMIN_PASSWORD",
                                                              "DEMO_SHOP_WEBHOOK_SECRET", "DEMO_SHOP_ACCESS_TOKEN"]
    if any(name not in values for name in wanted):  # first run, or a file from before the console / demo shop
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        values = {name: values.get(name) or secrets.token_hex(16 if name != "CONSOLE_SESSION_SECRET" else 32)
                  for name in wanted}
        path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        path.chmod(0o600)
    return {role: values[f"{role.upper()}_KEY"] for role in KEY_ROLES} | {
        "session_secret": values["CONSOLE_SESSION_SECRET"], "admin_password": values["CONSOLE_ADMIN_PASSWORD"],
        "demo_secret": values["DEMO_SHOP_WEBHOOK_SECRET"], "demo_token": values["DEMO_SHOP_ACCESS_TOKEN"]}


def main() -> None:
    """Start everything, show where it listens, feed demo orders, stop on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="oms-run")
    parser.add_argument("--infra-env", type=Path, default=INFRA_DIR / "infra.env")
    parser.add_argument("--printer-port", type=int, default=int(
        os.environ.get("OMS_PRINTER_PORT") or (PORT_BASE + 9 if PORT_BASE else 9100)))
    parser.add_argument("--shop-port", type=int, default=PORT_BASE + 10 if PORT_BASE else 8110,
                        help="where the demo shop serves its Shopify Admin API")
    parser.add_argument("--demo-orders", type=int, default=int(os.environ.get("OMS_DEMO_ORDERS", 20)))
    args = parser.parse_args()

    keys = api_keys()
    env = read_env_file(args.infra_env)
    printer = f"socket://127.0.0.1:{args.printer_port}"
    env |= {
        "OMS_API_KEYS": ",".join(f"{role}:{keys[role]}" for role in KEY_ROLES),
        "CONSOLE_SERVICE_KEY": keys["console"],
        "CONSOLE_SESSION_SECRET": keys["session_secret"],
        "CONSOLE_ADMIN_PASSWORD": keys["admin_password"],
        "PRINTING_INVOICE_PRINTER": printer,
        "PRINTING_LABEL_PRINTER": printer,
        # The demo shop signs its webhooks with this secret; the worker reads its Admin API token from the env.
        "INGEST_WEBHOOK_SECRETS": ",".join(filter(None, [env.get("INGEST_WEBHOOK_SECRETS"),
                                                         f"shopify:{DEMO_ACCOUNT}:{keys['demo_secret']}"])),
        "DEMO_SHOP_ACCESS_TOKEN": keys["demo_token"],
    }
    ports = dict(DEFAULT_PORTS)
    if PORT_BASE:
        ports = {name: PORT_BASE + n for n, name in enumerate((*SERVICES, CONSOLE), start=1)}
    system = System(env=env, log_dir=RUN_DIR / "logs", ports=ports)
    helpers: list[subprocess.Popen] = []
    stopping = False

    def request_stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    (RUN_DIR / "run.pid").write_text(str(os.getpid()))
    try:
        helpers.append(_start_printer(args.printer_port))
        system.start()
        print("starting services", flush=True)
        system.wait_healthy()
        _show(system, keys, args.printer_port)
        _seed_stock(system, keys["ops"])
        helpers.append(_start_demo_shop(system, keys, args.demo_orders, args.shop_port))
        _configure_demo_channel(system, keys["admin"], helpers[-1], args.shop_port)
        _demo_loop(system, keys["ops"], lambda: stopping)
    except SystemFailed as failure:
        print(f"\nthe system failed:\n{failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        print("\nstopping services", flush=True)
        _disable_demo_channel(system, keys["admin"], args.shop_port)
        for helper in helpers:
            helper.terminate()
        system.stop()
        for helper in helpers:
            helper.wait(timeout=10)
        (RUN_DIR / "run.pid").unlink(missing_ok=True)


def _start_printer(port: int) -> subprocess.Popen:
    """The raw 9100 printer stand-in, spooling to `.oms/run/printed/`."""
    (RUN_DIR / "logs").mkdir(parents=True, exist_ok=True)
    log = (RUN_DIR / "logs" / "printer.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "oms_devtools.raw_printer", "--port", str(port), "--dir", str(RUN_DIR / "printed")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _show(system: System, keys: dict[str, str], printer_port: int) -> None:
    """Print where everything listens."""
    print("\nThe OMS is up:\n")
    print(f"  {'service':<11} {'API':<24} {'docs'}")
    for service in SERVICES:
        print(f"  {service:<11} {system.url(service):<24} {system.url(service)}/docs")
    print(f"\n  console     {system.url('console')}  (sign in as admin, password {keys['admin_password']})")
    print(f"  printer     raw TCP 127.0.0.1:{printer_port}, jobs kept in {RUN_DIR / 'printed'}")
    print(f"  logs        {RUN_DIR / 'logs'}")
    print(f"  API keys    {RUN_DIR / 'api-keys.env'} (ops key: {keys['ops']})")
    print("\nA demo Shopify shop sends signed order webhooks to ingest (POST /webhooks/shopify/demo) and is also")
    print(f"polled as channel {DEMO_CHANNEL!r} (GET {system.url('ingest')}/channels/{DEMO_CHANNEL}); each paid order")
    print("is allocated, processed, printed and written back to the shop "
          f"(log: {RUN_DIR / 'logs' / 'demo-shop.log'}). Ctrl-C stops.\n", flush=True)


def _seed_stock(system: System, key: str) -> None:
    """Give the demo SKUs some stock so their orders can be processed."""
    for sku, quantity in DEMO_SKUS.items():
        response = httpx.post(
            f"{system.url('inventory')}/stock/{sku}/adjustments",
            json={"delta": quantity, "reason": "demo opening stock"},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"demo-seed-{sku}"},
            timeout=10,
        )
        response.raise_for_status()


def _start_demo_shop(system: System, keys: dict[str, str], count: int, port: int) -> subprocess.Popen:
    """The demo shop process: Shopify webhooks to ingest, and the shop's Admin API on `port`."""
    log = (RUN_DIR / "logs" / "demo-shop.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "demo-shop", "--api", system.url("ingest"), "--account", DEMO_ACCOUNT,
         "--port", str(port), "--every", "5", "--count", str(count)],
        env={**os.environ, "DEMO_SHOP_WEBHOOK_SECRET": keys["demo_secret"],
             "DEMO_SHOP_ACCESS_TOKEN": keys["demo_token"]},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _configure_demo_channel(system: System, admin_key: str, shop: subprocess.Popen, port: int) -> None:
    """Once the demo shop answers, configure it in ingest as a Shopify channel: polled every minute (catch-up
    behind the webhooks), reconciled every five, and the channel shipments are written back to."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if shop.poll() is not None:
            log = RUN_DIR / "logs" / "demo-shop.log"
            raise SystemFailed(f"the demo shop exited with {shop.returncode} (see {log})")
        try:
            httpx.get(f"{url}/admin/api/2025-01/orders.json", timeout=2)  # 401 without the token: it is up
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise SystemFailed(f"the demo shop did not answer on {url}") from None
            time.sleep(0.3)
    response = httpx.put(f"{system.url('ingest')}/channels/{DEMO_CHANNEL}", headers={
        "Authorization": f"Bearer {admin_key}"}, timeout=10, json=_demo_channel(port, enabled=True))
    response.raise_for_status()


def _demo_channel(port: int, *, enabled: bool) -> dict:
    return {"name": "Demo shop (Shopify)", "kind": "shopify", "account": DEMO_ACCOUNT,
            "url": f"http://127.0.0.1:{port}", "credentials": {"access_token": "env:DEMO_SHOP_ACCESS_TOKEN"}, "interval_seconds": 60,
            "options": {"reconcile_every_seconds": 300, "reconcile_days": 1}, "enabled": enabled}


def _disable_demo_channel(system: System, admin_key: str, port: int) -> None:
    """Disable the demo channel before its shop stops, so the next run's worker does not poll it (and fail, then
    back off) before that run's shop is up; best effort."""
    try:
        httpx.put(f"{system.url('ingest')}/channels/{DEMO_CHANNEL}", headers={"Authorization": f"Bearer {admin_key}"},
                  timeout=5, json=_demo_channel(port, enabled=False))
    except httpx.HTTPError:
        pass


def _demo_loop(system: System, key: str, stopping) -> None:
    """Act as a warehouse clerk: process each open, allocated order, and report each order's progress."""
    headers = {"Authorization": f"Bearer {key}"}
    reported: dict[str, str] = {}
    asked: set[str] = set()
    while not stopping():
        system.check_alive()
        try:
            orders = httpx.get(f"{system.url('orders')}/orders", params={"limit": 200}, headers=headers, timeout=5)
            orders.raise_for_status()
        except httpx.HTTPError as exc:
            print(f"  (orders API: {exc})", flush=True)
            time.sleep(2)
            continue
        for order in orders.json()["items"]:
            order_id, state = order["order_id"], order["status"]
            if reported.get(order_id) != state:
                reported[order_id] = state
                extra = f" tracking {order['tracking_number']}" if order.get("tracking_number") else ""
                print(f"  {order['order_number']:<22} {state}{extra}", flush=True)
            # Only paid orders can be processed: an unpaid one waits for its orders/updated (paid) webhook.
            if state == "open" and order["paid"] and order["stock_allocated"] and order_id not in asked:
                asked.add(order_id)
                httpx.post(f"{system.url('orders')}/orders/{order_id}/process", headers=headers, timeout=15)
        for _ in range(4):
            if stopping():
                break
            time.sleep(0.5)


if __name__ == "__main__":
    main()
