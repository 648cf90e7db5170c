"""The common frame of the project's PDF documents (safety summary, subject casebook).

Portrait and landscape pages, a footer with the study, the cutoff and "Page x of y" on every
page, tables that split across pages with their header repeated, and paragraphs that print user
text literally: every string that reaches reportlab's mini-markup goes through `text()`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO
from xml.sax.saxutils import escape

import pandas as pd
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
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
    "h1": ParagraphStyle(
        "ReportH1", parent=_base["Heading1"], fontSize=14, leading=17, keepWithNext=1
    ),
    "h2": ParagraphStyle(
        "ReportH2", parent=_base["Heading2"], fontSize=11, leading=14, keepWithNext=1
    ),
    "h3": ParagraphStyle(
        "ReportH3",
        parent=_base["Heading3"],
        fontSize=9.5,
        leading=12,
        spaceBefore=4,
        spaceAfter=2,
        keepWithNext=1,
    ),
    "body": ParagraphStyle("ReportBody", parent=_base["BodyText"], fontSize=9, leading=11.5),
    "cell": ParagraphStyle("ReportCell", parent=_base["BodyText"], fontSize=7.5, leading=9),
    "cell_right": ParagraphStyle(
        "ReportCellRight", parent=_base["BodyText"], fontSize=7.5, leading=9, alignment=2
    ),
    "head": ParagraphStyle(
        "ReportHead", parent=_base["BodyText"], fontSize=7.5, leading=9, fontName="Helvetica-Bold"
    ),
    "cell_bold": ParagraphStyle(
        "ReportCellBold",
        parent=_base["BodyText"],
        fontSize=7.5,
        leading=9,
        fontName="Helvetica-Bold",
    ),
}
CELL_FONT, CELL_BOLD_FONT, CELL_SIZE = "Helvetica", "Helvetica-Bold", 7.5
HEADER_BACKGROUND = colors.HexColor("#e8eef4")
HIGHLIGHT_BACKGROUND = colors.HexColor("#eef2f6")
# Left and right padding of text cells (reportlab's default); numeric cells have less.
TEXT_PADDING = 6


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


class LiteralTable(Table):
    """A reportlab Table that does not draw empty cells (count tables are mostly blank)."""

    def _drawCell(self, cellval, cellstyle, pos, size):  # reportlab's name
        # The cell's background and grid are drawn apart from its content, and the canvas
        # state the parent tracks is left untouched, so an empty cell can be skipped whole.
        if cellval == "":
            return
        super()._drawCell(cellval, cellstyle, pos, size)


CELL_LEADING = 9


def _fitting_prefix(word: str, width: float, font: str, size: float) -> int:
    """How many characters of `word` fit in `width` (at least one)."""
    total = 0.0
    for index, character in enumerate(word):
        total += stringWidth(character, font, size)
        if total > width:
            return max(index, 1)
    return len(word)


# Long tables repeat their texts (an audit trail's times, users and field names; a listing's
# terms): each text is broken once.
@functools.lru_cache(maxsize=65536)
def cell_lines(literal: str, width: float, font: str, size: float) -> str:
    """`literal` broken into lines that fit `width`, joined by newlines: at spaces, and inside
    words too long for a line, as a paragraph would break them. Reportlab draws such a string
    cell line by line, literally, and far cheaper than a paragraph it must measure again at
    every page split."""
    if "\n" not in literal and stringWidth(literal, font, size) <= width:
        return literal
    lines = []
    for line in simpleSplit(literal, font, size, width):
        while len(line) > 1 and stringWidth(line, font, size) > width:
            cut = _fitting_prefix(line, width, font, size)
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return "\n".join(lines)


def grid_style(top: int = 0) -> list[tuple]:
    """The look every table shares: a light grid below the group headers (rows before `top`),
    a shaded header row (`top`) and striped body rows."""
    return [
        ("GRID", (0, top), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, top), HEADER_BACKGROUND),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("ROWBACKGROUNDS", (0, top + 1), (-1, -1), [colors.white, colors.HexColor("#f6f8fa")]),
    ]


def table(
    rows: Sequence[Sequence[object]],
    header: Sequence[object],
    *,
    col_widths: Sequence[float] | None = None,
    numeric_from: int | None = None,
    group_header: Sequence[tuple[object, int]] | None = None,
    highlight_rows: Iterable[int] = (),
) -> Table:
    """A table of literal cells whose header rows repeat on every page it spans.

    Text cells are wrapped in paragraphs so long text wraps inside its column; columns from
    `numeric_from` on are right-aligned plain strings, which reportlab draws as they are (no
    markup is parsed) and much faster than paragraphs, so long count tables stay quick.
    `group_header` adds a row above the header whose cells span several columns, given as
    (text, number of columns). `highlight_rows` are body rows (from 0) set in bold on a shade,
    e.g. the system organ class rows of an adverse event table.
    """
    right = len(header) if numeric_from is None else numeric_from
    highlighted = set(highlight_rows)
    top = 0
    data: list[list[object]] = []
    commands: list[tuple] = []
    if group_header:
        # A group label that fits its columns is a plain string drawn across them, with a box
        # around the group instead of a cell span: reportlab recomputes spans over the whole
        # table at every page split, which makes long spanned tables slow.
        cells: list[object] = []
        column = 0
        for label, span in group_header:
            widths = col_widths[column : column + span] if col_widths else []
            fits = (
                len(widths) == span
                and None not in widths
                and stringWidth(text_or_blank(label), CELL_BOLD_FONT, CELL_SIZE)
                <= sum(widths) - 2 * TEXT_PADDING
            )
            if fits:
                cells.append(text_or_blank(label))
            else:
                cells.append(Paragraph(text(label), STYLES["head"]))
                if span > 1:
                    commands.append(("SPAN", (column, 0), (column + span - 1, 0)))
            cells.extend([""] * (span - 1))
            commands.append(("BOX", (column, 0), (column + span - 1, 0), 0.25, colors.grey))
            column += span
        data.append(cells)
        commands.append(("FONT", (0, 0), (-1, 0), CELL_BOLD_FONT, CELL_SIZE))
        top = 1
    data.append([Paragraph(text(cell), STYLES["head"]) for cell in header])
    # With known column widths, every text cell is a plain string, broken into lines that fit
    # its column: printed literally, and no paragraph to parse and wrap on every page split.
    room = [
        (width - 2 * TEXT_PADDING) if width is not None else None
        for width in (col_widths or [None] * len(header))
    ]
    for index, row in enumerate(rows):
        bold = index in highlighted
        style = STYLES["cell_bold"] if bold else STYLES["cell"]
        font = CELL_BOLD_FONT if bold else CELL_FONT
        cells = []
        for column, cell in enumerate(row):
            plain = text_or_blank(cell)
            if column >= right or (
                room[column] is not None
                and "\n" not in plain
                and stringWidth(plain, font, CELL_SIZE) <= room[column]
            ):
                cells.append(plain)
            elif room[column] is not None:
                cells.append(cell_lines(plain, room[column], font, CELL_SIZE))
            else:
                cells.append(Paragraph(text(cell), style))
        data.append(cells)
        if bold:
            line = top + 1 + index
            commands += [
                ("BACKGROUND", (0, line), (-1, line), HIGHLIGHT_BACKGROUND),
                ("FONT", (0, line), (-1, line), CELL_BOLD_FONT, CELL_SIZE, CELL_LEADING),
            ]
    result = LiteralTable(data, colWidths=col_widths, repeatRows=top + 1, hAlign="LEFT")
    result.setStyle(
        TableStyle(
            [
                *grid_style(top),
                ("FONT", (0, top + 1), (-1, -1), CELL_FONT, CELL_SIZE, CELL_LEADING),
                ("LEFTPADDING", (0, 0), (-1, -1), TEXT_PADDING),
                ("RIGHTPADDING", (0, 0), (-1, -1), TEXT_PADDING),
                ("ALIGN", (right, top + 1), (-1, -1), "RIGHT"),
                ("LEFTPADDING", (right, top + 1), (-1, -1), 2.5),
                ("RIGHTPADDING", (right, top + 1), (-1, -1), 2.5),
                *commands,
            ]
        )
    )
    return result


def text_or_blank(value: object) -> str:
    """A value as a plain table cell (drawn literally, never parsed): None and NaN are empty."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


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

        def showPage(self):  # reportlab's name
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
    # Binary (Flate only) streams: ASCII85 on top makes files a quarter larger and, without
    # reportlab's optional C accelerator, costs seconds on long reports. The setting is read
    # while the file is written; any value gives a valid PDF, so a concurrent build is safe.
    previous, rl_config.useA85 = rl_config.useA85, 0
    try:
        doc.build(list(story), canvasmaker=_numbered_canvas(footer))
    finally:
        rl_config.useA85 = previous


def usable_width(orientation: str = PORTRAIT) -> float:
    """The width a flowable may take on a page of the given orientation."""
    width = A4[0] if orientation == PORTRAIT else landscape(A4)[0]
    return width - 2 * MARGIN
