"""The DLT definition as protocol data: an ordered list of rules in a small, closed vocabulary.

A study file states its protocol's definition under ``dlt.rules``; a study that states none
uses the default rule set, ``studies/dlt-default.json``. ``parse_rules`` validates a section
and names every problem by its path (``dlt.rules[3].grade: must be 1-5``); ``decide`` applies
the rules to one adverse event. The first rule whose conditions all hold decides, with the
outcome it states (a DLT, or not a DLT); when no rule holds, the event is not a DLT. The DLT
window and the minimum attribution are checked before any rule (``ecrf.safety.dlt``).

Pure functions over plain values, no ORM. ``docs/dlt.md`` describes the vocabulary in words.

Vocabulary of one rule (every key but ``id``, ``text`` and ``outcome`` is optional):

- ``events``: ``{"terms": [...], "socs": [...], "groups": [...]}``, CTCAE v5.0 terms, system
  organ classes or named groups (``GROUPS``); an event matches when it is in any of them.
  Without ``events`` a rule applies to every event.
- ``grade`` (1-5, default 1) and ``max_grade`` (default 5): the event's worst grade lies in
  that range. Grade 5 is death, so ``"grade": 5`` states a treatment-related death.
- ``duration``: ``{"more_than_days": N}`` or ``{"at_most_days": N}``, the days the event spent
  at or above the rule's ``grade`` (from its grade history). "At most" holds only once the
  event has come down below that grade: while it is still there, it is not yet known to be short.
- ``resolves``: ``{"to_grade": G, "within_days": N}``, the event came down to grade G or less
  (0: resolved) within N days of first reaching the rule's ``grade``.
- ``requires``: conditions of ``REQUIREMENTS``: ``bleeding`` (a bleeding event of grade 2 or
  more of the same subject overlaps the event) and ``despite_supportive_care`` (recorded on
  the event).
- ``lab``: ``hys_law``, a lab collection during the event with ALT or AST > 3 x ULN and total
  bilirubin > 2 x ULN on the same day (FDA guidance on drug-induced liver injury, 2009).
- ``cycle_delay``: ``{"more_than_days": N}``, the event was ongoing on the planned day 1 of
  cycle 2, which started more than N days late (or had not started N days after it by the
  cutoff, unless treatment ended for a reason other than an adverse event).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from ecrf.ctcae.dictionary import UnknownTermError, all_terms, get_term, socs
from ecrf.ctcae.labs import lab_terms

DEFAULT_RULES_PATH = Path(__file__).resolve().parents[2] / "studies" / "dlt-default.json"

OUTCOME_DLT = "dlt"
OUTCOME_NOT_DLT = "not_dlt"
OUTCOMES = (OUTCOME_DLT, OUTCOME_NOT_DLT)

GROUP_HAEMATOLOGICAL = "haematological"
GROUP_NON_HAEMATOLOGICAL = "non_haematological"
GROUP_LAB_ONLY = "lab_only"
GROUP_BLEEDING = "bleeding"
GROUPS = (GROUP_HAEMATOLOGICAL, GROUP_NON_HAEMATOLOGICAL, GROUP_LAB_ONLY, GROUP_BLEEDING)

REQUIRES_BLEEDING = "bleeding"
REQUIRES_SUPPORTIVE_CARE = "despite_supportive_care"
REQUIREMENTS = (REQUIRES_BLEEDING, REQUIRES_SUPPORTIVE_CARE)

LAB_HYS_LAW = "hys_law"
LAB_COMBINATIONS = (LAB_HYS_LAW,)

RULE_KEYS = (
    "id",
    "text",
    "outcome",
    "events",
    "grade",
    "max_grade",
    "duration",
    "resolves",
    "requires",
    "lab",
    "cycle_delay",
)
EVENT_KEYS = ("terms", "socs", "groups")
ID_MAX_LENGTH = 40
TEXT_MAX_LENGTH = 200
MAX_DAYS = 365

HAEMATOLOGICAL_SOC = "Blood and lymphatic system disorders"
# CTCAE files blood counts under "Investigations", next to liver tests, ECGs and the like, so
# the SOC alone cannot tell them apart. These are the Investigations terms of CTCAE v5.0 that
# are a blood cell count or haemoglobin, checked against the full Investigations list.
# Coagulation tests (activated partial thromboplastin time prolonged, INR increased,
# Fibrinogen decreased) and Haptoglobin decreased are not cell counts.
HAEMATOLOGICAL_INVESTIGATION_TERMS = frozenset(
    {
        "CD4 lymphocytes decreased",
        "Hemoglobin increased",
        "Lymphocyte count decreased",
        "Lymphocyte count increased",
        "Neutrophil count decreased",
        "Platelet count decreased",
        "White blood cell decreased",
    }
)
# Bleeding in CTCAE v5.0: the "... hemorrhage" and "... bleeding" terms of every SOC, and the
# bleeding terms named otherwise.
BLEEDING_TERMS_NAMED_OTHERWISE = frozenset(
    {"Bruising", "Epistaxis", "Hematoma", "Hematosalpinx", "Hematuria"}
)
BLEEDING_MIN_GRADE = 2
# ``ecrf.ctcae.labs`` also grades body temperature, which is a vital sign, not a lab value.
VITAL_SIGN_TERMS = frozenset({"Fever", "Hypothermia"})

# Hy's law (FDA, Guidance for Industry: Drug-Induced Liver Injury, 2009): aminotransferase
# above 3 x ULN with total bilirubin above 2 x ULN.
HYS_LAW_AMINOTRANSFERASE_X_ULN = Decimal(3)
HYS_LAW_BILIRUBIN_X_ULN = Decimal(2)
AMINOTRANSFERASE_TESTS = ("ALT", "AST")
BILIRUBIN_TEST = "BILI"

# --- Problems (named by their path) -------------------------------------------------------

MUST_BE_LIST = "must be a list of rules"
MUST_BE_OBJECT = "must be an object"
UNKNOWN_KEY = "is not a known key (known: {known})"
REQUIRED = "is required"
BAD_ID = "must be 1-40 lower-case letters, digits and '_' (e.g. 'febrile_neutropenia')"
DUPLICATE_ID = "{value!r} is the id of rules[{first}] already"
BAD_TEXT = "must be a non-empty text of at most {max} characters"
BAD_OUTCOME = "must be one of {known}, not {value!r}"
BAD_GRADE = "must be 1-5, not {value!r}"
BAD_TO_GRADE = "must be 0-4 and below the rule's grade ({grade}), not {value!r}"
MAX_BELOW_MIN = "must be at least the rule's grade ({grade}), not {value}"
BAD_DAYS = "must be a whole number of days from 0 to 365, not {value!r}"
ONE_OF = "must have exactly one of {keys}"
BAD_LIST = "must be a non-empty list of texts"
UNKNOWN_SOC = "{value!r} is not a CTCAE v5.0 system organ class.{hint}"
UNKNOWN_GROUP = "{value!r} is not a group; the groups are {known}"
UNKNOWN_REQUIREMENT = "{value!r} is not a requirement; the requirements are {known}"
UNKNOWN_LAB = "must be one of {known}, not {value!r}"
CLOSEST = " Closest: {names}."
EMPTY_EVENTS = "must name at least one term, SOC or group"


class DltRulesError(ValueError):
    """A DLT rules section that cannot be used; ``problems`` names each path and its problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("DLT rules refused:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class DltRule:
    id: str
    text: str
    outcome: str
    terms: frozenset[str] = frozenset()
    socs: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    grade: int = 1
    max_grade: int = 5
    more_than_days: int | None = None
    at_most_days: int | None = None
    resolves_to_grade: int | None = None
    resolves_within_days: int | None = None
    requires: frozenset[str] = frozenset()
    lab: str | None = None
    cycle_delay_more_than_days: int | None = None

    @property
    def is_dlt(self) -> bool:
        return self.outcome == OUTCOME_DLT

    @property
    def scoped(self) -> bool:
        return bool(self.terms or self.socs or self.groups)

    def covers(self, term: str) -> bool:
        """Whether the rule's ``events`` take in this CTCAE term (every term when unscoped)."""
        if not self.scoped:
            return True
        if term in self.terms or get_term(term).soc in self.socs:
            return True
        return any(term in group_terms(group) for group in self.groups)


@dataclass(frozen=True)
class DltRuleSet:
    rules: tuple[DltRule, ...]
    # The section as the file states it, normalised: what is stored, printed and digested.
    data: tuple[dict, ...] = field(default=(), compare=False)

    @property
    def digest(self) -> str:
        return rules_digest(list(self.data))

    def rule(self, rule_id: str) -> DltRule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    @property
    def needs_labs(self) -> bool:
        return any(rule.lab for rule in self.rules)

    @property
    def needs_other_events(self) -> bool:
        return any(REQUIRES_BLEEDING in rule.requires for rule in self.rules)

    @property
    def needs_next_cycle(self) -> bool:
        return any(rule.cycle_delay_more_than_days is not None for rule in self.rules)


def rules_digest(data: list) -> str:
    """SHA-256 of the rules as canonical JSON: two sections with the same rules, however laid
    out in their files, have the same digest."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- Named groups ---------------------------------------------------------------------------


def is_haematological(term: str) -> bool:
    """True for a CTCAE v5.0 term of the blood SOC or a blood count of the Investigations SOC."""
    found = get_term(term)
    return found.soc == HAEMATOLOGICAL_SOC or found.term in HAEMATOLOGICAL_INVESTIGATION_TERMS


def _is_bleeding(name: str) -> bool:
    lowered = name.lower()
    return (
        "hemorrhage" in lowered
        or lowered.endswith("bleeding")
        or name in BLEEDING_TERMS_NAMED_OTHERWISE
    )


@cache
def group_terms(group: str) -> frozenset[str]:
    """The CTCAE v5.0 terms of a named group.

    - ``haematological``: the blood SOC and the blood counts of the Investigations SOC;
    - ``non_haematological``: every other term;
    - ``lab_only``: the terms graded from a lab value alone (those ``ecrf.ctcae.labs`` grades),
      blood counts and body temperature excluded, e.g. GGT increased, Lipase increased,
      Hypoalbuminemia, Cholesterol high;
    - ``bleeding``: the hemorrhage and bleeding terms.
    """
    names = [t.term for t in all_terms()]
    if group == GROUP_HAEMATOLOGICAL:
        return frozenset(n for n in names if is_haematological(n))
    if group == GROUP_NON_HAEMATOLOGICAL:
        return frozenset(n for n in names if not is_haematological(n))
    if group == GROUP_LAB_ONLY:
        return frozenset(n for n in lab_terms() - VITAL_SIGN_TERMS if not is_haematological(n))
    if group == GROUP_BLEEDING:
        return frozenset(n for n in names if _is_bleeding(n))
    raise ValueError(UNKNOWN_GROUP.format(value=group, known=", ".join(GROUPS)))


# --- Reading a rules section -----------------------------------------------------------------


class _Problems(list):
    def add(self, path: str, message: str) -> None:
        self.append(f"{path}: {message}")


def _days(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DAYS


def _grade(value: Any, low: int = 1, high: int = 5) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _closest(value: str, names: Iterable[str]) -> str:
    found = difflib.get_close_matches(value, list(names), n=3)
    return CLOSEST.format(names=", ".join(found)) if found else ""


def _texts(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return None
    return value


def _read_events(value: Any, path: str, problems: _Problems) -> dict[str, frozenset[str]]:
    if not isinstance(value, dict):
        problems.add(path, MUST_BE_OBJECT)
        return {}
    for key in sorted(set(value) - set(EVENT_KEYS)):
        problems.add(f"{path}.{key}", UNKNOWN_KEY.format(known=", ".join(EVENT_KEYS)))
    if not set(value) & set(EVENT_KEYS):
        problems.add(path, EMPTY_EVENTS)
    found: dict[str, set[str]] = {key: set() for key in EVENT_KEYS}
    for key in EVENT_KEYS:
        if key not in value:
            continue
        items = _texts(value[key])
        if items is None:
            problems.add(f"{path}.{key}", BAD_LIST)
            continue
        for index, item in enumerate(items):
            item_path = f"{path}.{key}[{index}]"
            if key == "terms":
                try:
                    found["terms"].add(get_term(item).term)
                except UnknownTermError as exc:
                    problems.add(item_path, str(exc))
            elif key == "socs":
                if item in socs():
                    found["socs"].add(item)
                else:
                    hint = _closest(item, socs())
                    problems.add(item_path, UNKNOWN_SOC.format(value=item, hint=hint))
            elif item in GROUPS:
                found["groups"].add(item)
            else:
                problems.add(item_path, UNKNOWN_GROUP.format(value=item, known=", ".join(GROUPS)))
    return {key: frozenset(names) for key, names in found.items()}


def _read_one_of(value: Any, keys: tuple[str, ...], path: str, problems: _Problems):
    """(key, days) of an object with exactly one of `keys`, each a number of days."""
    if not isinstance(value, dict):
        problems.add(path, MUST_BE_OBJECT)
        return None, None
    for key in sorted(set(value) - set(keys)):
        problems.add(f"{path}.{key}", UNKNOWN_KEY.format(known=", ".join(keys)))
    present = [key for key in keys if key in value]
    if len(present) != 1:
        problems.add(path, ONE_OF.format(keys=" or ".join(keys)))
        return None, None
    key = present[0]
    if not _days(value[key]):
        problems.add(f"{path}.{key}", BAD_DAYS.format(value=value[key]))
        return None, None
    return key, value[key]


def _read_rule(item: Any, path: str, problems: _Problems) -> DltRule | None:
    if not isinstance(item, dict):
        problems.add(path, MUST_BE_OBJECT)
        return None
    before = len(problems)
    for key in sorted(set(item) - set(RULE_KEYS)):
        problems.add(f"{path}.{key}", UNKNOWN_KEY.format(known=", ".join(RULE_KEYS)))
    for key in ("id", "text", "outcome"):
        if key not in item:
            problems.add(f"{path}.{key}", REQUIRED)
    rule_id = item.get("id")
    if "id" in item and not (
        isinstance(rule_id, str)
        and 0 < len(rule_id) <= ID_MAX_LENGTH
        and all(c.islower() or c.isdigit() or c == "_" for c in rule_id)
        and rule_id.isascii()
    ):
        problems.add(f"{path}.id", BAD_ID)
    text = item.get("text")
    if "text" in item and not (
        isinstance(text, str) and text.strip() and len(text.strip()) <= TEXT_MAX_LENGTH
    ):
        problems.add(f"{path}.text", BAD_TEXT.format(max=TEXT_MAX_LENGTH))
    outcome = item.get("outcome")
    if "outcome" in item and outcome not in OUTCOMES:
        problems.add(
            f"{path}.outcome", BAD_OUTCOME.format(known=", ".join(OUTCOMES), value=outcome)
        )
    events = _read_events(item["events"], f"{path}.events", problems) if "events" in item else {}
    grade = item.get("grade", 1)
    grade_valid = _grade(grade)
    if not grade_valid:
        problems.add(f"{path}.grade", BAD_GRADE.format(value=grade))
        grade = 1
    max_grade = item.get("max_grade", 5)
    if not _grade(max_grade):
        problems.add(f"{path}.max_grade", BAD_GRADE.format(value=max_grade))
        max_grade = 5
    elif grade_valid and max_grade < grade:
        problems.add(f"{path}.max_grade", MAX_BELOW_MIN.format(grade=grade, value=max_grade))
    more_than = at_most = None
    if "duration" in item:
        key, days = _read_one_of(
            item["duration"], ("more_than_days", "at_most_days"), f"{path}.duration", problems
        )
        more_than, at_most = (days, None) if key == "more_than_days" else (None, days)
    to_grade = within = None
    if "resolves" in item:
        resolves = item["resolves"]
        if not isinstance(resolves, dict):
            problems.add(f"{path}.resolves", MUST_BE_OBJECT)
        else:
            keys = ("to_grade", "within_days")
            for key in sorted(set(resolves) - set(keys)):
                problems.add(f"{path}.resolves.{key}", UNKNOWN_KEY.format(known=", ".join(keys)))
            for key in keys:
                if key not in resolves:
                    problems.add(f"{path}.resolves.{key}", REQUIRED)
            to_grade, within = resolves.get("to_grade"), resolves.get("within_days")
            # Against a grade the file does not state, to_grade cannot be judged.
            if grade_valid and to_grade is not None and not _grade(to_grade, 0, grade - 1):
                problems.add(
                    f"{path}.resolves.to_grade", BAD_TO_GRADE.format(grade=grade, value=to_grade)
                )
            if within is not None and not _days(within):
                problems.add(f"{path}.resolves.within_days", BAD_DAYS.format(value=within))
    requires: set[str] = set()
    if "requires" in item:
        names = _texts(item["requires"])
        if names is None:
            problems.add(f"{path}.requires", BAD_LIST)
        for index, name in enumerate(names or ()):
            if name in REQUIREMENTS:
                requires.add(name)
            else:
                problems.add(
                    f"{path}.requires[{index}]",
                    UNKNOWN_REQUIREMENT.format(value=name, known=", ".join(REQUIREMENTS)),
                )
    lab = item.get("lab")
    if "lab" in item and lab not in LAB_COMBINATIONS:
        problems.add(
            f"{path}.lab", UNKNOWN_LAB.format(known=", ".join(LAB_COMBINATIONS), value=lab)
        )
    delay = None
    if "cycle_delay" in item:
        _key, delay = _read_one_of(
            item["cycle_delay"], ("more_than_days",), f"{path}.cycle_delay", problems
        )
    if len(problems) > before:
        return None
    return DltRule(
        id=rule_id,
        text=text.strip(),
        outcome=outcome,
        terms=events.get("terms", frozenset()),
        socs=events.get("socs", frozenset()),
        groups=events.get("groups", frozenset()),
        grade=grade,
        max_grade=max_grade,
        more_than_days=more_than,
        at_most_days=at_most,
        resolves_to_grade=to_grade,
        resolves_within_days=within,
        requires=frozenset(requires),
        lab=lab,
        cycle_delay_more_than_days=delay,
    )


def rule_problems(data: Any, path: str = "dlt.rules") -> tuple[DltRuleSet | None, list[str]]:
    """Read a rules section: the rule set, or None with every problem named by its path."""
    problems = _Problems()
    if not isinstance(data, list) or not data:
        problems.add(path, MUST_BE_LIST)
        return None, problems
    rules = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(data):
        item_path = f"{path}[{index}]"
        rule = _read_rule(item, item_path, problems)
        rule_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(rule_id, str) and rule_id in first_index:
            problems.add(
                f"{item_path}.id", DUPLICATE_ID.format(value=rule_id, first=first_index[rule_id])
            )
        elif isinstance(rule_id, str):
            first_index[rule_id] = index
        if rule is not None:
            rules.append(rule)
    if problems:
        return None, problems
    return DltRuleSet(tuple(rules), tuple(_normalised(item) for item in data)), []


def _normalised(item: dict) -> dict:
    """The rule as stored: its keys in vocabulary order, terms in CTCAE spelling, text trimmed."""
    out = {}
    for key in RULE_KEYS:
        if key not in item:
            continue
        value = item[key]
        if key == "text":
            value = value.strip()
        elif key == "events":
            value = {
                k: [get_term(t).term for t in v] if k == "terms" else list(v)
                for k, v in sorted(value.items())
            }
        out[key] = value
    return out


def parse_rules(data: Any, path: str = "dlt.rules") -> DltRuleSet:
    """Read a rules section; raise DltRulesError naming every problem."""
    rule_set, problems = rule_problems(data, path)
    if problems:
        raise DltRulesError(problems)
    return rule_set


@cache
def default_rules() -> DltRuleSet:
    """The default rule set (``studies/dlt-default.json``), for a study that states none."""
    data = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    return parse_rules(data["rules"], f"{DEFAULT_RULES_PATH.name}: rules")


# --- The facts a rule is decided on ------------------------------------------------------------


@dataclass(frozen=True)
class GradeStep:
    """The event is at ``grade`` from ``from_on`` until the next step or its end."""

    from_on: dt.date
    grade: int


@dataclass(frozen=True)
class OtherEvent:
    """Another adverse event of the same subject, for the ``bleeding`` requirement."""

    term: str
    grade: int
    onset_on: dt.date
    resolved_on: dt.date | None


@dataclass(frozen=True)
class LabValue:
    test: str
    value: Decimal
    uln: Decimal | None
    collected_on: dt.date


@dataclass(frozen=True)
class NextCycle:
    """Cycle 2 of a subject: its planned day 1, the day its first dose was given (None if not
    yet), and whether treatment ended before it for a reason other than an adverse event."""

    planned_on: dt.date
    started_on: dt.date | None = None
    ended_for_other_reason: bool = False


@dataclass(frozen=True)
class SubjectContext:
    """What some rules look at beyond the event itself: the subject's other events, lab results
    and next cycle. A caller loads only what its rule set needs (``DltRuleSet.needs_*``)."""

    other_events: tuple[OtherEvent, ...] = ()
    labs: tuple[LabValue, ...] = ()
    next_cycle: NextCycle | None = None


NO_CONTEXT = SubjectContext()


@dataclass(frozen=True)
class Course:
    """An event's course: its grade steps (at least one, from onset) and its end, the
    resolution date or, while it is ongoing, the cutoff."""

    steps: tuple[GradeStep, ...]
    end_on: dt.date
    ongoing: bool

    @property
    def onset_on(self) -> dt.date:
        return self.steps[0].from_on

    def segments(self) -> Iterable[tuple[dt.date, dt.date, int]]:
        """(from, to, grade) of each step; the last runs to the end."""
        for step, after in zip(self.steps, (*self.steps[1:], None), strict=True):
            to = after.from_on if after else self.end_on
            yield step.from_on, max(to, step.from_on), step.grade

    def days_at_or_above(self, grade: int) -> int:
        return sum((to - start).days for start, to, g in self.segments() if g >= grade)

    def first_at_or_above(self, grade: int) -> dt.date | None:
        return next((s.from_on for s in self.steps if s.grade >= grade), None)

    def still_at_or_above(self, grade: int) -> bool:
        """Whether the event is at or above the grade at its end (ongoing at the cutoff)."""
        return self.ongoing and self.steps[-1].grade >= grade

    def came_down_to(self, grade: int, after: dt.date) -> dt.date | None:
        """The first day after `after` at grade `grade` or less (0: resolved), if any."""
        for step in self.steps:
            if step.from_on > after and step.grade <= grade:
                return step.from_on
        return None if self.ongoing else self.end_on


def course_of(
    *,
    grade: int,
    onset_on: dt.date,
    resolved_on: dt.date | None,
    steps: Sequence[GradeStep],
    cutoff: dt.date,
) -> Course:
    """The course of an event; with no recorded history it was at its grade throughout.
    Steps after the cutoff are not known at the cutoff and are left out."""
    known = tuple(sorted((s for s in steps if s.from_on <= cutoff), key=lambda s: s.from_on))
    if not known or known[0].from_on > onset_on:
        known = (GradeStep(onset_on, grade if not known else known[0].grade), *known)
    if resolved_on is not None and resolved_on <= cutoff:
        return Course(known, resolved_on, False)
    return Course(known, max(cutoff, onset_on), True)


def _overlaps(start: dt.date, end: dt.date, other: OtherEvent, cutoff: dt.date) -> bool:
    other_end = other.resolved_on or cutoff
    return other.onset_on <= end and start <= other_end


def bleeding_during(course: Course, others: Iterable[OtherEvent], cutoff: dt.date) -> bool:
    """A bleeding event of grade 2 or more (medical intervention indicated, in CTCAE v5.0's
    bleeding terms) overlaps the event."""
    bleeding = group_terms(GROUP_BLEEDING)
    return any(
        other.term in bleeding
        and other.grade >= BLEEDING_MIN_GRADE
        and _overlaps(course.onset_on, course.end_on, other, cutoff)
        for other in others
    )


def hys_law_during(course: Course, labs: Iterable[LabValue]) -> bool:
    """On some collection day during the event, ALT or AST > 3 x ULN and total bilirubin
    > 2 x ULN (both strictly above; a result without a ULN cannot count)."""
    transaminase_days, bilirubin_days = set(), set()
    for lab in labs:
        if lab.uln is None or not course.onset_on <= lab.collected_on <= course.end_on:
            continue
        if (
            lab.test in AMINOTRANSFERASE_TESTS
            and lab.value > HYS_LAW_AMINOTRANSFERASE_X_ULN * lab.uln
        ):
            transaminase_days.add(lab.collected_on)
        elif lab.test == BILIRUBIN_TEST and lab.value > HYS_LAW_BILIRUBIN_X_ULN * lab.uln:
            bilirubin_days.add(lab.collected_on)
    return bool(transaminase_days & bilirubin_days)


def cycle_delay_days(course: Course, next_cycle: NextCycle | None, cutoff: dt.date) -> int | None:
    """Days cycle 2 started late while the event was ongoing on its planned day 1 (to the cutoff
    when it has not started); None when the event cannot have delayed it."""
    if next_cycle is None or not course.onset_on <= next_cycle.planned_on <= course.end_on:
        return None
    # A start after the cutoff was not known at the cutoff.
    started_on = next_cycle.started_on
    if started_on is not None and started_on > cutoff:
        started_on = None
    if started_on is None and next_cycle.ended_for_other_reason:
        return None
    return ((started_on or cutoff) - next_cycle.planned_on).days


# --- Deciding an event ------------------------------------------------------------------------


def holds(
    rule: DltRule,
    *,
    term: str,
    grade: int,
    course: Course,
    despite_supportive_care: bool,
    context: SubjectContext,
    cutoff: dt.date,
) -> bool:
    """Whether every condition of the rule holds for the event."""
    if not rule.grade <= grade <= rule.max_grade or not rule.covers(term):
        return False
    if rule.more_than_days is not None and not (
        course.days_at_or_above(rule.grade) > rule.more_than_days
    ):
        return False
    if rule.at_most_days is not None and (
        course.still_at_or_above(rule.grade)
        or course.days_at_or_above(rule.grade) > rule.at_most_days
    ):
        return False
    if rule.resolves_to_grade is not None:
        reached = course.first_at_or_above(rule.grade)
        down = reached and course.came_down_to(rule.resolves_to_grade, reached)
        if not down or (down - reached).days > rule.resolves_within_days:
            return False
    if REQUIRES_SUPPORTIVE_CARE in rule.requires and not despite_supportive_care:
        return False
    if REQUIRES_BLEEDING in rule.requires and not bleeding_during(
        course, context.other_events, cutoff
    ):
        return False
    if rule.lab == LAB_HYS_LAW and not hys_law_during(course, context.labs):
        return False
    if rule.cycle_delay_more_than_days is not None:
        delay = cycle_delay_days(course, context.next_cycle, cutoff)
        if delay is None or delay <= rule.cycle_delay_more_than_days:
            return False
    return True


def decide(
    rule_set: DltRuleSet,
    *,
    term: str,
    grade: int,
    course: Course,
    despite_supportive_care: bool = False,
    context: SubjectContext = NO_CONTEXT,
    cutoff: dt.date,
) -> DltRule | None:
    """The first rule that holds for the event, or None when none does (not a DLT)."""
    for rule in rule_set.rules:
        if holds(
            rule,
            term=term,
            grade=grade,
            course=course,
            despite_supportive_care=despite_supportive_care,
            context=context,
            cutoff=cutoff,
        ):
            return rule
    return None
