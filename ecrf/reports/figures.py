"""Figures of the safety summary (issue #6, section 9): a swimmer plot and lab time courses
(one line per subject with CTCAE grade lines, issue #12).

Pure functions from pandas frames to reportlab Drawings: no ORM, no Django. A Drawing is a
flowable, so the results go straight into a story rendered by `ecrf.reports.pdf.build`.

Text that comes from data (subject codes, dose-level labels, marker kinds, titles) is drawn with
reportlab.graphics `String`, which prints its text literally (no mini-markup is interpreted), on
one line (line breaks are collapsed) and truncated with an ellipsis to the room it has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from reportlab.graphics.shapes import (
    Circle,
    Drawing,
    Group,
    Line,
    Polygon,
    PolyLine,
    Rect,
    String,
)
from reportlab.lib import colors
from reportlab.lib.attrmap import AttrMap, AttrMapValue
from reportlab.pdfbase.pdfmetrics import stringWidth

FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"
TEXT_SIZE = 7.0
SMALL_SIZE = 6.0
TITLE_SIZE = 9.0

#: Subjects per swimmer drawing; 45 rows keep a drawing within a portrait A4 frame (~ 250 mm).
SUBJECTS_PER_DRAWING = 45
ROW_HEIGHT = 13.0
ELLIPSIS = "…"

# Colour-blind-safe qualitative palette (Okabe-Ito, then Tableau), without the red of DLTs.
LEVEL_COLOURS = [
    colors.HexColor(value)
    for value in (
        "#0072B2",
        "#E69F00",
        "#009E73",
        "#56B4E9",
        "#CC79A7",
        "#8C6D31",
        "#999999",
        "#F0E442",
        "#4E79A7",
        "#76B7B2",
        "#B07AA1",
        "#9C755F",
    )
]
DLT_COLOUR = colors.HexColor("#D62728")
AXIS_COLOUR = colors.HexColor("#333333")
GRID_COLOUR = colors.HexColor("#dddddd")
MUTED_COLOUR = colors.HexColor("#777777")
BAND_COLOUR = colors.HexColor("#f2f4f7")

SYMBOLS = ("circle", "square", "triangle", "diamond", "triangle_down", "cross")


# --- text -------------------------------------------------------------------------------------


def _plain(value: object) -> str:
    """A data value as one line of plain text: None / NaN are empty, whitespace is collapsed."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return " ".join(str(value).split())


def fit_text(value: object, max_width: float, *, size: float = TEXT_SIZE, font: str = FONT) -> str:
    """`value` as plain text, truncated with an ellipsis so that it is at most `max_width` wide."""
    text = _plain(value)
    if stringWidth(text, font, size) <= max_width:
        return text
    if stringWidth(ELLIPSIS, font, size) > max_width:
        return ""
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if stringWidth(text[:mid].rstrip() + ELLIPSIS, font, size) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ELLIPSIS


def wrap_text(
    value: object, max_width: float, max_lines: int, *, size: float = TEXT_SIZE, font: str = FONT
) -> list[str]:
    """`value` word-wrapped into at most `max_lines` lines; what does not fit is truncated."""
    words = _plain(value).split(" ")
    lines: list[str] = []
    current = ""
    for index, word in enumerate(words):
        candidate = f"{current} {word}" if current else word
        if stringWidth(candidate, font, size) <= max_width or not current:
            current = candidate
            continue
        if len(lines) == max_lines - 1:  # last line: the rest goes in, truncated
            current = " ".join([current, *words[index:]])
            break
        lines.append(current)
        current = word
    lines.append(current)
    return [fit_text(line, max_width, size=size, font=font) for line in lines[:max_lines]]


def _string(x: float, y: float, text: str, *, size=TEXT_SIZE, font=FONT, anchor="start", fill=None):
    return String(
        x,
        y,
        text,
        fontName=font,
        fontSize=size,
        textAnchor=anchor,
        fillColor=fill or AXIS_COLOUR,
    )


