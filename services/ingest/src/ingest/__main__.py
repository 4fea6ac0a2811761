"""`python -m ingest api|worker|demo-shop`."""

import argparse
import sys

DEFAULT_DEMO_API = "http://127.0.0.1:8101"


def main(argv: list[str] | None = None) -> None:
    """Start the API, the worker (the re-publisher) or the demo shop."""
    parser = argparse.ArgumentParser(prog="ingest")
    roles = parser.add_subparsers(dest="role", required=True)
    roles.add_parser("api", help="the HTTP API: generic order intake and the intake log")
    roles.add_parser("worker", help="the re-publisher of intakes stored but not yet published")
    demo = roles.add_parser("demo-shop", help="post random demo orders to a local ingest API, then stop")
    demo.add_argument("--api", default=DEFAULT_DEMO_API, help="ingest API on this machine (loopback only)")
    demo.add_argument("--key", required=True, help="an ops or admin API key")
    demo.add_argument("--every", type=float, default=10.0, help="seconds between orders")
    demo.add_argument("--count", type=int, default=20, help="orders to post before stopping")
    demo.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    args = parser.parse_args(argv)

    if args.role == "demo-shop":
        from ingest.entrypoints import demo_shop

        try:
            sys.exit(demo_shop.main(api=args.api, key=args.key, every=args.every, count=args.count, seed=args.seed))
        except ValueError as exc:
            parser.error(str(exc))

    from ingest.bootstrap import build_api, run_ingest_worker
    from ingest.config import Settings
    from oms_platform.runtime import start

    start(args.role, Settings(), build_api=build_api, run_worker=run_ingest_worker)


if __name__ == "__main__":
    main()
