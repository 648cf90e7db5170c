"""The common frame of the project's PDF documents (safety summary, subject casebook).

Portrait and landscape pages, a footer with the study, the cutoff and "Page x of y" on every
page, tables that split across pages with their header repeated, and paragraphs that print user
text literally: every string that reaches reportlab's mini-markup goes through `text()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO
from xml.sax.saxutils import escape

import pandas as pd
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdf_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Table,
    TableStyle,
)

MARGIN = 15 * mm
PORTRAIT = "portrait"
LANDSCAPE = "landscape"

_base = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("ReportTitle", parent=_base["Title"], fontSize=18, leading=22),
    "h1": ParagraphStyle("ReportH1", parent=_base["Heading1"], fontSize=14, leading=17),
    "h2": ParagraphStyle("ReportH2", parent=_base["Heading2"], fontSize=11, leading=14),
    "body": ParagraphStyle("ReportBody", parent=_base["BodyText"], fontSize=9, leading=11.5),
    "cell": ParagraphStyle("ReportCell", parent=_base["BodyText"], fontSize=7.5, leading=9),
    "cell_right": ParagraphStyle(
        "ReportCellRight", parent=_base["BodyText"], fontSize=7.5, leading=9, alignment=2
    ),
    "head": ParagraphStyle(
        "ReportHead", parent=_base["BodyText"], fontSize=7.5, leading=9, fontName="Helvetica-Bold"
    ),
}


def text(value: object) -> str:
    """A value as literal text for a Paragraph: markup characters are escaped, None is empty."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return escape(str(value), {'"': "&quot;"})


def paragraph(value: object, style: str = "body") -> Paragraph:
    """A paragraph that prints `value` literally (no markup is interpreted)."""
    return Paragraph(text(value), STYLES[style])


def heading(value: str, level: int = 1) -> Paragraph:
    return Paragraph(text(value), STYLES[f"h{level}"])


def table(
    rows: Sequence[Sequence[object]],
    header: Sequence[object],
    *,
    col_widths: Sequence[float] | None = None,
    numeric_from: int | None = None,
) -> Table:
    """A table of literal cells whose header row repeats on every page it spans.

    Cells are wrapped in paragraphs so long text wraps inside its column; columns from
    `numeric_from` on are right-aligned.
    """
    right = len(header) if numeric_from is None else numeric_from

    def cell_style(column: int) -> ParagraphStyle:
        return STYLES["cell_right"] if column >= right else STYLES["cell"]

    data = [[Paragraph(text(cell), STYLES["head"]) for cell in header]]
    data += [
        [Paragraph(text(cell), cell_style(column)) for column, cell in enumerate(row)]
        for row in rows
    ]
    result = Table(data, colWidths=col_widths, repeatRows=1, hAlign="LEFT")
    result.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f8fa")]),
            ]
        )
    )
    return result


def frame_table(frame: pd.DataFrame, **kwargs) -> Table:
    """A table of a pandas frame: its columns are the header, its rows the body."""
    return table(list(frame.itertuples(index=False, name=None)), list(frame.columns), **kwargs)


def landscape_pages() -> list[Flowable]:
    """Start a new landscape page, for content that needs the width; later pages stay landscape."""
    return [NextPageTemplate(LANDSCAPE), PageBreak()]


def portrait_pages() -> list[Flowable]:
    """Start a new portrait page; later pages stay portrait."""
    return [NextPageTemplate(PORTRAIT), PageBreak()]


@dataclass(frozen=True)
class DocumentInfo:
    """What every page's footer and the PDF's metadata say."""

    title: str
    study: str
    cutoff: str
    author: str = ""
    subject: str = ""


def _numbered_canvas(footer: str):
    """A canvas class that writes "Page x of y" once the number of pages is known."""

    class NumberedCanvas(pdf_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                width, _ = self._pagesize
                self.setFont("Helvetica", 7)
                self.setFillColor(colors.grey)
                self.drawString(MARGIN, 8 * mm, footer)
                self.drawRightString(width - MARGIN, 8 * mm, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def build(out: str | BinaryIO, story: Iterable[Flowable], info: DocumentInfo) -> None:
    """Render `story` into `out` (a path or a binary file) with portrait and landscape pages."""
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=info.title,
        author=info.author,
        subject=info.subject,
        creator="eCRF",
    )
    templates = []
    for name, size in ((PORTRAIT, A4), (LANDSCAPE, landscape(A4))):
        width, height = size
        frame = Frame(
            MARGIN,
            MARGIN + 4 * mm,
            width - 2 * MARGIN,
            height - 2 * MARGIN - 4 * mm,
            id=f"{name}-frame",
        )
        templates.append(PageTemplate(id=name, frames=[frame], pagesize=size))
    doc.addPageTemplates(templates)
    footer = f"{info.study} · {info.title} · data cutoff {info.cutoff}"
    doc.build(list(story), canvasmaker=_numbered_canvas(footer))


def usable_width(orientation: str = PORTRAIT) -> float:
    """The width a flowable may take on a page of the given orientation."""
    width = A4[0] if orientation == PORTRAIT else landscape(A4)[0]
    return width - 2 * MARGIN
