"""`python -m ingest api|worker|demo-shop`."""

import argparse
import os
import sys

DEFAULT_DEMO_API = "http://127.0.0.1:8101"
# The demo shop's webhook secret (INGEST_WEBHOOK_SECRETS must have it for shopify:<account>) and Admin API token.
DEMO_SECRET_ENV = "DEMO_SHOP_WEBHOOK_SECRET"
DEMO_TOKEN_ENV = "DEMO_SHOP_ACCESS_TOKEN"


def main(argv: list[str] | None = None) -> None:
    """Start the API, the worker (the re-publisher) or the demo shop."""
    parser = argparse.ArgumentParser(prog="ingest")
    roles = parser.add_subparsers(dest="role", required=True)
    roles.add_parser("api", help="the HTTP API: generic order intake and the intake log")
    roles.add_parser("worker", help="the re-publisher of intakes stored but not yet published")
    demo = roles.add_parser("demo-shop", help="a Shopify stand-in sending signed order webhooks to a local ingest API")
    demo.add_argument("--api", default=DEFAULT_DEMO_API, help="ingest API on this machine (loopback only)")
    demo.add_argument("--account", default="demo", help="the Shopify account name in the webhook URL")
    demo.add_argument("--every", type=float, default=10.0, help="seconds between orders")
    demo.add_argument("--count", type=int, default=20, help="orders to make before stopping")
    demo.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    demo.add_argument("--port", type=int, default=None,
                      help="also serve the shop's Admin API (orders listing, fulfilment) on 127.0.0.1:PORT until stopped")
    args = parser.parse_args(argv)

    if args.role == "demo-shop":
        from ingest.entrypoints import demo_shop

        # Secrets come from the environment, never the command line (other users can read that).
        secret = os.environ.get(DEMO_SECRET_ENV)
        if not secret:
            parser.error(f"{DEMO_SECRET_ENV} must hold the webhook secret ingest has for shopify:{args.account}")
        try:
            sys.exit(demo_shop.main(api=args.api, account=args.account, secret=secret,
                                    access_token=os.environ.get(DEMO_TOKEN_ENV), port=args.port, every=args.every,
                                    count=args.count, seed=args.seed))
        except ValueError as exc:
            parser.error(str(exc))

    from ingest.bootstrap import build_api, run_ingest_worker
    from ingest.config import Settings
    from oms_platform.runtime import start

    start(args.role, Settings(), build_api=build_api, run_worker=run_ingest_worker)


if __name__ == "__main__":
    main()
