"""`python -m inventory api|worker`."""

import argparse

from oms_platform.runtime import configure_logging, serve_api
from inventory.bootstrap import build_api, run_inventory_worker
from inventory.config import Settings


def main() -> None:
    """Start the API or the worker."""
    parser = argparse.ArgumentParser(prog="inventory")
    parser.add_argument("role", choices=["api", "worker"])
    args = parser.parse_args()
    settings = Settings()
    configure_logging(settings.log_level)
    if args.role == "api":
        serve_api(build_api(settings), host=settings.api_host, port=settings.api_port, log_level=settings.log_level)
    else:
        run_inventory_worker(settings)


if __name__ == "__main__":
    main()
