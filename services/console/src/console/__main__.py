"""`python -m console api`: the ops console on CONSOLE_API_HOST:CONSOLE_API_PORT."""

import argparse

import uvicorn

from console.bootstrap import build_console
from console.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="console")
    parser.add_argument("role", choices=["api"], help="the console has one process: its web server")
    parser.parse_args()
    settings = Settings()
    uvicorn.run(build_console(settings), host=settings.api_host, port=settings.api_port,
                log_level=settings.log_level.lower(), proxy_headers=False)


if __name__ == "__main__":
    main()
