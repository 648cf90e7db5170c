"""The safety summary's figures (issue #6, section 9): swimmer plot and lab time courses.

Pure functions from pandas frames to reportlab Drawings; the tests render them through the
project's PDF frame and read the PDF back with pdfplumber.
"""

import io
import time
from collections import Counter

import numpy as np
import pandas as pd
import pdfplumber
import pytest
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from ecrf.reports import pdf
from ecrf.reports.figures import (
    ELLIPSIS,
    FONT,
    SUBJECTS_PER_DRAWING,
    fit_text,
    lab_time_course,
    nice_ticks,
    swimmer_plot,
    weekly_summary,
    wrap_text,
)

# The room a flowable has in a portrait frame (the frame pads 6 pt on each side).
WIDTH = pdf.usable_width() - 12
LABELS = {1: "IL-2 3 MIU/day", 2: "IL-2 6 MIU/day", 3: "IL-2 9 MIU/day", 4: "IL-2 12 MIU/day"}


def render(drawings) -> list[str]:
    """The text of every page of a PDF built from `drawings` with the project's frame."""
    out = io.BytesIO()
    info = pdf.DocumentInfo(title="Safety summary", study="TEST-IL2", cutoff="2026-11-01")
    pdf.build(out, list(drawings), info)
    out.seek(0)
    with pdfplumber.open(out) as document:
        return [page.extract_text() or "" for page in document.pages]


def words(pages: list[str]) -> Counter:
    return Counter(word for page in pages for word in page.split())


