"""The grade history rules, at their boundaries.

Grades allowed per term are CTCAE v5.0's: Fatigue has grades 1-3 only, Febrile neutropenia
3-5, Capillary leak syndrome 1-5.
"""

import datetime as dt

import pytest

from ecrf.safety.grade_history import (
    check_grade_history,
    format_grade_history,
    parse_steps,
    steps_text,
)

ONSET = dt.date(2026, 3, 1)
RESOLVED = dt.date(2026, 3, 10)


def d(day: int) -> dt.date:
    return dt.date(2026, 3, day)


def check(steps, *, term="Capillary leak syndrome", grade=3, resolved_on=RESOLVED):
    return check_grade_history(
        term=term, grade=grade, onset_on=ONSET, resolved_on=resolved_on, steps=steps
    )


@pytest.mark.parametrize(
    ("steps", "kwargs"),
    [
        ((), {}),
        (((d(1), 3),), {}),
        (((d(1), 2), (d(4), 3)), {}),
        # 2 -> 3 -> 1: the worst grade (3) is the event's.
        (((d(1), 2), (d(4), 3), (d(8), 1)), {}),
        # The last step on the resolution day is allowed.
        (((d(1), 2), (d(10), 3)), {}),
        # An ongoing event takes steps at any later date.
        (((d(1), 2), (d(28), 3)), {"resolved_on": None}),
        # Consecutive days are strictly increasing.
        (((d(1), 2), (d(2), 3)), {}),
        # Fatigue's highest CTCAE v5.0 grade is 3.
        (((d(1), 1), (d(3), 3)), {"term": "Fatigue"}),
        # Febrile neutropenia starts at grade 3.
        (((d(1), 3), (d(3), 4)), {"term": "Febrile neutropenia", "grade": 4}),
    ],
)
def test_valid_histories_have_no_problem(steps, kwargs):
    assert check(steps, **kwargs) == {}


@pytest.mark.parametrize(
    ("steps", "kwargs", "message"),
    [
        (
            ((d(2), 3),),
            {},
            "grade_changes: the first step (2026-03-02) must be on the onset date (2026-03-01).",
        ),
        (
            ((dt.date(2026, 2, 28), 3),),
            {},
            "grade_changes: the first step (2026-02-28) must be on the onset date (2026-03-01).",
        ),
        (
            ((d(1), 2), (d(4), 3), (d(4), 1)),
            {},
            "grade_changes: the dates must increase; 2026-03-04 comes after 2026-03-04 "
            "in the list.",
        ),
        (
            ((d(1), 2), (d(5), 3), (d(4), 1)),
            {},
            "grade_changes: the dates must increase; 2026-03-04 comes after 2026-03-05 "
            "in the list.",
        ),
        # A day after the resolution is refused.
        (
            ((d(1), 2), (d(11), 3)),
            {},
            "grade_changes: a step on 2026-03-11 comes after the resolution date (2026-03-10).",
        ),
        (
            ((d(1), 2), (d(4), 3)),
            {"grade": 2},
            "grade_changes: the worst grade of the history (3) is not the event's grade (2).",
        ),
        (
            ((d(1), 2), (d(4), 3)),
            {"grade": 4},
            "grade_changes: the worst grade of the history (3) is not the event's grade (4).",
        ),
        (
            ((d(1), 3), (d(4), 3)),
            {},
            "grade_changes: the steps of 2026-03-01 and 2026-03-04 have the same grade (3); "
            "a step is a change of grade.",
        ),
        (
            ((d(1), 3), (d(4), 4)),
            {"term": "Fatigue", "grade": 4},
            "grade_changes: step of 2026-03-04: Grade 4 is not allowed for Fatigue in "
            "CTCAE v5.0; allowed grades: 1, 2, 3.",
        ),
        (
            ((d(1), 2), (d(4), 3)),
            {"term": "Febrile neutropenia"},
            "grade_changes: step of 2026-03-01: Grade 2 is not allowed for Febrile neutropenia "
            "in CTCAE v5.0; allowed grades: 3, 4, 5.",
        ),
    ],
)
def test_invalid_histories_name_the_problem_and_the_values(steps, kwargs, message):
    assert check(steps, **kwargs) == {"grade_changes": message}


def test_a_grade_outside_1_to_5_is_refused():
    problems = check(((d(1), 3), (d(4), 6)), grade=6)
    assert "step of 2026-03-04" in problems["grade_changes"]


def test_the_history_reads_as_one_line():
    assert format_grade_history([(d(1), 2), (d(4), 3)]) == (
        "grade 2 from 2026-03-01, grade 3 from 2026-03-04"
    )
    assert format_grade_history([]) == ""


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("", []),
        ("  ", []),
        ("2026-03-01:2", [(d(1), 2)]),
        ("2026-03-01:2;2026-03-04:3", [(d(1), 2), (d(4), 3)]),
        (" 2026-03-01 : 2 ; 2026-03-04:3; ", [(d(1), 2), (d(4), 3)]),
        # The order written is kept: the validator, not the parser, refuses it.
        ("2026-03-04:3;2026-03-01:2", [(d(4), 3), (d(1), 2)]),
    ],
)
def test_the_file_form_of_a_history_is_read_in_the_order_written(text, steps):
    assert parse_steps(text) == steps


@pytest.mark.parametrize(
    "text", ["2026-03-01", "x:2", "2026-02-30:2", "2026-03-01:-1", "2026-03-01:2.5"]
)
def test_a_part_that_is_not_a_step_is_named(text):
    bad = text.split(";")[0].strip()
    with pytest.raises(ValueError) as info:
        parse_steps(text)
    assert str(info.value) == (
        f"{bad!r} is not a step: write each step as date:grade (YYYY-MM-DD:1-5), "
        "steps separated by semicolons."
    )


def test_the_file_form_reads_back():
    steps = [(d(1), 2), (d(4), 3), (d(8), 1)]
    assert steps_text(steps) == "2026-03-01:2;2026-03-04:3;2026-03-08:1"
    assert parse_steps(steps_text(steps)) == steps
