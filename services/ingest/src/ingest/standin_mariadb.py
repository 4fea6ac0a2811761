"""A throwaway MariaDB server standing in for a web shop's database (osCommerce, Zen Cart, X-Cart 4) in tests.

It runs Debian's `mariadbd` (package mariadb-server, see infra/system-deps.sh) as the current user on a data
folder of its own, a Unix socket and a free 127.0.0.1 port: no root daemon, nothing shared with other runs.
`database(name, *sql_files)` makes a shop database from schema and sample files and a user `shop` with a password
(the connectors connect over TCP, as they would to a shop's server).
"""

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    """One mariadbd process; `stop()` ends it and removes its folder (`with MariaDB() as server:` does both)."""

    def __init__(self, *, port: int | None = None) -> None:
        for tool in ("mariadbd", "mariadb-install-db", "mariadb"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise RuntimeError(f"{tool} is missing: install Debian's mariadb-server (infra/system-deps.sh)")
        # A short folder name: a Unix socket path must stay under ~100 characters.
        self.dir = Path(tempfile.mkdtemp(prefix="omsdb-", dir="/tmp"))
        self.socket = self.dir / "s.sock"
        self.port = port or _free_port()
        self.password = secrets.token_hex(12)
        self.user = "shop"
        self.process: subprocess.Popen | None = None

    def _tool(self, name: str) -> str:
        return shutil.which(name) or f"/usr/sbin/{name}"

    def start(self) -> "MariaDB":
        """Initialise the data folder and start the server; RuntimeError with its log when it does not come up."""
        subprocess.run(
            [self._tool("mariadb-install-db"), "--no-defaults", f"--datadir={self.dir / 'data'}",
             "--auth-root-authentication-method=normal", "--user=root", "--skip-test-db"],
            check=True, capture_output=True, timeout=120)
        self.process = subprocess.Popen(
            [self._tool("mariadbd"), "--no-defaults", f"--datadir={self.dir / 'data'}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve",
             "--innodb-buffer-pool-size=32M", "--character-set-server=utf8mb4",
             f"--log-error={self.dir / 'err.log'}", f"--pid-file={self.dir / 'pid'}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while self.sql("SELECT 1", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "err.log").read_text(errors="replace")[-2000:] if (self.dir / "err.log").exists() else ""
                self.stop()
                raise RuntimeError(f"mariadbd did not start: {log}")
            time.sleep(0.1)
        self.sql(f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{self.password}'")
        return self

    def sql(self, statements: str, *, database: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run SQL as root through the socket (the `mariadb` client reads multi-statement files as shops dump them)."""
        command = [self._tool("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot",
                   "--default-character-set=utf8mb4"]
        if database:
            command.append(database)
        result = subprocess.run(command, input=statements.encode("utf-8"), capture_output=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"SQL failed: {result.stderr.decode(errors='replace')}")
        return result

    def database(self, name: str, *sql_files: Path) -> str:
        """A fresh database `name` loaded from `sql_files` (schema first), usable by the `shop` user; its DSN."""
        self.sql(f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4; "
                 f"GRANT ALL ON `{name}`.* TO '{self.user}'@'%'")
        for path in sql_files:
            self.sql(Path(path).read_text(encoding="utf-8"), database=name)
        return self.dsn(name)

    def dsn(self, name: str) -> str:
        """The connection URL of database `name` (no password: that is a credential)."""
        return f"mysql://{self.user}@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> "MariaDB":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