def subjects_frame(n: int, levels: int = 4, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    level = np.sort(rng.integers(1, levels + 1, n))
    return pd.DataFrame(
        {
            "subject_code": [f"S-{i:03d}" for i in range(1, n + 1)],
            "level": level,
            "level_label": [LABELS.get(value, f"Level {value}") for value in level],
            "start_day": np.where(rng.random(n) < 0.5, -21, 1),
            "end_day": rng.integers(1, 180, n),
            "ongoing": rng.random(n) < 0.3,
        }
    )


def markers_frame(subjects: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for index, subject in enumerate(subjects.itertuples(index=False)):
        if index % 4 == 0:
            rows.append((subject.subject_code, 12, "DLT"))
        if not subject.ongoing:
            rows.append((subject.subject_code, int(subject.end_day) + 10, "Off study"))
    return pd.DataFrame(rows, columns=["subject_code", "study_day", "kind"])


# --- swimmer plot -----------------------------------------------------------------------------


def test_swimmer_plot_shows_codes_levels_and_legend_in_the_pdf():
    subjects = subjects_frame(17)
    markers = markers_frame(subjects)
    drawings = swimmer_plot(subjects, markers, width=WIDTH)
    assert len(drawings) == 1
    assert isinstance(drawings[0], Drawing)

    pages = render(drawings)
    text = "\n".join(pages)
    counts = words(pages)
    for code in subjects["subject_code"]:
        assert counts[code] == 1, code
    for label in subjects["level_label"].unique():
        assert label in text
    for legend in (
        "DLT (dose-limiting toxicity)",
        "Off study",
        "Ongoing",
        "First to last dose",
        "Lead-in",
    ):
        assert legend in text
    assert "Study day (day 1 = first dose of cycle 1; lead-in days count back, no day 0)" in text
    assert "Subjects 1–17 of 17" in text


def test_swimmer_plot_chunks_100_subjects_into_pages_each_code_once():
    subjects = subjects_frame(100)
    drawings = swimmer_plot(subjects, markers_frame(subjects), width=WIDTH)

    assert SUBJECTS_PER_DRAWING == 45
    assert len(drawings) == 3  # 45 + 45 + 10
    frame_height = 297 * mm - 2 * pdf.MARGIN - 4 * mm - 12
    assert all(d.height <= 250 * mm < frame_height for d in drawings)
    assert drawings[0].height == drawings[1].height > drawings[2].height

    pages = render(drawings)
    assert len(pages) == 3
    counts = words(pages)
    assert all(counts[code] == 1 for code in subjects["subject_code"])
    assert "Subjects 46–90 of 100" in pages[1]
    # The day axis is the same on every page.
    axis = [page.split("Study day")[0].split("\n")[-2] for page in pages]
    assert len(set(axis)) == 1


def test_swimmer_plot_of_500_subjects_gives_12_drawings():
    subjects = subjects_frame(500, levels=6)
    drawings = swimmer_plot(subjects, markers_frame(subjects), width=WIDTH)
    assert len(drawings) == 12
    assert len(swimmer_plot(subjects, None, width=WIDTH, per_drawing=100)) == 5


def test_swimmer_plot_groups_by_level_in_escalation_order():
    subjects = pd.DataFrame(
        {
            "subject_code": ["C-1", "A-1", "B-1", "A-2"],
            "level": [3, 1, 2, 1],
            "level_label": ["Third", "First", "Second", "First"],
            "start_day": [1, 1, None, -21],
            "end_day": [10, 5, None, 40],
            "ongoing": [False, True, False, False],
        }
    )
    no_markers = pd.DataFrame(columns=["subject_code", "study_day", "kind"])
    pages = render(swimmer_plot(subjects, no_markers, width=WIDTH))
    text = pages[0]
    order = [text.index(code) for code in ("A-2", "A-1", "B-1", "C-1")]
    assert order == sorted(order)  # level 1 (longest first), then 2, then 3
    assert "not dosed" in text  # B-1 was never dosed
    assert "First" in text and "Second" in text and "Third" in text
    assert "DLT" not in text  # no markers, no marker legend


def test_swimmer_plot_empty_and_invalid_input():
    subjects = subjects_frame(3)
    assert swimmer_plot(subjects.iloc[:0], markers_frame(subjects), width=WIDTH) == []
    with pytest.raises(ValueError, match="end_day"):
        swimmer_plot(subjects.drop(columns="end_day"), markers_frame(subjects), width=WIDTH)
    with pytest.raises(ValueError, match="kind"):
        swimmer_plot(subjects, pd.DataFrame({"subject_code": [], "study_day": []}), width=WIDTH)


def test_swimmer_plot_prints_data_literally_and_truncates_long_text():
    long_label = "IL-2 12 MIU/day with a very long description " * 4
    subjects = pd.DataFrame(
        {
            "subject_code": ["<b>X&amp;1</b>", "S-002", "S-LONG-CODE-THAT-NEVER-ENDS-0003"],
            "level": [1, 2, 2],
            "level_label": ["<i>low</i> & <u>dose</u>", long_label, long_label],
            "start_day": [1, 1, 1],
            "end_day": [30, 20, 10],
            "ongoing": [True, False, False],
        }
    )
    markers = pd.DataFrame(
        {
            "subject_code": ["<b>X&amp;1</b>", "S-002", "NOT-A-SUBJECT"],
            "study_day": [5, 25, 3],
            "kind": ["DLT", "<b>SAE</b>", "Ghost kind"],
        }
    )
    text = render(swimmer_plot(subjects, markers, width=WIDTH))[0]
    assert "<b>X&amp;1</b>" in text
    assert "<i>low</i> & <u>dose</u>" in text
    assert "<b>SAE</b>" in text  # another kind: in the legend, as given
    assert "Ghost kind" not in text  # markers of unknown subjects are ignored
    assert "S-LONG-CODE-T" in text and "S-LONG-CODE-THAT-NEVER-ENDS-0003" not in text
    assert long_label.strip() not in text.replace("\n", " ")
    assert ELLIPSIS in text


def test_swimmer_plot_extends_the_axis_to_markers_before_day_1_and_after_the_bars():
    subjects = subjects_frame(2)
    subjects["start_day"], subjects["end_day"] = [1, None], [20, None]
    markers = pd.DataFrame(
        {"subject_code": ["S-001", "S-002"], "study_day": [95, -12], "kind": ["Off study", "DLT"]}
    )
    text = render(swimmer_plot(subjects, markers, width=WIDTH))[0]
    axis = text.split("Study day")[0].split("\n")[-2].split()
    values = [int(value) for value in axis]
    assert values[0] <= -12 and values[-1] >= 95


# --- text helpers and scales ------------------------------------------------------------------


def test_fit_text_and_wrap_text():
    assert fit_text("short", 100) == "short"
    assert fit_text(None, 100) == ""
    assert fit_text("a\nb\tc", 100) == "a b c"  # one line
    long = "x" * 200
    fitted = fit_text(long, 50)
    assert fitted.endswith(ELLIPSIS) and stringWidth(fitted, FONT, 7) <= 50
    assert fit_text(long, 1) == ""

    lines = wrap_text("IL-2 12 MIU/day with imatinib 400 mg and cyclophosphamide 50 mg", 60, 2)
    assert len(lines) == 2
    assert lines[-1].endswith(ELLIPSIS)
    assert all(stringWidth(line, FONT, 7) <= 60 for line in lines)
    assert wrap_text("IL-2 3 MIU/day", 200, 3) == ["IL-2 3 MIU/day"]


@pytest.mark.parametrize(
    ("lo", "hi", "integer", "expected"),
    [
        (0, 180, True, [0, 25, 50, 75, 100, 125, 150, 175, 200]),
        (-12, 95, True, [-20, 0, 20, 40, 60, 80, 100]),
        (0, 1, True, [0, 1]),
        (12.3, 58.9, False, [10, 20, 30, 40, 50, 60]),
        (5, 5, False, [4.5, 5.0, 5.5]),
    ],
)
def test_nice_ticks(lo, hi, integer, expected):
    target = 8 if integer else 5
    ticks = nice_ticks(lo, hi, target=target, integer=integer)
    assert ticks[0] <= lo and ticks[-1] >= hi
    if lo < 0 or hi - lo > 1:
        assert ticks.tolist() == pytest.approx(expected)


# --- lab time course --------------------------------------------------------------------------


def test_weekly_summary_by_level_and_study_week():
    results = pd.DataFrame(
        [
            # level, label, study day, value
            (1, "IL-2 3 MIU/day", -7, 10.0),  # baseline: week 0
            (1, "IL-2 3 MIU/day", 0, 30.0),  # baseline: week 0
            (1, "IL-2 3 MIU/day", 1, 5.0),  # week 1 = days 1-7
            (1, "IL-2 3 MIU/day", 7, 7.0),
            (1, "IL-2 3 MIU/day", 7, 100.0),
            (1, "IL-2 3 MIU/day", 8, 1.0),  # week 2 = days 8-14
            (1, "IL-2 3 MIU/day", 14, 3.0),
            (1, "IL-2 3 MIU/day", 15, 4.0),  # week 3
            (1, "IL-2 3 MIU/day", 16, None),  # no value: left out
            (2, "IL-2 6 MIU/day", 22, 50.0),  # week 4
            (2, "IL-2 6 MIU/day", 28, 70.0),  # week 4
            (2, "IL-2 6 MIU/day", 29, 9.0),  # week 5
            (2, None, 1, 2.0),  # label given once is enough
        ],
        columns=["level", "level_label", "study_day", "value"],
    )
    summary = weekly_summary(results)
    assert list(summary.columns) == ["level", "week", "median", "q1", "q3", "min", "max", "n"]
    assert list(summary[["level", "week", "median", "n"]].itertuples(index=False, name=None)) == [
        (1, 0, 20.0, 2),
        (1, 1, 7.0, 3),
        (1, 2, 2.0, 2),
        (1, 3, 4.0, 1),
        (2, 1, 2.0, 1),
        (2, 4, 60.0, 2),
        (2, 5, 9.0, 1),
    ]
    week_1 = summary.iloc[1]  # 5, 7 and 100: quartiles by linear interpolation
    assert (week_1["min"], week_1["q1"], week_1["q3"], week_1["max"]) == (5.0, 6.0, 53.5, 100.0)


def test_weekly_summary_of_nothing():
    empty = pd.DataFrame(columns=["level", "level_label", "study_day", "value"])
    assert weekly_summary(empty).empty


def lab_results(n: int, seed: int = 2, subjects: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject = rng.integers(0, subjects, n)
    level = subject % 4 + 1
    day = rng.integers(-14, 120, n)
    return pd.DataFrame(
        {
            "subject_code": [f"S-{i:03d}" for i in subject],
            "level": level,
            "level_label": pd.Series(level).map(LABELS),
            "study_day": day,
            "value": 30 + 5 * level * np.sin(day / 20) + rng.normal(0, 8, n),
        }
    )


def test_lab_time_course_renders_title_axes_and_legend():
    drawing = lab_time_course(
        lab_results(2000), title="ALT by dose level", y_label="ALT (U/L)", width=WIDTH, height=220
    )
    assert (drawing.width, drawing.height) == (WIDTH, 220)
    text = render([drawing])[0]
    for expected in (
        "ALT by dose level",
        "ALT (U/L)",
        "Study day (day 1 = first dose of cycle 1; no day 0)",
        *(f"{label} (n=10)" for label in LABELS.values()),  # 40 subjects, 10 per level
    ):
        assert expected in text


def _neutrophils() -> pd.DataFrame:
    # S-1 falls to 0.4 x 10^9/L on day 12: CTCAE v5.0 'Neutrophil count decreased' grade 4
    # (<0.5); S-2 to 0.9, grade 3 (<1.0 - 0.5). The old weekly medians hid both.
    return pd.DataFrame(
        [
            ("S-1", 1, "IL-2 3 MIU/day", -3, 4.1),
            ("S-1", 1, "IL-2 3 MIU/day", 12, 0.4),
            ("S-1", 1, "IL-2 3 MIU/day", 19, 2.2),
            ("S-2", 2, "IL-2 6 MIU/day", -1, 3.6),
            ("S-2", 2, "IL-2 6 MIU/day", 8, 0.9),
            ("S-3", 2, "IL-2 6 MIU/day", 8, 12.5),
        ],
        columns=["subject_code", "level", "level_label", "study_day", "value"],
    )


NEUTROPHIL_LINES = ((1.5, "Grade 2: <1.5"), (1.0, "Grade 3: <1.0"), (0.5, "Grade 4: <0.5"))


def test_the_lab_axis_holds_every_value_and_the_grade_lines_in_view():
    results = _neutrophils()
    drawing = lab_time_course(
        results, title="Neutrophils", y_label="Neutrophils (10^9/L)", width=WIDTH, height=220,
        grade_lines=NEUTROPHIL_LINES, low=True,
    )  # fmt: skip
    low, high = drawing.y_domain
    assert low <= results["value"].min() == 0.4 and high >= results["value"].max() == 12.5
    text = render([drawing])[0]
    for expected in ("Grade 2: <1.5", "Grade 3: <1.0", "Grade 4: <0.5", "Neutrophils (10^9/L)",
                     "IL-2 3 MIU/day (n=1)", "IL-2 6 MIU/day (n=2)"):  # fmt: skip
        assert expected in text
    # Without the grade 4 value, the grade 4 line is the next one beyond the worst value (0.9):
    # still drawn, and the axis reaches down to it.
    milder = results[results["value"] != 0.4]
    drawing = lab_time_course(
        milder, title="Neutrophils", y_label="Neutrophils (10^9/L)", width=WIDTH, height=220,
        grade_lines=NEUTROPHIL_LINES, low=True,
    )  # fmt: skip
    assert drawing.y_domain[0] <= 0.5
    assert "Grade 4: <0.5" in render([drawing])[0]


@pytest.mark.parametrize(
    ("values", "low", "shown"),
    [
        # ALT / ULN up to 4.2: ULN and 3 x ULN in view, 5 x ULN the next beyond; not 20 x ULN.
        ([0.5, 4.2], False, [1.0, 3.0, 5.0]),
        ([0.5, 0.9], False, [1.0]),  # all normal: only the ULN line, the next beyond
        ([0.5, 25.0], False, [1.0, 3.0, 5.0, 20.0]),
    ],
)
def test_grade_lines_in_view_add_the_next_beyond_the_worst_value(values, low, shown):
    from ecrf.reports.figures import grade_lines_in_view

    alt = ((1.0, "ULN"), (3.0, "G2"), (5.0, "G3"), (20.0, "G4"))
    assert [v for v, _ in grade_lines_in_view(np.array(values), alt, low=low)] == shown


def test_lab_time_course_prints_data_literally():
    results = lab_results(50)
    results["level_label"] = "<b>bold</b> & co"
    text = render(
        [lab_time_course(results, title="<i>T</i>", y_label="x<br/>y", width=WIDTH, height=200)]
    )[0]
    assert "<b>bold</b> & co" in text and "<i>T</i>" in text and "x<br/>y" in text


def test_lab_time_course_without_results_says_so():
    empty = pd.DataFrame(columns=["subject_code", "level", "level_label", "study_day", "value"])
    drawing = lab_time_course(empty, title="CD4 count", y_label="cells/uL", width=WIDTH, height=150)
    text = render([drawing])[0]
    assert "No results" in text and "CD4 count" in text


def best_of(runs: int, function) -> tuple[float, object]:
    """The fastest of `runs` calls (the machine may be shared) and the last result."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def test_figures_timing_for_250000_lab_rows_and_500_subjects(capsys):
    """Not a timed assertion: prints the timings (best of 3) for the report."""
    results = lab_results(250_000, subjects=500)
    aggregate, summary = best_of(3, lambda: weekly_summary(results))
    assert summary["n"].sum() == 250_000
    chart, drawing = best_of(
        3, lambda: lab_time_course(results, title="ALT", y_label="U/L", width=WIDTH, height=220)
    )
    rendered, _ = best_of(1, lambda: render([drawing]))
    subjects = subjects_frame(500, levels=6)
    markers = markers_frame(subjects)
    swimmer, drawings = best_of(3, lambda: swimmer_plot(subjects, markers, width=WIDTH))
    swimmer_pdf, pages = best_of(1, lambda: render(drawings))
    assert len(pages) == 12
    with capsys.disabled():
        print(
            f"\n[figures timing, best of 3] weekly_summary 250k rows: {aggregate * 1000:.0f} ms; "
            f"lab_time_course 250k rows: {chart * 1000:.0f} ms (PDF {rendered * 1000:.0f} ms); "
            f"swimmer_plot 500 subjects, {len(drawings)} drawings: {swimmer * 1000:.0f} ms "
            f"(PDF + text extraction {swimmer_pdf * 1000:.0f} ms)"
        )


def test_swimmer_plot_tolerates_missing_values():
    subjects = pd.DataFrame(
        {
            "subject_code": ["S-001", "S-002", "S-003", None],
            "level": [1, None, 2, 2],
            "level_label": ["One", None, None, None],
            "start_day": [1, None, 1, 1],
            "end_day": [10, None, 5, 3],
            "ongoing": [None, True, False, pd.NA],
        }
    )
    markers = pd.DataFrame(
        {"subject_code": ["S-001", "S-003"], "study_day": [3, None], "kind": [None, "DLT"]}
    )
    drawings = swimmer_plot(subjects, markers, width=WIDTH)
    text = render(drawings)[0]
    assert "One" in text and "Level 2" in text and "No dose level" in text
    assert "Other event" in text  # a marker without a kind
    assert "DLT" not in text  # its only DLT marker has no day
    assert text.index("Level 2") < text.index("No dose level")  # no level: the last group


def test_many_subjects_give_weekly_medians_with_the_range_and_n():
    from ecrf.reports.figures import MAX_SUBJECT_LINES, lab_figure_mode

    results = lab_results(5000, subjects=MAX_SUBJECT_LINES + 1)
    assert lab_figure_mode(results) == "median"
    assert lab_figure_mode(lab_results(500, subjects=MAX_SUBJECT_LINES)) == "subjects"
    summary = weekly_summary(results)
    assert summary["n"].sum() == 5000
    # A second route: the same numbers by plain pandas on week numbers computed here.
    week = results["study_day"].map(lambda day: 0 if day <= 0 else (day - 1) // 7 + 1)
    expected = results.assign(week=week).groupby(["level", "week"])["value"]
    first = summary.iloc[0]
    key = (first["level"], first["week"])
    assert first["min"] == expected.min()[key] and first["max"] == expected.max()[key]
    assert first["median"] == pytest.approx(expected.median()[key])
    drawing = lab_time_course(results, title="ALT", y_label="ALT / ULN", width=WIDTH, height=220)
    low, high = drawing.y_domain
    assert low <= results["value"].min() and high >= results["value"].max()
    text = render([drawing])[0]
    assert "Study week" in text and "interquartile range" in text
