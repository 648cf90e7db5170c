"""Consistency checks across the forms: what one form says that another contradicts.

Pure functions over plain values, no ORM (DESIGN.md, rule 1). Four checks, each a code of its
own (the check codes are part of the safety summary's JSON):

* ``ae_grade_vs_lab``: an adverse event whose CTCAE v5.0 term has a lab criterion, graded
  higher than any result of that term around the event. The grade a result supports is the one
  the project's CTCAE lab grading (``ecrf.ctcae.labs``) stored on it (``ctcae_term`` and
  ``ctcae_grade``), so there is no second table of thresholds here. The window runs from 7 days
  before onset to 7 days after resolution (or onset); an ongoing event's window has no end.
* ``action_vs_dosing``: an agent "reduced", "interrupted" or "withdrawn" on the adverse event
  form, while every dose of that agent recorded from onset to the end of the event (at least 14
  days after onset; an ongoing event: its last recorded dose) was given in full.
* ``attribution_before_first_dose``: an event at least possibly related to an agent whose first
  dose given came after the onset.
* ``term_impossible_for_subject``: a CTCAE term that the subject's sex or age rules out.

Each finding names the record and field a data query is raised on: the adverse event, on its
grade or term, or on the form as a whole for an agent's attribution or action.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from ..ctcae.labs import LAB_TESTS

AE_GRADE_VS_LAB = "ae_grade_vs_lab"
ACTION_VS_DOSING = "action_vs_dosing"
ATTRIBUTION_BEFORE_FIRST_DOSE = "attribution_before_first_dose"
TERM_IMPOSSIBLE_FOR_SUBJECT = "term_impossible_for_subject"
CHECKS = (
    AE_GRADE_VS_LAB,
    ACTION_VS_DOSING,
    ATTRIBUTION_BEFORE_FIRST_DOSE,
    TERM_IMPOSSIBLE_FOR_SUBJECT,
)

EVENT_MODEL = "ecrf.AdverseEvent"

# Days around an event in which a lab result counts for its grade.
LAB_WINDOW_DAYS = 7
# The least span after onset in which an action on the drug shows in the dosing records: a
# short event can still hold the next planned dose.
ACTION_WINDOW_DAYS = 14

RELATED = frozenset({"possible", "probable", "definite"})
DOSE_CHANGING_ACTIONS = frozenset({"reduced", "interrupted", "withdrawn"})
ATTRIBUTION_WORDS = {"possible": "possibly", "probable": "probably", "definite": "definitely"}

# Term -> the test whose results grade it, from the lab grading's own table (ecrf.ctcae.labs).
# Terms a value alone cannot grade (Hyperglycemia in v5.0) are not in it.
LAB_TERM_TESTS = {
    term: test.code
    for test in LAB_TESTS.values()
    for term in (test.low_term, test.high_term)
    if term is not None
}

# Where a CTCAE v5.0 grade has an arm that the value alone cannot show, the least lab grade a
# result must have for that event grade (the grade of the same numbers without the symptom, or
# the highest numeric grade below one that has no numeric criterion). CTCAE v5.0 wording:
_SYMPTOM_ARMS = {
    # "Grade 2: Symptomatic with <LLN - 3.0 mmol/L; intervention indicated"
    ("Hypokalemia", 2): 1,
    # "Grade 3: 125-129 mmol/L symptomatic; 120-124 mmol/L regardless of symptoms"
    ("Hyponatremia", 3): 2,
    # "Grade 3: >2.0 - 5.0 x ULN with signs or symptoms; >5.0 x ULN and asymptomatic"
    # "Grade 4: >5.0 x ULN and with signs or symptoms"
    ("Lipase increased", 3): 2,
    ("Lipase increased", 4): 3,
    ("Serum amylase increased", 3): 2,
    ("Serum amylase increased", 4): 3,
    # "Grade 4: >40.0 degrees C (>104.0 degrees F) for >24 hrs" (grade 3: the same, <=24 hrs)
    ("Fever", 4): 3,
    # "Grade 4: Life-threatening consequences; urgent intervention indicated" (no number)
    ("Anemia", 4): 3,
    ("Hypoalbuminemia", 4): 3,
    # "Grade 4: Clinical manifestations of leucostasis; urgent intervention indicated"
    ("Leukocytosis", 4): 3,
}

# Terms of one sex, from the definitions in NCI's CTCAE v5.0 clean copy
# (../shared/ctcae/NCI_CTCAE_v5.0_clean_utf8.csv): organs only that sex has ("the prostate
# gland", "the testis", "the uterine cervix", "the vagina"...), semen, menses, pregnancy.
# "Gynecomastia" is "excessive development of the breasts in males", "Feminization acquired"
# happens "in males". Terms that occur in both sexes are left out: "Breast pain", "Lactation
# disorder" ("can be observed in males"), "Virilization" ("a female or prepubertal male").
MALE_ONLY_TERMS = frozenset(
    {
        "Azoospermia",
        "Ejaculation disorder",
        "Erectile dysfunction",
        "Feminization acquired",
        "Gynecomastia",
        "Oligospermia",
        "Penile infection",
        "Penile pain",
        "Prostate infection",
        "Prostatic hemorrhage",
        "Prostatic obstruction",
        "Prostatic pain",
        "Scrotal infection",
        "Scrotal pain",
        "Spermatic cord anastomotic leak",
        "Spermatic cord hemorrhage",
        "Spermatic cord obstruction",
        "Testicular disorder",
        "Testicular hemorrhage",
        "Testicular pain",
    }
)
FEMALE_ONLY_TERMS = frozenset(
    {
        "Amenorrhea",
        "Cervicitis infection",
        "Dysmenorrhea",
        "Fallopian tube anastomotic leak",
        "Fallopian tube obstruction",
        "Fallopian tube perforation",
        "Fetal growth retardation",
        "Hematosalpinx",
        "Irregular menstruation",
        "Menorrhagia",
        "Ovarian hemorrhage",
        "Ovarian infection",
        "Ovarian rupture",
        "Ovulation pain",
        "Pregnancy loss",
        "Premature delivery",
        "Premature menopause",
        "Uterine anastomotic leak",
        "Uterine fistula",
        "Uterine hemorrhage",
        "Uterine infection",
        "Uterine obstruction",
        "Uterine pain",
        "Uterine perforation",
        "Vaginal anastomotic leak",
        "Vaginal discharge",
        "Vaginal dryness",
        "Vaginal fistula",
        "Vaginal hemorrhage",
        "Vaginal infection",
        "Vaginal inflammation",
        "Vaginal obstruction",
        "Vaginal pain",
        "Vaginal perforation",
        "Vaginal stricture",
        "Vulval infection",
    }
)
# Terms of an age, from the same definitions, as the oldest age in days at which they occur:
# "Death neonatal": "Newborn death occurring during the first 28 days after birth"; the growth
# and puberty terms describe growing children ("greater growth than expected for age", "stature
# smaller than normal as expected for age", "unusually late/early sexual maturity"), taken as
# up to 18 years.
NEONATAL_DAYS = 28
CHILD_DAYS = 18 * 365
AGE_LIMITED_TERMS = {
    "Death neonatal": NEONATAL_DAYS,
    "Delayed puberty": CHILD_DAYS,
    "Growth accelerated": CHILD_DAYS,
    "Growth suppression": CHILD_DAYS,
    "Precocious puberty": CHILD_DAYS,
}

SEX_WORDS = {"M": "male", "F": "female"}

NO_LAB_RESULT = (
    "{term} grade {grade}, but no {test} result {period} (grade {needed} or more needed)."
)
LAB_BELOW_GRADE = (
    "{term} grade {grade}, but no {test} of grade {needed} or more {period}; "
    "the {extreme} was {value} {unit}{ratio} (grade {seen})."
)
ACTION_NOT_IN_DOSING = (
    "{agent} {action} on the adverse event form, but every {agent} dose from {start} to {end} "
    "was given as planned."
)
ATTRIBUTED_BEFORE_FIRST_DOSE = (
    "{term} (onset {onset}) is {attribution} related to {agent}, but the first {agent} dose "
    "was given on {first}."
)
TERM_WRONG_SEX = "{term} is a term of {other} subjects; this subject is {sex}."
TERM_WRONG_AGE = "{term} cannot occur at the subject's age (born {birth_year}, onset {onset})."


@dataclass(frozen=True)
class SubjectFacts:
    subject_id: object
    subject_code: str
    sex: str  # "M", "F" or "U"
    birth_year: int | None


# The facts are named tuples: immutable like frozen dataclasses, and several times cheaper to
# build, which counts when a summary builds them for 25,000 events and 250,000 lab results.
class EventFacts(NamedTuple):
    event_id: object
    term: str
    grade: int
    onset_on: dt.date
    resolved_on: dt.date | None


class AssessmentFacts(NamedTuple):
    """One agent's row of an adverse event: attribution and action taken."""

    assessment_id: object
    event_id: object
    agent: str
    attribution: str
    action_taken: str