# --- scales -----------------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, *, target: int = 6, integer: bool = False) -> np.ndarray:
    """Round tick values (steps of 1, 2, 5 x 10^k) covering [lo, hi], about `target` of them."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    if integer:
        step = max(1.0, round(step))
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    count = round((stop - start) / step)
    return start + step * np.arange(count + 1)


def _tick_label(value: float, step: float) -> str:
    """A tick value with as many decimals as the step needs (0.25 -> 2, 5 -> 0)."""
    decimals = next(
        (d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6 * 10**d), 6
    )
    text = f"{value:.{decimals}f}"
    return "0" if text.strip("-0.") == "" else text


@dataclass(frozen=True)
class _Scale:
    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return self.r0
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


# --- symbols ----------------------------------------------------------------------------------


def _symbol(kind: str, x: float, y: float, size: float, fill, stroke=None, stroke_width=0.5):
    """A marker centred on (x, y), `size` points across."""
    r = size / 2
    stroke = stroke if stroke is not None else fill
    style = {"fillColor": fill, "strokeColor": stroke, "strokeWidth": stroke_width}
    if kind == "circle":
        return Circle(x, y, r * 0.9, **style)
    if kind == "square":
        return Rect(x - r * 0.8, y - r * 0.8, r * 1.6, r * 1.6, **style)
    if kind == "triangle":
        return Polygon([x - r, y - r * 0.8, x + r, y - r * 0.8, x, y + r], **style)
    if kind == "triangle_down":
        return Polygon([x - r, y + r * 0.8, x + r, y + r * 0.8, x, y - r], **style)
    if kind == "diamond":
        return Polygon([x - r, y, x, y + r, x + r, y, x, y - r], **style)
    if kind == "cross":
        group = Group()
        width = max(stroke_width, 1.3)
        group.add(Line(x - r, y - r, x + r, y + r, strokeColor=stroke, strokeWidth=width))
        group.add(Line(x - r, y + r, x + r, y - r, strokeColor=stroke, strokeWidth=width))
        return group
    raise ValueError(f"unknown symbol {kind!r}")


def _arrow_head(x: float, y: float, half_height: float, fill) -> Polygon:
    """A right-pointing arrow head whose base is at x: the open end of an ongoing bar."""
    return Polygon(
        [x, y - half_height, x + 1.6 * half_height, y, x, y + half_height],
        fillColor=fill,
        strokeColor=fill,
        strokeWidth=0.5,
    )


@dataclass(frozen=True)
class _LegendItem:
    label: str
    draw: object  # callable(x, y) -> shape, centred on (x, y) within a 12 pt swatch


def _legend(
    items: Sequence[_LegendItem], x0: float, y_top: float, width: float, *, size=TEXT_SIZE
) -> tuple[Group, float]:
    """Legend items flowed left to right in rows below `y_top`; returns (group, height)."""
    group = Group()
    line_height = size + 5
    swatch = 14.0
    x, y = x0, y_top - line_height / 2
    rows = 1 if items else 0
    max_label = max(20.0, width - swatch - 4)
    for item in items:
        label = fit_text(item.label, max_label, size=size)
        item_width = swatch + stringWidth(label, FONT, size) + 12
        if x > x0 and x + item_width > x0 + width:
            x = x0
            y -= line_height
            rows += 1
        group.add(item.draw(x + swatch / 2, y))
        group.add(_string(x + swatch + 2, y - size * 0.35, label, size=size))
        x += item_width
    return group, rows * line_height


# --- swimmer plot -----------------------------------------------------------------------------

_SUBJECT_COLUMNS = ("subject_code", "level", "level_label", "start_day", "end_day", "ongoing")
_MARKER_COLUMNS = ("subject_code", "study_day", "kind")


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {', '.join(missing)}")


def _is_dlt(kind: str) -> bool:
    return kind.strip().casefold() == "dlt"


def _is_off_study(kind: str) -> bool:
    return kind.strip().casefold().replace("-", " ") == "off study"


def _marker_styles(kinds: Sequence[str]) -> dict[str, tuple[str, object, object]]:
    """Kind -> (symbol, fill, stroke): DLT a red down-pointing triangle, off study a black cross,
    other kinds (alphabetical) further symbols and colours."""
    others = iter(
        [
            ("diamond", colors.HexColor("#6A3D9A"), colors.black),
            ("square", colors.HexColor("#FFFFFF"), colors.black),
            ("circle", colors.HexColor("#000000"), colors.black),
            ("triangle", colors.HexColor("#FFD92F"), colors.black),
            ("circle", colors.HexColor("#FFFFFF"), colors.black),
            ("diamond", colors.HexColor("#FFFFFF"), colors.black),
        ]
    )
    styles = {}
    for kind in kinds:
        if _is_dlt(kind):
            styles[kind] = ("triangle_down", DLT_COLOUR, colors.black)
        elif _is_off_study(kind):
            styles[kind] = ("cross", colors.black, colors.black)
        else:
            styles[kind] = next(others, ("square", colors.HexColor("#BBBBBB"), colors.black))
    return styles


def _prepare_subjects(subjects: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "subject_code": subjects["subject_code"].map(_plain),
            "level": pd.to_numeric(subjects["level"], errors="coerce"),
            "level_label": subjects["level_label"].map(_plain),
            "start_day": pd.to_numeric(subjects["start_day"], errors="coerce"),
            "end_day": pd.to_numeric(subjects["end_day"], errors="coerce"),
            "ongoing": subjects["ongoing"].eq(True).to_numpy(dtype=bool),
        }
    )
    frame["span"] = frame["end_day"] - frame["start_day"]
    # Subjects grouped by dose level in escalation order, longest treatment first in a level.
    frame = frame.sort_values(
        ["level", "span", "subject_code"],
        ascending=[True, False, True],
        na_position="last",
        kind="mergesort",
    ).reset_index(drop=True)
    no_label = frame["level_label"] == ""
    frame.loc[no_label, "level_label"] = frame.loc[no_label, "level"].map(
        lambda level: "No dose level" if pd.isna(level) else f"Level {level:g}"
    )
    # Subjects without a level form the last group.
    no_level = frame["level"].isna()
    if no_level.any():
        frame.loc[no_level, "level"] = frame["level"].max() + 1 if not no_level.all() else 0
    return frame


def swimmer_plot(
    subjects: pd.DataFrame,
    markers: pd.DataFrame,
    *,
    width: float,
    per_drawing: int = SUBJECTS_PER_DRAWING,
) -> list[Drawing]:
    """A swimmer plot of the subjects, grouped by dose level, one Drawing per page-sized chunk.

    One horizontal bar per subject from its first dose (`start_day`) to its last (`end_day`),
    study days (day 1 = first dose of cycle 1, the lead-in before it counted back with no day
    0), in the colour of its dose level; the lead-in part (days before day 1) is drawn lighter.
    A subject with no dose (NaN days) is labelled "not dosed". An arrow head ends the bar when
    the subject is `ongoing`; markers at their `study_day`: DLTs as red down-pointing
    triangles, "Off study" as a cross, other kinds as further symbols, all explained in the
    legend. Rows are labelled with the subject code, groups with the dose-level label. Every
    drawing has the same day axis and at most `per_drawing` subjects (45: a portrait A4 frame);
    an empty `subjects` frame gives [].
    """
    _require(subjects, _SUBJECT_COLUMNS, "subjects")
    if markers is None:
        markers = pd.DataFrame(columns=list(_MARKER_COLUMNS))
    _require(markers, _MARKER_COLUMNS, "markers")
    if subjects.empty:
        return []
    frame = _prepare_subjects(subjects)

    marks = pd.DataFrame(
        {
            "subject_code": markers["subject_code"].map(_plain),
            "study_day": pd.to_numeric(markers["study_day"], errors="coerce"),
            "kind": markers["kind"].map(lambda kind: _plain(kind) or "Other event"),
        }
    ).dropna(subset=["study_day"])
    marks = marks[marks["subject_code"].isin(frame["subject_code"])]
    kinds = sorted(marks["kind"].unique(), key=lambda k: (not _is_dlt(k), not _is_off_study(k), k))
    styles = _marker_styles(kinds)

    # One day axis for every chunk, so that pages compare; it holds every bar and marker.
    day_min = min(
        0.0,
        float(frame["start_day"].min()) if frame["start_day"].notna().any() else 0.0,
        float(marks["study_day"].min()) if len(marks) else 0.0,
    )
    day_max = max(
        1.0,
        float(frame["end_day"].max()) if frame["end_day"].notna().any() else 0.0,
        float(marks["study_day"].max()) if len(marks) else 0.0,
    )
    ticks = nice_ticks(day_min, day_max, target=8, integer=True)

    levels = list(dict.fromkeys(frame["level"].tolist()))
    level_colour = {
        level: LEVEL_COLOURS[index % len(LEVEL_COLOURS)] for index, level in enumerate(levels)
    }
    marks_by_subject: dict[str, list[tuple[float, str]]] = {}
    for code, day, kind in zip(
        marks["subject_code"], marks["study_day"], marks["kind"], strict=True
    ):
        marks_by_subject.setdefault(code, []).append((float(day), kind))

    legend_items = [
        _LegendItem(
            "First to last dose (colour: dose level)",
            lambda x, y: Rect(x - 6, y - 2.5, 12, 5, fillColor=LEVEL_COLOURS[0], strokeColor=None),
        )
    ]
    if (frame["start_day"] < 1).any():
        legend_items.append(
            _LegendItem(
                "Lead-in (before day 1)",
                lambda x, y: Rect(
                    x - 6, y - 2.5, 12, 5, fillColor=_lighter(LEVEL_COLOURS[0]), strokeColor=None
                ),
            )
        )
    if frame["ongoing"].any():
        legend_items.append(
            _LegendItem(
                "Ongoing",
                lambda x, y: Group(
                    Rect(x - 7, y - 2.5, 7, 5, fillColor=MUTED_COLOUR, strokeColor=None),
                    _arrow_head(x, y, 3.5, MUTED_COLOUR),
                ),
            )
        )
    for kind in kinds:
        symbol, fill, stroke = styles[kind]
        label = "DLT (dose-limiting toxicity)" if _is_dlt(kind) else kind
        legend_items.append(
            _LegendItem(
                label,
                lambda x, y, s=symbol, f=fill, k=stroke: _symbol(s, x, y, 7, f, k),
            )
        )

    total = len(frame)
    per_drawing = max(1, int(per_drawing))
    drawings = []
    for start in range(0, total, per_drawing):
        chunk = frame.iloc[start : start + per_drawing]
        drawings.append(
            _swimmer_chunk(
                chunk,
                marks_by_subject,
                styles,
                level_colour,
                legend_items,
                ticks,
                width=width,
                caption=f"Subjects {start + 1}–{start + len(chunk)} of {total}",
            )
        )
    return drawings


def _lighter(colour, amount: float = 0.55):
    """`colour` mixed with white: the lead-in part of a bar."""
    return colors.Color(
        colour.red + (1 - colour.red) * amount,
        colour.green + (1 - colour.green) * amount,
        colour.blue + (1 - colour.blue) * amount,
    )


def _swimmer_chunk(
    chunk: pd.DataFrame,
    marks_by_subject: dict[str, list[tuple[float, str]]],
    styles: dict[str, tuple[str, object, object]],
    level_colour: dict,
    legend_items: Sequence[_LegendItem],
    ticks: np.ndarray,
    *,
    width: float,
    caption: str,
) -> Drawing:
    n = len(chunk)
    level_w = max(60.0, 0.2 * width)
    code_w = max(45.0, 0.14 * width)
    plot_x0 = level_w + code_w + 4
    plot_x1 = width - 16  # room for an arrow head and the last tick label
    caption_w = stringWidth(caption, FONT, SMALL_SIZE) + 8

    # Height: legend, column headings, the rows, the axis.
    _, legend_h = _legend(legend_items, 0, 0, width - caption_w)
    header_h = 12.0
    axis_h = 30.0
    rows_h = n * ROW_HEIGHT
    height = legend_h + 4 + header_h + rows_h + axis_h
    drawing = Drawing(width, height)

    legend, _ = _legend(legend_items, 0, height, width - caption_w)
    drawing.add(legend)
    drawing.add(
        _string(width, height - 9, caption, size=SMALL_SIZE, anchor="end", fill=MUTED_COLOUR)
    )
    rows_top = axis_h + rows_h
    heading_y = rows_top + 4
    drawing.add(_string(0, heading_y, "Dose level", font=FONT_BOLD))
    drawing.add(_string(level_w, heading_y, "Subject", font=FONT_BOLD))

    x = _Scale(float(ticks[0]), float(ticks[-1]), plot_x0, plot_x1)
    bar_h = ROW_HEIGHT * 0.55

    # Level groups: alternate background bands, a colour bar and the (wrapped) label.
    levels = chunk["level"].to_numpy()
    boundaries = [0, *[i for i in range(1, n) if levels[i] != levels[i - 1]], n]
    for index, (first, stop) in enumerate(zip(boundaries, boundaries[1:], strict=False)):
        y_hi = rows_top - first * ROW_HEIGHT
        y_lo = rows_top - stop * ROW_HEIGHT
        if index % 2:
            drawing.add(
                Rect(0, y_lo, plot_x1, y_hi - y_lo, fillColor=BAND_COLOUR, strokeColor=None)
            )
        if first:
            drawing.add(Line(0, y_hi, plot_x1, y_hi, strokeColor=GRID_COLOUR, strokeWidth=0.5))
        level = chunk["level"].iat[first]
        colour = level_colour[level]
        drawing.add(Rect(0, y_lo + 1, 3, y_hi - y_lo - 2, fillColor=colour, strokeColor=None))
        line_h = TEXT_SIZE + 1.5
        max_lines = max(1, min(3, int((y_hi - y_lo) // line_h)))
        lines = wrap_text(chunk["level_label"].iat[first], level_w - 10, max_lines)
        y = (y_hi + y_lo) / 2 + (len(lines) - 1) * line_h / 2 - TEXT_SIZE * 0.35
        for line in lines:
            drawing.add(_string(6, y, line))
            y -= line_h

    # Vertical grid at the ticks, behind the bars.
    for tick in ticks:
        drawing.add(
            Line(x(tick), axis_h, x(tick), rows_top, strokeColor=GRID_COLOUR, strokeWidth=0.4)
        )

    for row, subject in enumerate(chunk.itertuples(index=False)):
        yc = rows_top - (row + 0.5) * ROW_HEIGHT
        colour = level_colour[subject.level]
        drawing.add(
            _string(
                level_w,
                yc - TEXT_SIZE * 0.35,
                fit_text(subject.subject_code, code_w - 4),
            )
        )
        dosed = not (pd.isna(subject.start_day) or pd.isna(subject.end_day))
        if dosed:
            x_start, x_end = x(subject.start_day), x(subject.end_day)
            # A one-day course still shows as a sliver.
            x_end = max(x_end, x_start + 1.5)
            if subject.start_day < 1:
                x_day1 = min(x(1), x_end)
                drawing.add(
                    Rect(x_start, yc - bar_h / 2, x_day1 - x_start, bar_h,
                         fillColor=_lighter(colour), strokeColor=None)
                )  # fmt: skip
                x_start = x_day1
            if x_end > x_start:
                drawing.add(
                    Rect(x_start, yc - bar_h / 2, x_end - x_start, bar_h,
                         fillColor=colour, strokeColor=None)
                )  # fmt: skip
        if subject.ongoing and dosed:
            drawing.add(_arrow_head(x_end, yc, bar_h / 2 + 1.5, colour))
        elif not dosed:
            drawing.add(
                _string(
                    x(0) + 3,
                    yc - SMALL_SIZE * 0.35,
                    "not dosed",
                    size=SMALL_SIZE,
                    fill=MUTED_COLOUR,
                )
            )
        for day, kind in marks_by_subject.get(subject.subject_code, ()):
            symbol, fill, stroke = styles[kind]
            drawing.add(_symbol(symbol, x(day), yc, 7.5, fill, stroke))

    # The day axis.
    drawing.add(Line(plot_x0, axis_h, plot_x1, axis_h, strokeColor=AXIS_COLOUR, strokeWidth=0.6))
    step = float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    for tick in ticks:
        drawing.add(
            Line(x(tick), axis_h, x(tick), axis_h - 3, strokeColor=AXIS_COLOUR, strokeWidth=0.6)
        )
        drawing.add(
            _string(x(tick), axis_h - 11, _tick_label(tick, step), size=SMALL_SIZE, anchor="middle")
        )
    drawing.add(
        _string(
            (plot_x0 + plot_x1) / 2,
            axis_h - 23,
            "Study day (day 1 = first dose of cycle 1; lead-in days count back, no day 0)",
            anchor="middle",
        )
    )
    return drawing


# --- lab time course --------------------------------------------------------------------------

_RESULT_COLUMNS = ("level", "level_label", "study_day", "value")


def value_axis(values: np.ndarray, lines: Sequence[float] = ()) -> np.ndarray:
    """The ticks of a value axis that holds every value and every grade line: the first tick at
    or below the smallest, the last at or above the largest (nothing is clipped)."""
    points = np.concatenate([np.asarray(values, dtype=float), np.asarray(lines, dtype=float)])
    points = points[np.isfinite(points)]
    if points.size == 0:
        return nice_ticks(0.0, 1.0, target=5)
    return nice_ticks(float(points.min()), float(points.max()), target=5)


def grade_lines_in_view(
    values: np.ndarray, lines: Sequence[tuple[float, str]], *, low: bool
) -> list[tuple[float, str]]:
    """The grade lines within the values' range, plus the next one beyond the worst value (so
    the reader sees how far the worst result is from the next grade); `low` for a test graded
    downwards (e.g. neutrophils), else upwards (e.g. ALT)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    lo, hi = float(values.min()), float(values.max())
    shown = [(value, label) for value, label in lines if lo <= value <= hi]
    beyond = sorted(
        ((value, label) for value, label in lines if (value < lo if low else value > hi)),
        key=lambda item: -item[0] if low else item[0],
    )
    return sorted(shown + beyond[:1])


