"""Invoice PDFs with fpdf2, in DejaVu Sans when the system has it (Debian's
fonts-dejavu-core), else the PDF core font with non-Latin-1 characters replaced."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from botyard.billing.models import Invoice
from botyard.core.money import format_cents
from botyard.workspaces.models import Workspace

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


def _font(pdf: FPDF) -> str:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu"
    return "Helvetica"


def invoice_pdf(invoice: Invoice, *, workspace: Workspace) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_creator("botyard")
    family = _font(pdf)

    def text(value: str) -> str:
        return value if family == "DejaVu" else value.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    pdf.set_font(family, "B", 18)
    pdf.cell(0, 10, text(f"Invoice {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    facts = [
        ("Workspace", f"{workspace.name} ({workspace.id})"),
        ("Period", f"{invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}"),
        ("Issued", f"{invoice.issued_at:%Y-%m-%d}"),
        ("Status", invoice.status),
        ("Payment attempts", str(invoice.attempts)),
    ]
    for label, value in facts:
        pdf.cell(40, 6, text(label))
        pdf.cell(0, 6, text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "B", 10)
    widths = (90, 25, 35, 30)
    for heading, width in zip(
        ("Description", "Quantity", "Unit price", "Amount"), widths, strict=True
    ):
        pdf.cell(width, 7, heading, border="B", align="L" if heading == "Description" else "R")
    pdf.ln()
    pdf.set_font(family, "", 10)
    for line in invoice.lines.order_by("position"):
        unit = format_cents(line.unit_price_cents, invoice.currency)
        if line.unit_size != 1:
            unit += f" / {line.unit_size:,}"
        cells = (
            line.description,
            f"{line.quantity:,}",
            unit,
            format_cents(line.amount_cents, invoice.currency),
        )
        for value, width in zip(cells, widths, strict=True):
            pdf.cell(width, 7, text(value), align="L" if width == widths[0] else "R")
        pdf.ln()
    pdf.set_font(family, "B", 11)
    pdf.cell(sum(widths[:3]), 9, "Total", border="T")
    pdf.cell(
        widths[3], 9, format_cents(invoice.total_cents, invoice.currency), border="T", align="R"
    )
    return bytes(pdf.output())