class DoseFacts(NamedTuple):
    agent: str
    given_on: dt.date
    planned_dose: Decimal | float
    given_dose: Decimal | float


class LabFacts(NamedTuple):
    result_id: object  # None when the caller does not need to know which result
    test_code: str
    term: str  # the CTCAE term the lab grading stored; "" for grade 0
    grade: int | None
    value: Decimal | float  # a float from a frame: shown as written (2.8)
    unit: str
    lln: Decimal | float | None
    uln: Decimal | float | None
    collected_on: dt.date


@dataclass(frozen=True)
class Finding:
    subject_id: object
    subject_code: str
    check: str
    detail: str
    record_model: str
    record_id: object
    field: str


def needed_lab_grade(term: str, grade: int) -> int | None:
    """The least lab grade that backs an event of `term` and `grade`; None when the term has
    no lab criterion or the grade is 5 (death is not a lab value)."""
    if term not in LAB_TERM_TESTS or grade >= 5:
        return None
    return _SYMPTOM_ARMS.get((term, grade), grade)


def lab_window(event: EventFacts) -> tuple[dt.date, dt.date | None]:
    """The days whose results count for the event's grade; an ongoing event's has no end."""
    margin = dt.timedelta(days=LAB_WINDOW_DAYS)
    if event.resolved_on is None:
        return event.onset_on - margin, None
    return event.onset_on - margin, max(event.resolved_on, event.onset_on) + margin


