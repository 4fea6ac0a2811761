"""The print station drill: a real station agent (`python -m printing.station`) packs a phase's orders.

For the phase, Shopify orders follow the `pack` flow (channel settings), so each processed order waits for its
items to be scanned at the station; a packer scans them (fulfilment API) and the last scan prints the invoice and
the label at the station. The agent has its own key (POST /stations), a journal in the run's folder and a station
printer registered for both document types: the harness's raw 9100 printer, so its printouts land in the same
spool as every other phase's. The fault: kill -9 of the agent while its queue holds jobs, restarted later.
"""

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

import httpx

from oms_devtools.faults.harness import Harness, Sent, order_id

NAME = "fault-bench"
PRINTER = "fault-bench-printer"


@dataclass
class StationDrill:
    """The station, its printer, its agent process and the channel settings it changed (put back after)."""

    harness: Harness
    key: str = ""
    agent: subprocess.Popen | None = None
    restarts: int = 0
    previous_settings: dict | None = None
    scanned: set[str] = field(default_factory=set)

    @property
    def journal(self):
        return self.harness.work_dir / f"station-{NAME}.journal"

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.harness.keys[role]}"}

    async def setup(self) -> None:
        """Register the station (a fresh key) and its printer, switch Shopify orders to the pack flow, start the
        agent."""
        printing, fulfilment = self.harness.url("printing"), self.harness.url("fulfilment")
        async with httpx.AsyncClient(headers=self.headers("admin"), timeout=30) as http:
            answer = await http.post(f"{printing}/stations", json={"name": NAME})
            answer.raise_for_status()
            self.key = answer.json()["key"]
            printer = {"name": PRINTER, "protocol": "raw9100", "address": f"127.0.0.1:{self.harness.printer_port}",
                       "document_types": ["invoice", "shipping_label"], "label_format": "zpl", "station": NAME}
            (await http.put(f"{printing}/printers/{PRINTER}", json=printer)).raise_for_status()
            current = (await http.get(f"{fulfilment}/channels/shopify/settings")).raise_for_status().json()
            self.previous_settings = {"flow": current["flow"], "documents": current["documents"]}
            answer = await http.put(f"{fulfilment}/channels/shopify/settings",
                                    json={"flow": "pack", "documents": current["documents"]})
            answer.raise_for_status()
        self.start_agent()

    async def teardown(self) -> None:
        """Stop the agent; Shopify orders back to the flow they had; the station printer removed."""
        self.stop_agent()
        async with httpx.AsyncClient(headers=self.headers("admin"), timeout=30) as http:
            if self.previous_settings is not None:
                await http.put(f"{self.harness.url('fulfilment')}/channels/shopify/settings",
                               json=self.previous_settings)
            await http.delete(f"{self.harness.url('printing')}/printers/{PRINTER}")

    def start_agent(self) -> None:
        env = {**os.environ, "PRINTING_STATION_KEY": self.key, "OMS_LOG_LEVEL": "INFO"}
        log = (self.harness.system.log_dir / f"station-{NAME}.log").open("ab")
        self.agent = subprocess.Popen(
            [self.harness.system.python, "-m", "printing.station", "--name", NAME,
             "--api", self.harness.url("printing"), "--journal", str(self.journal), "--wait", "5"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def stop_agent(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.terminate()
            try:
                self.agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()

    def journalled(self) -> int:
        """How many job attempts the agent has printed and journalled so far."""
        return len(self.journal.read_text().splitlines()) if self.journal.exists() else 0

    async def waiting(self) -> int:
        """The station's jobs rendered and not yet acknowledged (its queue on the server)."""
        return await self.harness.db("printing")["print_jobs"].count_documents({"station": NAME, "state": "rendered"})

    async def disconnect(self, *, down_for: float = 15.0, queued: int = 3, timeout: float = 180.0) -> str:
        """kill -9 the agent once it is working through a queue (it printed a job and `queued` more are waiting),
        leave it away `down_for` s while jobs pile up, start it again with the same key and journal."""
        began = time.monotonic()
        start = self.journalled()
        while time.monotonic() - began < timeout:
            if self.journalled() > start and await self.waiting() >= queued:
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"the station agent never had a queue within {timeout:.0f}s")
        os.kill(self.agent.pid, signal.SIGKILL)
        self.agent.wait()
        at_kill, printed = await self.waiting(), self.journalled()
        await asyncio.sleep(down_for)
        at_restart = await self.waiting()
        self.start_agent()
        self.restarts += 1
        return (f"killed the station agent (SIGKILL) mid-queue after {printed} jobs, {at_kill} waiting; restarted "
                f"{down_for:.0f}s later with {at_restart} waiting")

    async def pack(self, sent: list[Sent], stop: asyncio.Event) -> None:
        """The packer: scan every item of each of the phase's shipments waiting for packing, at the station."""
        def ids() -> set[str]:
            return {str(order_id(s.webhook.channel_order_id)) for s in list(sent) if s.accepted}

        fulfilment = self.harness.url("fulfilment")
        async with httpx.AsyncClient(headers=self.headers("packer"), timeout=30) as http:
            while not stop.is_set():
                try:
                    answer = await http.get(f"{fulfilment}/shipments", params={"status": "packing", "limit": 200})
                    mine = [s for s in answer.json() if s["order_id"] in ids()] if answer.status_code == 200 else []
                    for shipment in mine:
                        for item in shipment["items"]:
                            for _ in range(item["quantity"] - item["scanned"]):
                                await http.post(f"{fulfilment}/pack/{shipment['order_id']}/scan",
                                                json={"code": item["sku"], "station": NAME})
                        self.scanned.add(shipment["order_id"])
                except httpx.HTTPError:
                    pass  # the packer tries again
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass

    async def printed_at_station(self, ids: list[str]) -> int:
        """How many of these orders' jobs were printed by the station."""
        return await self.harness.db("printing")["print_jobs"].count_documents(
            {"order_id": {"$in": ids}, "station": NAME, "state": "printed"})
