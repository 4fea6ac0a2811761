"""`python -m printing api|worker`."""

import argparse

from oms_platform.runtime import configure_logging, serve_api
from printing.bootstrap import build_api, run_printing_worker
from printing.config import Settings


def main() -> None:
    """Start the API or the worker."""
    parser = argparse.ArgumentParser(prog="printing")
    parser.add_argument("role", choices=["api", "worker"])
    args = parser.parse_args()
    settings = Settings()
    configure_logging(settings.log_level)
    if args.role == "api":
        serve_api(build_api(settings), host=settings.api_host, port=settings.api_port, log_level=settings.log_level)
    else:
        run_printing_worker(settings)


if __name__ == "__main__":
    main()