def _ratio(result: LabFacts, high: bool) -> str:
    """The value as a multiple of ULN, for a high term whose result has one."""
    if not high or not result.uln:
        return ""
    return f" ({_decimal(result.value) / _decimal(result.uln):.1f} x ULN)"


def _decimal(value) -> Decimal:
    """A value as the decimal it was written as: a float 2.8 is 2.8, not 2.79999..."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _number(value) -> str:
    """A value as a person writes it: 112 and 0.5, not 112.0000 nor 1.12E+2."""
    text = format(_decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def check_grade_against_labs(event: EventFacts, labs: Sequence[LabFacts]) -> str | None:
    """The finding's detail when no result of the event's term around it reaches its grade."""
    needed = needed_lab_grade(event.term, event.grade)
    if needed is None:
        return None
    test = LAB_TERM_TESTS[event.term]
    start, end = lab_window(event)
    around = [
        r
        for r in labs
        if r.test_code == test
        and r.collected_on >= start
        and (end is None or r.collected_on <= end)
    ]
    if any(r.term == event.term and (r.grade or 0) >= needed for r in around):
        return None
    period = f"between {start} and {end}" if end is not None else f"since {start}"
    if not around:
        return NO_LAB_RESULT.format(
            term=event.term,
            grade=event.grade,
            test=test,
            period=period,
            needed=needed,
        )
    high = LAB_TESTS[test].high_term == event.term
    extreme = max(around, key=lambda r: r.value) if high else min(around, key=lambda r: r.value)
    seen = extreme.grade if extreme.term == event.term else 0
    return LAB_BELOW_GRADE.format(
        term=event.term,
        grade=event.grade,
        test=test,
        needed=needed,
        period=period,
        extreme="highest" if high else "lowest",
        value=_number(extreme.value),
        unit=extreme.unit,
        ratio=_ratio(extreme, high),
        seen=seen or 0,
    )


def action_window(event: EventFacts, last_dose_on: dt.date | None) -> tuple[dt.date, dt.date]:
    """The days whose doses show an action on the drug: onset to resolution (an ongoing event:
    to the agent's last recorded dose), and at least ACTION_WINDOW_DAYS after onset."""
    least = event.onset_on + dt.timedelta(days=ACTION_WINDOW_DAYS)
    end = event.resolved_on if event.resolved_on is not None else last_dose_on
    return event.onset_on, max(end or least, least)


def check_action_against_doses(
    event: EventFacts, assessment: AssessmentFacts, doses: Sequence[DoseFacts]
) -> str | None:
    """The finding's detail when the form says the drug was changed and no dose shows it.

    Only doses on record count; with no planned dose of the agent in the window there is
    nothing to contradict the form.
    """
    if assessment.action_taken not in DOSE_CHANGING_ACTIONS:
        return None
    own = [d for d in doses if d.agent == assessment.agent and d.planned_dose > 0]
    last = max((d.given_on for d in own), default=None)
    start, end = action_window(event, last)
    window = [d for d in own if start <= d.given_on <= end]
    if not window or any(d.given_dose < d.planned_dose for d in window):
        return None
    return ACTION_NOT_IN_DOSING.format(
        agent=assessment.agent,
        action=assessment.action_taken,
        start=min(d.given_on for d in window).isoformat(),
        end=max(d.given_on for d in window).isoformat(),
    )


def first_doses(doses: Iterable[DoseFacts]) -> dict[str, dt.date]:
    """Per agent, the date of its first dose actually given (a dose above zero)."""
    first: dict[str, dt.date] = {}
    for dose in doses:
        if dose.given_dose > 0 and (dose.agent not in first or dose.given_on < first[dose.agent]):
            first[dose.agent] = dose.given_on
    return first


def check_attribution_timing(
    event: EventFacts, assessment: AssessmentFacts, first: dict[str, dt.date]
) -> str | None:
    """The finding's detail when the event is related to an agent first given after onset.

    An agent with no dose given on record yet is not flagged: doses are often entered after
    the adverse events of the same days, and a first dose entered later raises the finding.
    """
    if assessment.attribution not in RELATED:
        return None
    started = first.get(assessment.agent)
    if started is None or started <= event.onset_on:
        return None
    return ATTRIBUTED_BEFORE_FIRST_DOSE.format(
        term=event.term,
        onset=event.onset_on.isoformat(),
        attribution=ATTRIBUTION_WORDS[assessment.attribution],
        agent=assessment.agent,
        first=started.isoformat(),
    )


def youngest_age_days(birth_year: int, on: dt.date) -> int:
    """The least age in days a person born in `birth_year` can have on `on` (born 31 Dec)."""
    return (on - dt.date(birth_year, 12, 31)).days


def check_term_for_subject(event: EventFacts, subject: SubjectFacts) -> str | None:
    """The finding's detail when the subject's sex or age rules the term out.

    Unknown sex or birth year rule nothing out; an age is ruled out only when even a birth on
    the last day of the birth year makes the subject older than the term allows.
    """
    wrong_for = {"M": FEMALE_ONLY_TERMS, "F": MALE_ONLY_TERMS}.get(subject.sex, frozenset())
    if event.term in wrong_for:
        other = "female" if subject.sex == "M" else "male"
        return TERM_WRONG_SEX.format(term=event.term, other=other, sex=SEX_WORDS[subject.sex])
    limit = AGE_LIMITED_TERMS.get(event.term)
    if (
        limit is not None
        and subject.birth_year is not None
        and youngest_age_days(subject.birth_year, event.onset_on) > limit
    ):
        return TERM_WRONG_AGE.format(
            term=event.term, birth_year=subject.birth_year, onset=event.onset_on.isoformat()
        )
    return None


def subject_findings(
    subject: SubjectFacts,
    events: Iterable[EventFacts],
    assessments: Iterable[AssessmentFacts],
    doses: Iterable[DoseFacts],
    labs: Iterable[LabFacts],
) -> list[Finding]:
    """Every finding of the four checks for one subject, by event onset then check."""
    doses = list(doses)
    labs = list(labs)
    first = first_doses(doses)
    by_event: dict[object, list[AssessmentFacts]] = defaultdict(list)
    for assessment in assessments:
        by_event[assessment.event_id].append(assessment)
    findings = []

    def found(check, detail, model, record_id, field):
        findings.append(
            Finding(
                subject.subject_id, subject.subject_code, check, detail, model, record_id, field
            )
        )

    for event in sorted(events, key=lambda e: (e.onset_on, e.term, str(e.event_id))):
        if detail := check_grade_against_labs(event, labs):
            found(AE_GRADE_VS_LAB, detail, EVENT_MODEL, event.event_id, "grade")
        for assessment in sorted(by_event.get(event.event_id, []), key=lambda a: a.agent):
            # The attribution and the action are fields of the adverse event form, one row
            # per agent: the query is on the form as a whole, its detail names the agent.
            if detail := check_action_against_doses(event, assessment, doses):
                found(ACTION_VS_DOSING, detail, EVENT_MODEL, event.event_id, "")
            if detail := check_attribution_timing(event, assessment, first):
                found(ATTRIBUTION_BEFORE_FIRST_DOSE, detail, EVENT_MODEL, event.event_id, "")
        if detail := check_term_for_subject(event, subject):
            found(TERM_IMPOSSIBLE_FOR_SUBJECT, detail, EVENT_MODEL, event.event_id, "ctcae_term")
    return findings
