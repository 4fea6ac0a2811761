"""Checking and previewing staff's templates: render them with sample data, and say the line and reason when
they fail."""

import shutil
import subprocess
import tempfile
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from jinja2 import TemplateError, TemplateSyntaxError

from oms_contracts.common import Address, Buyer, OrderDetails, OrderLine, Shipping
from oms_contracts.orders.v1 import OrderSnapshot
from oms_contracts.printing.v1 import PickListLine, PrintDocument, PrintPickList
from printing.adapters.renderers import TEMPLATES, DocumentRenderer, template_key

SAMPLE_TRACKING = "OM123456785GB"


@dataclass(frozen=True)
class TemplateRefused(Exception):
    """The template does not render: where (line, when known) and why."""

    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


def sample_command(template: str, *, channel: str | None, country: str | None) -> PrintDocument | PrintPickList:
    """A print command with made-up data for previews and checks."""
    if template == "pick_list":
        return PrintPickList(
            job_id=uuid.UUID(int=1),
            batch_id=uuid.UUID(int=2),
            lines=[
                PickListLine(sku="MUG-BLUE", title="Enamel mug, navy", location="A", bin="A-01", quantity=3,
                             order_numbers=["SAMPLE-1001", "SAMPLE-1002"]),
                PickListLine(sku="TEE-L", title="Organic T-shirt, L", location="B", bin="B-07", quantity=1,
                             order_numbers=["SAMPLE-1002"]),
            ],
        )
    order = OrderSnapshot(
        order_id=uuid.UUID(int=3),
        details=OrderDetails(
            channel=channel or "sample",
            channel_order_id="SAMPLE-1001",
            order_number="SAMPLE-1001",
            buyer=Buyer(name="Ada Lovelace", email="ada@example.org"),
            shipping_address=Address(name="Ada Lovelace", line1="12 St James's Square", city="London",
                                     postcode="SW1Y 4JH", country=country or "GB"),
            lines=[
                OrderLine(line_id="1", sku="MUG-BLUE", title="Enamel mug, navy", quantity=2,
                          unit_price=Decimal("7.50")),
                OrderLine(line_id="2", sku="TEE-L", title="Organic T-shirt, L", quantity=1,
                          unit_price=Decimal("15.00")),
            ],
            shipping=Shipping(service="Standard", cost=Decimal("3.95")),
            currency="GBP",
            paid=True,
            notes="Sample note: leave with the neighbour.",
        ),
        opened_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    document_type = "shipping_label" if template.startswith("shipping_label") else template
    return PrintDocument(job_id=uuid.UUID(int=4), document_type=document_type, order=order, carrier="OMS Post",
                         tracking_number=SAMPLE_TRACKING)


def render_candidate(
    template: str, source: str, *, seller_name: str, channel: str | None = None, country: str | None = None
) -> bytes:
    """The sample document rendered from `source` in place of `template`; raises TemplateRefused."""
    if template not in TEMPLATES:
        raise TemplateRefused(None, f"unknown template {template!r}; one of {', '.join(TEMPLATES)}")
    renderer = DocumentRenderer(seller_name=seller_name, overrides={template_key(template): source})
    command = sample_command(template, channel=channel, country=country)
    label_format = "pdf" if template == "shipping_label_pdf" else "zpl"
    try:
        return renderer.render(command, label_format=label_format)
    except TemplateSyntaxError as exc:
        raise TemplateRefused(exc.lineno, f"syntax error: {exc.message}") from exc
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise TemplateRefused(_template_line(exc), f"{type(exc).__name__}: {exc}") from exc


def _template_line(exc: BaseException) -> int | None:
    """The template line a rendering error came from (Jinja2 rewrites tracebacks to point into the template)."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "<template>"]
    return lines[-1] if lines else None


def pdf_to_png(pdf: bytes, *, dpi: int = 100) -> bytes:
    """The first page of a PDF as PNG, through poppler's pdftoppm."""
    if shutil.which("pdftoppm") is None:
        raise RuntimeError("pdftoppm is missing: install Debian's poppler-utils (infra/system-deps.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "doc.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile",
             str(source), str(Path(tmp) / "page")],
            check=True, capture_output=True, timeout=30,
        )
        return (Path(tmp) / "page.png").read_bytes()
