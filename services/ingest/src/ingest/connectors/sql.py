"""What the database connectors (osCommerce, Zen Cart, X-Cart 4) share: a shop's MySQL/MariaDB reached through
aiomysql from a DSN, rows as JSON-safe dicts, and a time cursor kept as the database's own text.

The channel's `url` is the DSN without a password (`mysql://user@host:3306/dbname`); the password is the
credential `password`. Errors become ConnectorError naming what failed, never the password.
"""

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomysql
import pymysql

from ingest.connectors.base import ConnectorError

DEFAULT_PORT = 3306
TIME = "%Y-%m-%d %H:%M:%S"  # MySQL DATETIME text
# A table prefix goes into SQL text: letters, digits and underscores only.
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def table_prefix(value: Any, *, channel: str) -> str:
    """A table prefix (Zen Cart `zen_`, X-Cart `xcart_`) checked before it goes into SQL."""
    prefix = str(value or "")
    if not set(prefix) <= _PREFIX_CHARS:
        raise ConnectorError(f"{channel}: table prefix {prefix!r} may hold only letters, digits and underscores")
    return prefix


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    """A database row as JSON-safe values: decimals as their exact text, times as MySQL text."""
    out = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.strftime(TIME)
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        out[key] = value
    return out


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class ShopDatabase:
    """A shop's database. Each query (or transaction) opens its own connection and closes it: a poll makes a few
    queries a minute and a write-back one transaction, so nothing is held open between them and nothing leaks
    when the poller or the write-back runner builds the connector again."""

    def __init__(self, *, dsn: str, password: str | None, channel: str, connect_timeout: float = 10.0) -> None:
        parts = urlsplit(dsn)
        if parts.scheme not in ("mysql", "mariadb") or not parts.hostname or not parts.path.strip("/"):
            raise ConnectorError(f"{channel}: url must be mysql://user@host:port/database (got scheme "
                                 f"{parts.scheme or 'none'!r})")
        if parts.password:
            raise ConnectorError(f"{channel}: the url must not hold the password; give it as credential 'password'")
        self.channel = channel
        self.where = f"{parts.hostname}:{parts.port or DEFAULT_PORT}/{parts.path.strip('/')}"
        self._connect = {
            "host": parts.hostname, "port": parts.port or DEFAULT_PORT, "user": unquote(parts.username or "root"),
            "password": password or "", "db": unquote(parts.path.strip("/")), "charset": "utf8mb4",
            "autocommit": True, "connect_timeout": connect_timeout,
        }

    async def rows(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        """The rows a query returns, each a dict of column -> value."""
        async with self.cursor() as cursor:
            await cursor.execute(sql, args)
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def cursor(self, *, transaction: bool = False) -> AsyncIterator[aiomysql.DictCursor]:
        """A dict cursor on a fresh connection; with `transaction`, its statements commit together or not at all."""
        try:
            connection = await aiomysql.connect(**self._connect)
        except (pymysql.MySQLError, OSError) as exc:
            raise ConnectorError(f"{self.channel}: cannot connect to {self.where} ({_reason(exc)})") from None
        try:
            if transaction:
                await connection.begin()
            async with connection.cursor(aiomysql.DictCursor) as cursor:
                yield cursor
            if transaction:
                await connection.commit()
        except (pymysql.MySQLError, OSError) as exc:
            raise ConnectorError(f"{self.channel}: database {self.where}: {_reason(exc)}") from None
        finally:
            connection.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, pymysql.MySQLError) and len(exc.args) >= 2:
        return f"{exc.args[0]} {exc.args[1]}"
    return f"{type(exc).__name__}: {exc}"


def placeholders(values: Any) -> str:
    """`%s, %s, ...` for an IN list of `values` (at least one)."""
    return ", ".join(["%s"] * max(len(values), 1))
