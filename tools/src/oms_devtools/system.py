"""Starts, health-checks and stops the five services (an API and a worker each) and, when it has a port, the ops
console (one web process) as local processes."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = ("ingest", "orders", "inventory", "fulfilment", "printing")
CONSOLE = "console"
DEFAULT_PORTS = {"ingest": 8101, "orders": 8102, "inventory": 8103, "fulfilment": 8104, "printing": 8105, CONSOLE: 8106}


class SystemFailed(RuntimeError):
    """A service process died or never became healthy; the message holds its log tail."""


@dataclass
class ServiceProcess:
    """One running process of a service."""

    service: str
    role: str
    process: subprocess.Popen
    log_path: Path

    @property
    def name(self) -> str:
        return f"{self.service}-{self.role}"

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class System:
    """The whole OMS as child processes of this one."""

    env: dict[str, str]
    log_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    python: str = sys.executable
    # `make run` gives the services their own session so Ctrl-C reaches only the supervisor, which stops them in
    # order; tests keep them in pytest's process group so a killed test run takes them along.
    own_session: bool = True
    processes: list[ServiceProcess] = field(default_factory=list)

    def start(self) -> None:
        """Start an API and a worker per service (and the console), each logging to `<log_dir>/<service>-<role>.log`."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        busy = [f"{service} ({port})" for service, port in self.ports.items() if _port_in_use(port)]
        if busy:
            raise SystemFailed(f"ports already in use, is another OMS running? {', '.join(busy)}")
        env = {**os.environ, **self.env}
        # Fulfilment reads stock items (weight, barcode, location, bin) from the inventory API.
        env.setdefault("FULFILMENT_INVENTORY_URL", self.url("inventory"))
        for service in SERVICES:
            env[f"{service.upper()}_API_PORT"] = str(self.ports[service])
            for role in ("api", "worker"):
                self.processes.append(self._spawn(service, role, env))
        if CONSOLE in self.ports:
            # The console talks only to the services' APIs; it needs CONSOLE_SERVICE_KEY and CONSOLE_SESSION_SECRET.
            env |= {f"CONSOLE_{service.upper()}_URL": self.url(service) for service in SERVICES}
            env["CONSOLE_API_PORT"] = str(self.ports[CONSOLE])
            self.processes.append(self._spawn(CONSOLE, "api", env))

    def _spawn(self, service: str, role: str, env: dict[str, str]) -> ServiceProcess:
        log_path = self.log_dir / f"{service}-{role}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [self.python, "-m", service, role], env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=self.own_session,
            )
        return ServiceProcess(service, role, process, log_path)

    def url(self, service: str) -> str:
        """Base URL of a service's API."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Wait until every API answers 200 on /health; raise SystemFailed with the log of the culprit."""
        deadline = time.monotonic() + timeout
        pending = set(SERVICES) | ({CONSOLE} & set(self.ports))
        while pending:
            self.check_alive()
            for service in sorted(pending):
                try:
                    if httpx.get(f"{self.url(service)}/health", timeout=2).status_code == 200:
                        pending.discard(service)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- {p.name} ---\n{p.log_tail()}" for p in self.processes if p.service in pending
                )
                raise SystemFailed(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}\n{tails}")
            if pending:
                time.sleep(0.5)

    def check_alive(self) -> None:
        """Raise SystemFailed if any process has exited."""
        for p in self.processes:
            if p.process.poll() is not None:
                raise SystemFailed(f"{p.name} exited with {p.process.returncode}\n{p.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every process, wait, then SIGKILL what is left."""
        for p in self.processes:
            if p.process.poll() is None:
                p.process.terminate()
        deadline = time.monotonic() + timeout
        for p in self.processes:
            try:
                p.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.process.kill()
                p.process.wait()
        self.processes.clear()

    def pids(self) -> list[int]:
        """Process ids of the running services."""
        return [p.process.pid for p in self.processes]


def _port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0