#: Up to this many subjects a lab figure draws one line per subject; above it, the weekly
#: median with its interquartile band, the range as a whisker and n per point (a line per
#: subject of a 500-subject trial is unreadable and slow to render).
MAX_SUBJECT_LINES = 60


def lab_figure_mode(results: pd.DataFrame) -> str:
    """ "subjects" (one line per subject) or "median" (weekly median, IQR band, range, n)."""
    return "subjects" if results["subject_code"].nunique() <= MAX_SUBJECT_LINES else "median"


def weekly_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per dose level and study week: median, first and third quartile, minimum, maximum and n
    of the values. Week = (study_day - 1) // 7 + 1 for study days >= 1 (day 1 = first dose);
    days before day 1 are the baseline, week 0. Rows without a level, a day or a numeric value
    are left out."""
    frame = pd.DataFrame(
        {
            "level": pd.to_numeric(results["level"], errors="coerce"),
            "day": pd.to_numeric(results["study_day"], errors="coerce"),
            "value": pd.to_numeric(results["value"], errors="coerce"),
        }
    ).dropna()
    frame["week"] = np.where(frame["day"] <= 0, 0, (frame["day"] - 1) // 7 + 1).astype(int)
    grouped = frame.groupby(["level", "week"])["value"]
    return pd.DataFrame(
        {
            "median": grouped.median(),
            "q1": grouped.quantile(0.25),
            "q3": grouped.quantile(0.75),
            "min": grouped.min(),
            "max": grouped.max(),
            "n": grouped.size(),
        }
    ).reset_index()


class Chart(Drawing):
    """A drawing that also tells the range of its value axis (`y_domain`: (low, high), or None
    when there is nothing to plot), so a test can check that no value is cut off."""

    _attrMap = AttrMap(BASE=Drawing, y_domain=AttrMapValue(None, desc="value axis range"))


def lab_time_course(
    results: pd.DataFrame,
    *,
    title: str,
    y_label: str,
    width: float,
    height: float,
    grade_lines: Sequence[tuple[float, str]] = (),
    low: bool = False,
    y_range: tuple[float, float] | None = None,
) -> Chart:
    """One line per subject through their results by study day, coloured by dose level, with
    CTCAE grade lines dashed across the plot.

    `results` has subject_code, level, level_label, study_day and value. The x axis is the
    study day (day 1 the first dose, negative days before it), the y axis, titled `y_label`
    (with its unit), holds every value and the grade lines in view (`grade_lines_in_view`): no
    result is clipped; `y_range` (low, high) widens it, so that panels of one test share an
    axis. The legend names each dose level with its number of subjects. No results: a drawing
    saying so. The drawing's `y_domain` is the (low, high) of its y axis.
    """
    _require(results, ("subject_code", *_RESULT_COLUMNS), "results")
    frame = pd.DataFrame(
        {
            "subject_code": results["subject_code"].map(_plain),
            "level": pd.to_numeric(results["level"], errors="coerce"),
            "level_label": results["level_label"],
            "study_day": pd.to_numeric(results["study_day"], errors="coerce"),
            "value": pd.to_numeric(results["value"], errors="coerce"),
        }
    ).dropna(subset=["level", "study_day", "value"])
    drawing = Chart(width, height)
    drawing.add(
        _string(
            0,
            height - TITLE_SIZE,
            fit_text(title, width, size=TITLE_SIZE, font=FONT_BOLD),
            size=TITLE_SIZE,
            font=FONT_BOLD,
        )
    )
    if frame.empty:
        drawing.add(
            Rect(0, 0, width, height - TITLE_SIZE - 6, fillColor=None, strokeColor=GRID_COLOUR)
        )
        drawing.add(
            _string(
                width / 2,
                (height - TITLE_SIZE) / 2,
                "No results",
                anchor="middle",
                size=TITLE_SIZE,
                fill=MUTED_COLOUR,
            )
        )
        drawing.y_domain = None
        return drawing

    frame = frame.sort_values(["level", "subject_code", "study_day"], kind="stable")
    levels = sorted(frame["level"].unique())
    colour_of = {level: LEVEL_COLOURS[i % len(LEVEL_COLOURS)] for i, level in enumerate(levels)}
    label_of = {}
    for level in levels:
        rows = frame[frame["level"] == level]
        labels = rows["level_label"].dropna()
        name = _plain(labels.iloc[0]) if len(labels) else ""
        number = int(level) if float(level).is_integer() else level
        label_of[level] = f"{name or f'Level {number}'} (n={rows['subject_code'].nunique()})"

    values = frame["value"].to_numpy(dtype=float)
    lines = grade_lines_in_view(np.r_[values, y_range or ()], grade_lines, low=low)
    mode = lab_figure_mode(frame)
    summary = weekly_summary(frame) if mode == "median" else None

    def level_swatch(colour):
        return lambda x, y: Line(x - 7, y, x + 7, y, strokeColor=colour, strokeWidth=1.2)

    def grade_swatch(x, y):
        return Line(x - 7, y, x + 7, y, strokeColor=DLT_COLOUR, strokeWidth=0.8,
                    strokeDashArray=[3, 2])  # fmt: skip

    items = [_LegendItem(label_of[level], level_swatch(colour_of[level])) for level in levels]
    if summary is not None:
        items.append(
            _LegendItem(
                "dot: median; band: interquartile range; whisker: range; number: n",
                lambda x, y: _symbol("circle", x, y, 3.5, MUTED_COLOUR, MUTED_COLOUR),
            )
        )
    if lines:
        items.append(_LegendItem("CTCAE v5.0 grade threshold", grade_swatch))
    _, legend_h = _legend(items, 0, 0, width)
    legend, _ = _legend(items, 0, legend_h, width)
    drawing.add(legend)

    y_ticks = value_axis(values, [*(value for value, _ in lines), *(y_range or ())])
    y_step = float(y_ticks[1] - y_ticks[0])
    y_labels = [_tick_label(tick, y_step) for tick in y_ticks]
    days = frame["study_day"].to_numpy(dtype=float)
    if summary is not None:
        days = summary["week"].to_numpy(dtype=float)
    d_min, d_max = float(days.min()), float(days.max())
    x_ticks = nice_ticks(d_min, d_max, target=10, integer=True)
    label_w = max(stringWidth(label, FONT, SMALL_SIZE) for label in y_labels)
    grade_label_w = max((stringWidth(label, FONT, SMALL_SIZE) for _, label in lines), default=0.0)

    plot_x0 = label_w + 8
    plot_x1 = width - 6 - grade_label_w - (4 if lines else 0)
    plot_y0 = legend_h + 30
    plot_y1 = height - TITLE_SIZE - 6 - TEXT_SIZE - 6
    if plot_y1 - plot_y0 < 20 or plot_x1 - plot_x0 < 20:
        raise ValueError(f"a {width:.0f} x {height:.0f} pt drawing is too small for the chart")
    pad = 0.5 if summary is not None else 0.0  # room for the levels side by side in a week
    sx = _Scale(float(x_ticks[0]) - pad, float(x_ticks[-1]) + pad, plot_x0, plot_x1)
    sy = _Scale(float(y_ticks[0]), float(y_ticks[-1]), plot_y0, plot_y1)
    drawing.y_domain = (float(y_ticks[0]), float(y_ticks[-1]))

    drawing.add(_string(0, plot_y1 + 6, fit_text(y_label, width, size=TEXT_SIZE), size=TEXT_SIZE))
    for tick, label in zip(y_ticks, y_labels, strict=True):
        y = sy(tick)
        drawing.add(Line(plot_x0, y, plot_x1, y, strokeColor=GRID_COLOUR, strokeWidth=0.4))
        drawing.add(Line(plot_x0 - 3, y, plot_x0, y, strokeColor=AXIS_COLOUR, strokeWidth=0.6))
        drawing.add(
            _string(plot_x0 - 5, y - SMALL_SIZE * 0.35, label, size=SMALL_SIZE, anchor="end")
        )
    drawing.add(Line(plot_x0, plot_y0, plot_x0, plot_y1, strokeColor=AXIS_COLOUR, strokeWidth=0.6))
    drawing.add(Line(plot_x0, plot_y0, plot_x1, plot_y0, strokeColor=AXIS_COLOUR, strokeWidth=0.6))
    for tick in x_ticks:
        x = sx(tick)
        drawing.add(Line(x, plot_y0, x, plot_y0 - 3, strokeColor=AXIS_COLOUR, strokeWidth=0.6))
        drawing.add(
            _string(x, plot_y0 - 11, _tick_label(tick, 1), size=SMALL_SIZE, anchor="middle")
        )
    x_title = (
        "Study day (day 1 = first dose of cycle 1; no day 0)"
        if summary is None
        else "Study week (week 1 = days 1-7; 0 = baseline, days before day 1)"
    )
    drawing.add(_string((plot_x0 + plot_x1) / 2, plot_y0 - 23, x_title, anchor="middle"))
    label_y = -math.inf
    for value, label in lines:  # lines go upwards; labels keep a line of room between them
        y = sy(value)
        drawing.add(
            Line(
                plot_x0,
                y,
                plot_x1,
                y,
                strokeColor=DLT_COLOUR,
                strokeWidth=0.8,
                strokeDashArray=[3, 2],
            )  # fmt: skip
        )
        label_y = max(y - SMALL_SIZE * 0.35, label_y + SMALL_SIZE + 1)
        drawing.add(_string(plot_x1 + 3, label_y, label, size=SMALL_SIZE, fill=DLT_COLOUR))

    if summary is not None:
        _draw_summary(drawing, summary, sx, sy, colour_of)
        return drawing
    # One polyline per subject; points as dots while there are few enough to read.
    dots = len(frame) <= 3000
    xs = sx.r0 + (days - sx.d0) * (sx.r1 - sx.r0) / (sx.d1 - sx.d0 or 1)
    ys = sy.r0 + (values - sy.d0) * (sy.r1 - sy.r0) / (sy.d1 - sy.d0 or 1)
    codes = frame["subject_code"].to_numpy()
    level_values = frame["level"].to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    for start, end in zip(starts, ends, strict=True):
        colour = colour_of[level_values[start]]
        points = np.column_stack([xs[start:end], ys[start:end]]).ravel().tolist()
        if end - start > 1:
            drawing.add(PolyLine(points, strokeColor=colour, strokeWidth=0.8))
        if dots or end - start == 1:
            for px, py in zip(points[0::2], points[1::2], strict=True):
                drawing.add(Circle(px, py, 1.3, fillColor=colour, strokeColor=colour,
                                   strokeWidth=0.3))  # fmt: skip
    return drawing


def _draw_summary(drawing: Drawing, summary: pd.DataFrame, sx, sy, colour_of: dict) -> None:
    """Per level: the interquartile band, the range as whiskers, the median line and n."""
    levels = list(colour_of)
    offset = 0.5 / max(len(levels), 1)
    for index, level in enumerate(levels):
        rows = summary[summary["level"] == level]
        if rows.empty:
            continue
        colour = colour_of[level]
        shift = (index - (len(levels) - 1) / 2) * offset  # levels side by side in a week
        xs = [sx(week + shift) for week in rows["week"]]
        band = [*zip(xs, (sy(v) for v in rows["q3"]), strict=True),
                *reversed(list(zip(xs, (sy(v) for v in rows["q1"]), strict=True)))]  # fmt: skip
        if len(rows) > 1:
            drawing.add(
                Polygon(
                    [c for point in band for c in point],
                    fillColor=colour,
                    fillOpacity=0.15,
                    strokeColor=None,
                    strokeWidth=0,
                )  # fmt: skip
            )
        for x, lo, hi, median, n in zip(xs, rows["min"], rows["max"], rows["median"],
                                        rows["n"], strict=True):  # fmt: skip
            drawing.add(Line(x, sy(lo), x, sy(hi), strokeColor=colour, strokeWidth=0.5))
            drawing.add(_string(x, sy(hi) + 2, str(int(n)), size=5, anchor="middle", fill=colour))
            drawing.add(_symbol("circle", x, sy(median), 3.5, colour, colour))
        points = [c for x, m in zip(xs, rows["median"], strict=True) for c in (x, sy(m))]
        if len(rows) > 1:
            drawing.add(PolyLine(points, strokeColor=colour, strokeWidth=1.2))
