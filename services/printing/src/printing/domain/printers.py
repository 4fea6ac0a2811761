"""The printer registry and which printer a document goes to, free of I/O.

A printer is named by staff and says how it is reached (`ipp` or `raw9100` at an address), what paper it holds,
which document types it prints, in which format it takes labels (ZPL for thermal printers, PDF for the rest),
and, when it stands at a packing bench, which print station reaches it (the station's agent sends to it; the
printing service never connects to a station's printers itself).
"""

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DocumentType = Literal["invoice", "shipping_label", "packing_slip", "pick_list"]
Protocol = Literal["ipp", "raw9100"]
LabelFormat = Literal["zpl", "pdf"]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?(/[A-Za-z0-9._~/\-]*)?$")


class PrinterConfig(BaseModel):
    """One printer as staff registered it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    protocol: Protocol
    address: str = Field(description="host[:port] (raw 9100) or host[:port]/path (IPP), e.g. 10.0.0.5:631/ipp/print")
    paper: Literal["A4", "Letter", "4x6"] = "A4"
    document_types: list[DocumentType] = Field(min_length=1)
    label_format: LabelFormat = Field("zpl", description="How it takes shipping labels: ZPL or 4x6 PDF.")
    station: str | None = Field(None, pattern=NAME_PATTERN, description="The print station that reaches it.")

    @field_validator("address")
    @classmethod
    def _plain_address(cls, address: str) -> str:
        if not _ADDRESS.match(address):
            raise ValueError("expected host[:port] or host[:port]/path")
        return address

    @property
    def uri(self) -> str:
        """The URI the printer adapters understand."""
        scheme = "ipp" if self.protocol == "ipp" else "socket"
        return f"{scheme}://{self.address}"


@dataclass(frozen=True)
class Route:
    """Where one job goes: a network printer's URI, or a station's queue (with the station printer, if known)."""

    printer: str | None
    label_format: LabelFormat
    station: str | None = None


def route_for(
    printers: list[PrinterConfig],
    *,
    document_type: str,
    station: str | None,
    fallback: dict[str, str],
) -> Route | None:
    """The printer for a document: the station's own printer for that type when a station is asked for (or its
    queue alone, the agent printing on its default output), else the first registered network printer for the
    type (by name), else the configured fallback URI of the type; None when there is none."""
    takes = sorted((p for p in printers if document_type in p.document_types), key=lambda p: p.name)
    if station is not None:
        mine = [p for p in takes if p.station == station]
        if mine:
            return Route(printer=mine[0].uri, label_format=mine[0].label_format, station=station)
        return Route(printer=None, label_format="pdf", station=station)
    network = [p for p in takes if p.station is None]
    if network:
        return Route(printer=network[0].uri, label_format=network[0].label_format)
    uri = fallback.get(document_type)
    return Route(printer=uri, label_format="zpl") if uri else None
