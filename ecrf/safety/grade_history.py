"""The grade history of an adverse event: the grade it was at from each date on.

CTCAE v5.0 grades an adverse event by its worst severity, and that worst grade is what the
event records and SDTM AE reports (AETOXGR). The history says how long each grade lasted:
the event is at a step's grade from the step's date until the next step, or until it resolves.
DLT rules that count the time spent at or above a grade read it.

Pure Python over plain values, no Django: the form, the service and the import share these
checks. An empty history is valid (the event stayed at its grade from onset to resolution).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ..ctcae.dictionary import GradeNotAllowedError, UnknownTermError, check_grade

__all__ = [
    "FIELD",
    "check_grade_history",
    "format_grade_history",
    "parse_steps",
    "steps_text",
]

FIELD = "grade_changes"

FIRST_NOT_AT_ONSET = "grade_changes: the first step ({first}) must be on the onset date ({onset})."
DATES_NOT_INCREASING = (
    "grade_changes: the dates must increase; {later} comes after {earlier} in the list."
)
AFTER_RESOLUTION = "grade_changes: a step on {value} comes after the resolution date ({resolved})."
GRADE_NOT_ALLOWED = "grade_changes: step of {value}: {problem}"
WORST_NOT_EVENT_GRADE = (
    "grade_changes: the worst grade of the history ({worst}) is not the event's grade ({grade})."
)
SAME_GRADE_TWICE = (
    "grade_changes: the steps of {earlier} and {later} have the same grade ({grade}); "
    "a step is a change of grade."
)

NOT_A_STEP = (
    "{part!r} is not a step: write each step as date:grade (YYYY-MM-DD:1-5), "
    "steps separated by semicolons."
)

Step = tuple[dt.date, int]


def _grade_problem(term: str, grade: int) -> str | None:
    try:
        check_grade(term, grade)
    except (GradeNotAllowedError, UnknownTermError) as exc:
        return str(exc)
    return None


def check_grade_history(
    *,
    term: str,
    grade: int,
    onset_on: dt.date,
    resolved_on: dt.date | None,
    steps: Sequence[Step],
) -> dict[str, str]:
    """The problems of a grade history, as {"grade_changes": message}; empty when it is valid.

    `steps` are (from date, grade) in the order given. The rules: the first step is on the
    onset date; dates strictly increase; no step after the resolution date (a step on the
    resolution day itself is allowed: the event was at that grade on its last day); every grade
    exists for the CTCAE v5.0 term; the worst grade of the steps is the event's grade (CTCAE
    reports the worst grade); consecutive steps differ in grade. The first problem found is
    reported.
    """
    if not steps:
        return {}
    first_on = steps[0][0]
    if first_on != onset_on:
        return {FIELD: FIRST_NOT_AT_ONSET.format(first=first_on, onset=onset_on)}
    for (earlier, earlier_grade), (later, later_grade) in zip(steps, steps[1:], strict=False):
        if later <= earlier:
            return {FIELD: DATES_NOT_INCREASING.format(later=later, earlier=earlier)}
        if later_grade == earlier_grade:
            return {FIELD: SAME_GRADE_TWICE.format(earlier=earlier, later=later, grade=later_grade)}
    if resolved_on is not None:
        late = [on for on, _ in steps if on > resolved_on]
        if late:
            return {FIELD: AFTER_RESOLUTION.format(value=late[0], resolved=resolved_on)}
    for on, step_grade in steps:
        problem = _grade_problem(term, step_grade)
        if problem is not None:
            return {FIELD: GRADE_NOT_ALLOWED.format(value=on, problem=problem)}
    worst = max(step_grade for _, step_grade in steps)
    if worst != grade:
        return {FIELD: WORST_NOT_EVENT_GRADE.format(worst=worst, grade=grade)}
    return {}


def format_grade_history(steps: Sequence[Step]) -> str:
    """The history as one line: "grade 2 from 2026-03-01, grade 3 from 2026-03-04"."""
    return ", ".join(f"grade {grade} from {on.isoformat()}" for on, grade in steps)


def steps_text(steps: Sequence[Step]) -> str:
    """The history in its file form: "2026-03-01:2;2026-03-04:3" (empty for no history)."""
    return ";".join(f"{on.isoformat()}:{grade}" for on, grade in steps)


def parse_steps(text: str) -> list[Step]:
    """Read the file form of a history, in the order written; raise ValueError naming the part
    that is not "YYYY-MM-DD:grade". Blank text is no history; empty parts are skipped."""
    steps = []
    for raw in text.split(";"):
        part = raw.strip()
        if not part:
            continue
        date_text, sep, grade_text = part.partition(":")
        try:
            if not sep or not grade_text.strip().isdigit():
                raise ValueError(part)
            steps.append((dt.date.fromisoformat(date_text.strip()), int(grade_text)))
        except ValueError:
            raise ValueError(NOT_A_STEP.format(part=part)) from None
    return steps
