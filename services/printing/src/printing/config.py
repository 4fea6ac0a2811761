"""Settings of the printing service (env prefix PRINTING_, plus the shared KAFKA_/MONGODB_/OMS_ ones)."""

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from oms_platform.settings import ServiceSettings
from printing.adapters.printers import printer_for_uri


class Settings(ServiceSettings):
    """Everything the printing service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="PRINTING_")

    api_host: str = "127.0.0.1"
    api_port: int = 8105
    database: str = "oms_printing"
    invoice_printer: str = Field(description="URI of the printer for invoices (A4 PDF), e.g. socket://10.0.0.5:9100.")
    label_printer: str = Field(description="URI of the printer for shipping labels (ZPL), e.g. socket://10.0.0.6:9100.")
    packing_slip_printer: str | None = Field(
        None, description="URI of the printer for packing slips (A4 PDF); the invoice printer when not set."
    )
    seller_name: str = Field(
        "OMS Shop", min_length=1, max_length=200, description="Seller name on invoices and labels."
    )
    printer_timeout_seconds: float = Field(10.0, gt=0, description="Seconds to connect and hand over one document.")
    send_attempts: int = Field(3, ge=1, le=20, description="Tries to reach a printer before the job fails.")
    send_max_backoff_seconds: float = Field(2.0, ge=0, description="Longest pause between two tries.")
    command_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a reprint request waits for the worker before answering 202 pending."
    )
    station_poll_seconds: float = Field(
        20.0, gt=0, le=120, description="Longest a print station's request for jobs waits for one (long poll)."
    )

    @field_validator("invoice_printer", "label_printer", "packing_slip_printer")
    @classmethod
    def _known_printer_uri(cls, uri: str | None, info: ValidationInfo) -> str | None:
        """Refuse an unknown scheme or a malformed address now, not on the first job."""
        if info.field_name == "packing_slip_printer" and not (uri or "").strip():
            return None  # left out: packing slips go to the invoice printer
        try:
            printer_for_uri(uri, timeout=1.0)
        except ValueError as exc:
            raise ValueError(f"PRINTING_{info.field_name.upper()}: {exc}") from exc
        return uri.strip()

    def printer_uris(self) -> dict[str, str]:
        """The printer URI of each document type."""
        return {
            "invoice": self.invoice_printer,
            "packing_slip": self.packing_slip_printer or self.invoice_printer,
            "shipping_label": self.label_printer,
            "pick_list": self.packing_slip_printer or self.invoice_printer,
        }
