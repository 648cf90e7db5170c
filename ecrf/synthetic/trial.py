"""A synthetic phase I trial of configurable size, for the report, export and load benchmarks.

``generate_trial(subjects=N, seed=S)`` loads the reference trial definition
(``studies/IL2-IM-CTX.json``) under a new study code through the ``study_load`` service, then
writes N subjects with their visits, daily doses, adverse events, lab results, DLT assessments
(some decided and signed by the site's investigator) and the audit trail the services would
have written for every one of those records.

Faithful, not slow:

* Every value is what the services would store: CTCAE terms, MedDRA codes and SOCs from
  ``ecrf.ctcae``; lab grades from the vectorised ``grade_labs`` with each result's own LLN/ULN
  and the subject's baseline (the last value on or before the first dose); DLT flags from the
  pure rules of ``ecrf.safety.dlt``; one audit event per non-empty field of a created record
  and per changed field of an updated one, with the service's action codes and reasons.
* Coherent across the forms: the data pass the consistency checks of
  ``ecrf.safety.consistency`` (no term of the other sex or of children; no event related to an
  agent before its first dose, which is never missed; an agent reduced, interrupted or
  withdrawn for an event has its doses changed from the first one after onset; an event of a
  CTCAE term with a lab criterion has a result of its grade on its onset day, or the day after
  the first dose, in place of another result so that the counts stay as asked).
* Rows are built as plain Python values and written with one multi-row statement per table
  (``executemany`` on SQLite, ``COPY`` on PostgreSQL) in a single transaction, instead of
  ``save()`` and ``full_clean()`` per row; every row still meets the model's check constraints,
  which the database enforces. The creation events of the bulk records (adverse events and
  their attributions, doses, lab results: about 9 in 10 audit events) are written by the
  database itself from the inserted rows, one INSERT ... SELECT per field. A table's secondary
  indexes are dropped during a load larger than the table and rebuilt after it.
* The same seed gives the same data: every random draw, every primary key (UUIDs drawn from a
  generator seeded with the seed and the study code) and every timestamp (derived from a
  reference date that depends on the seed, never on today's date) is reproducible. The study
  definition rows (study, sites, agents...) are written by ``study_load`` with its own keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models, transaction

from ecrf.access import ensure_role_groups
from ecrf.ctcae import CTCAE_VERSION, LAB_TESTS, all_terms, get_term, grade_labs
from ecrf.imports.study_definition import StudyDefinitionError, parse_study_definition
from ecrf.models import (
    ActionTaken,
    AdverseEvent,
    AdverseEventAgent,
    Attribution,
    AuditEvent,
    ClinicalRecord,
    DltAssessment,
    DltDecision,
    DltStatus,
    DoseAdministration,
    DoseChangeReason,
    LabResult,
    Outcome,
    ReferenceRange,
    Role,
    Signature,
    Study,
    StudyAssignment,
    Subject,
    SubjectStatus,
    TreatmentEnd,
    Visit,
    VisitKind,
    VisitStatus,
)
from ecrf.models.audit import audit_value, audited_fields
from ecrf.safety.consistency import (
    ACTION_WINDOW_DAYS,
    AGE_LIMITED_TERMS,
    FEMALE_ONLY_TERMS,
    LAB_TERM_TESTS,
    LAB_WINDOW_DAYS,
    MALE_ONLY_TERMS,
    RELATED,
    needed_lab_grade,
)
from ecrf.safety.dlt import EventFacts, evaluate_event
from ecrf.safety.dlt_rules import OtherEvent, SubjectContext
from ecrf.selectors.dlt import study_dlt_rules
from ecrf.services import record_create, study_load, system_actor
from ecrf.services.dlt import (
    MEANING_CONFIRM,
    MEANING_RULE_OUT,
    RULE_REASON_LENGTH,
    study_dlt_settings,
)
from ecrf.services.subjects import study_day_date
from ecrf.synthetic.labs import value_of_grade

STUDY_FILE = Path(__file__).resolve().parents[2] / "studies" / "IL2-IM-CTX.json"
COMMAND = "generate_synthetic"
DEFAULT_STUDY_CODE = "SYN-IL2"
# The reference date of a seed lies in the year before this date: fixed, so the same seed
# gives the same dates on any day, and in the past, so no record is dated in the future.
REFERENCE_LATEST = dt.date(2025, 6, 30)
ENROLMENT_YEARS = 2

STUDY_EXISTS = "A study with the code {code!r} already exists; choose another study code."
TOO_FEW = "{name} must be at least {minimum}, not {value}."
INVESTIGATOR = "syn.investigator.{site}"
NURSE = "syn.nurse.{site}"

EXTRA_SITES = (
    ("C", "Northern Teaching Hospital"),
    ("D", "Coastal Cancer Institute"),
    ("E", "Metropolitan Oncology Unit"),
    ("F", "Valley Clinical Research Centre"),
)

# Cohort dose levels after the first escalation: most expansion at the MTD (6 MIU/day of IL-2).
EXPANSION_LEVELS = (1, 2, 2, 2, 3, 3, 4)

# Why subjects stop treatment, with weights: the reason they leave the study, or "" for
# those who complete every cycle and stay in follow-up (off treatment, not off study).
ENDINGS = (
    ("Progressive disease", 52),
    ("Unacceptable toxicity", 14),
    ("Consent withdrawn", 8),
    ("Death", 5),
    ("", 21),
)
MAX_CYCLES = 6
# Why treatment ended, per ending: a death comes after the end of treatment (it is what ends
# the study, not the treatment), so treatment ended by the investigator's decision then.
TREATMENT_ENDS = {
    "Progressive disease": TreatmentEnd.PROGRESSION,
    "Unacceptable toxicity": TreatmentEnd.ADVERSE_EVENT,
    "Consent withdrawn": TreatmentEnd.WITHDRAWAL,
    "Death": TreatmentEnd.INVESTIGATOR,
    "": TreatmentEnd.COMPLETED,
}

# The trial's frequent events with the agent they are usually attributed to, and a weight.
COMMON_EVENTS = (
    ("Fever", "IL2", 10),
    ("Chills", "IL2", 8),
    ("Fatigue", "IL2", 8),
    ("Nausea", "IM", 8),
    ("Alanine aminotransferase increased", "IM", 6),
    ("Aspartate aminotransferase increased", "IM", 5),
    ("Anorexia", "IL2", 4),
    ("Vomiting", "IM", 4),
    ("Diarrhea", "IM", 4),
    ("Capillary leak syndrome", "IL2", 3),
    ("Hypotension", "IL2", 3),
    ("Rash maculo-papular", "IM", 3),
    ("Periorbital edema", "IM", 3),
    ("Edema limbs", "IM", 3),
    ("Muscle cramp", "IM", 3),
    ("Flu like symptoms", "IL2", 3),
    ("Headache", "IL2", 3),
    ("Anemia", "CTX", 3),
    ("Lymphocyte count decreased", "CTX", 3),
    ("Neutrophil count decreased", "CTX", 2),
    ("Platelet count decreased", "CTX", 2),
    ("Creatinine increased", "IL2", 2),
    ("Weight gain", "IL2", 2),
    ("Hypokalemia", "IL2", 2),
    ("Hyponatremia", "IL2", 2),
    ("Myalgia", "IL2", 2),
    ("Arthralgia", "IL2", 2),
    ("Pruritus", "IL2", 2),
    ("Dyspnea", "IL2", 2),
    ("Sinus tachycardia", "IL2", 1),
    ("Dysgeusia", "IM", 1),
    ("Insomnia", "IL2", 1),
    ("Constipation", "CTX", 1),
    ("Abdominal pain", "IM", 1),
    ("Mucositis oral", "CTX", 1),
    ("Alopecia", "CTX", 1),
)
COMMON_SHARE = 0.85
# The trial's frequent events whose CTCAE terms have no lab criterion: what an event becomes
# when no lab result can back the grade of the term first drawn.
NON_LAB_TERMS = tuple(term for term, _agent, _weight in COMMON_EVENTS if term not in LAB_TERM_TESTS)
FATAL_TERMS = ("Disease progression", "Sepsis", "Capillary leak syndrome", "Dyspnea")
GRADE_WEIGHTS = {1: 0.62, 2: 0.28, 3: 0.075, 4: 0.025}

SUSPECT_ATTRIBUTION = (
    (Attribution.UNLIKELY, 15),
    (Attribution.POSSIBLE, 35),
    (Attribution.PROBABLE, 35),
    (Attribution.DEFINITE, 10),
    (Attribution.UNRELATED, 5),
)
OTHER_ATTRIBUTION = (
    (Attribution.UNRELATED, 35),
    (Attribution.UNLIKELY, 40),
    (Attribution.POSSIBLE, 20),
    (Attribution.PROBABLE, 5),
)
UNEXPECTED_ATTRIBUTION = (
    (Attribution.UNRELATED, 40),
    (Attribution.UNLIKELY, 40),
    (Attribution.POSSIBLE, 20),
)

MISSED_VISIT_REASONS = (
    "Patient unwell, could not travel",
    "Patient on holiday",
    "Transport not available",
)
# Why a dose was missed, with its kind of reason.
MISSED_DOSE_KINDS = {
    "Dose forgotten by the patient": DoseChangeReason.PATIENT_DECISION,
    "Vomited the dose": DoseChangeReason.ADVERSE_EVENT,
    "Withheld by the investigator for toxicity": DoseChangeReason.ADVERSE_EVENT,
    "Drug not dispensed in time": DoseChangeReason.LOGISTICS,
}
MISSED_DOSE_REASONS = tuple(MISSED_DOSE_KINDS)
DECISION_REASONS = {
    DltDecision.CONFIRMED: "Meets the protocol DLT definition: related, in the DLT window.",
    DltDecision.RULED_OUT: "Attributed to disease progression by the investigator, not to study "
    "treatment.",
}

# Lab panel: test -> (unit, lln, uln, typical value, log-scale spread, decimals, graded high).
# Illustrative adult ranges in the units an oncology lab reports; sites differ a little.
LAB_PANEL: dict[str, tuple[str, float | None, float | None, float, float, int, bool]] = {
    "ALT": ("U/L", 7, 40, 24, 0.35, 0, True),
    "AST": ("U/L", 8, 40, 24, 0.30, 0, True),
    "BILI": ("umol/L", 3, 21, 9, 0.35, 0, True),
    "ALP": ("U/L", 40, 130, 80, 0.30, 0, True),
    "GGT": ("U/L", 8, 61, 30, 0.45, 0, True),
    "CREAT": ("umol/L", 53, 106, 75, 0.18, 0, True),
    "CK": ("U/L", 30, 200, 90, 0.45, 0, True),
    "LIPASE": ("U/L", 13, 60, 30, 0.35, 0, True),
    "AMYLASE": ("U/L", 30, 110, 60, 0.30, 0, True),
    "INR": ("ratio", 0.8, 1.2, 1.0, 0.08, 2, True),
    "NEUT": ("10^9/L", 1.8, 7.5, 4.0, 0.35, 2, False),
    "PLAT": ("10^9/L", 150, 400, 240, 0.25, 0, False),
    "WBC": ("10^9/L", 4.0, 11.0, 6.5, 0.30, 1, False),
    "LYM": ("10^9/L", 1.0, 4.0, 1.6, 0.40, 2, False),
    "HGB": ("g/L", 120, 160, 132, 0.08, 0, False),
    "GLUC": ("mmol/L", 3.9, 5.6, 5.0, 0.15, 1, False),
    "K": ("mmol/L", 3.5, 5.1, 4.2, 0.07, 1, False),
    "SODIUM": ("mmol/L", 135, 145, 139, 0.015, 0, False),
    "CA": ("mmol/L", 2.15, 2.55, 2.35, 0.04, 2, False),
    "MG": ("mmol/L", 0.7, 1.0, 0.85, 0.08, 2, False),
    "ALB": ("g/L", 35, 50, 40, 0.10, 0, False),
    "CHOL": ("mmol/L", None, 5.2, 4.8, 0.18, 1, True),
    "TRIG": ("mmol/L", None, 1.7, 1.3, 0.40, 2, True),
    "CD4": ("10^9/L", 0.5, 1.5, 0.8, 0.35, 2, False),
    "CD8": ("10^9/L", 0.2, 0.9, 0.45, 0.35, 2, False),
    "NK": ("10^9/L", 0.09, 0.6, 0.25, 0.40, 2, False),
    "TEMP": ("C", 36.0, 37.5, 36.8, 0.01, 1, True),
}
# Tests measured on the inpatient days of IL-2 (days 11 to 14), when the visits alone do not
# give as many results as asked for.
MONITORING_PANEL = ("TEMP", "NEUT", "LYM", "PLAT", "HGB", "CREAT", "ALT", "K", "SODIUM", "ALB")
# Share of post-dose results pushed away from normal (toxicity), and how far on a log scale.
EXCURSION_SHARE = 0.07
DEFAULT_EXCURSION = (0.25, 1.6)
EXCURSION_LOG = {
    "TEMP": (0.03, 0.1),
    "SODIUM": (0.03, 0.15),
    "K": (0.1, 0.45),
    "CA": (0.05, 0.3),
    "MG": (0.1, 0.6),
    "ALB": (0.1, 0.8),
    "GLUC": (0.1, 0.9),
    "HGB": (0.1, 0.6),
    "INR": (0.1, 1.0),
}


# Models whose records the generator changes after creating them, as the services would.
UPDATED_LATER = (Subject, Visit, DltAssessment)


# Models whose creation events are written by the database from the inserted rows (the bulk
# of the audit trail); the others' events are built in Python.
AUDITED_IN_DATABASE = (AdverseEvent, AdverseEventAgent, DoseAdministration, LabResult)


class SyntheticTrialError(ValueError):
    """The trial cannot be generated; ``option`` names the argument at fault."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)


# --- Plain rows -------------------------------------------------------------------------------


@dataclass
class _Rows:
    """Rows of one model as dicts of attname -> Python value."""

    model: type[models.Model]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _AuditEntry:
    """One service call's audit: the record, its site and subject, when, what and why."""

    model: type[models.Model]
    row: dict[str, Any]
    at: dt.datetime
    action: str
    repr: str
    site: str
    subject_id: uuid.UUID | None
    # None: a creation (every non-empty field); else [(field name, old, new)].
    changes: list[tuple[str, Any, Any]] | None = None
    reason: str = ""
    actor: tuple[int | None, str, str] | None = None  # (user id, name, role); None: the command


@dataclass
class _Subject:
    row: dict[str, Any]
    site: str
    level: int
    first_dose_on: dt.date
    cycles: int
    ending: str
    end_on: dt.date  # last day anything can be recorded for the subject
    death_on: dt.date | None
    visits: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Per agent, every date a dose is planned on (a dose row is written for each).
    dose_dates: dict[str, list[dt.date]] = field(default_factory=dict)
    # How many more events of a term with a lab criterion the subject's lab results can back.
    lab_budget: int = 0
    # Per agent, the adverse events' actions on it: (action, first dose changed, event).
    actions: dict[str, list[tuple[str, dt.date, dict]]] = field(default_factory=dict)


def reference_date(seed: int) -> dt.date:
    """The data cutoff of a seed's trial: every date of the trial is on or before it."""
    return REFERENCE_LATEST - dt.timedelta(days=random.Random(seed).randrange(365))


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _at(day: dt.date, rng: random.Random, latest: dt.datetime, lag_days: int = 2) -> dt.datetime:
    """When a record about `day` was entered: that day or a little later, in office hours."""
    moment = dt.datetime.combine(
        day + dt.timedelta(days=rng.randint(0, lag_days)),
        dt.time(rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59)),
        tzinfo=dt.UTC,
    )
    return min(moment, latest)


def _weighted(rng: random.Random, options: Iterable[tuple[Any, float]]) -> Any:
    items = list(options)
    return rng.choices([item for item, _ in items], weights=[w for _, w in items])[0]


def _dec(text: str) -> Decimal:
    """A decimal as a user would type it: no trailing zeros after the decimal point.

    The audit trail keeps a value as typed, so the generator types its numbers this way; the
    audit events written in the database (``_DatabaseAudit``) render them the same way.
    """
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Decimal(text)


class _Generator:
    """Builds every row of the trial in memory, as the services would have stored them."""

    def __init__(self, study: Study, *, subjects: int, seed: int, events: int, labs: int):
        self.study = study
        self.subject_count = subjects
        self.events_per_subject = events
        self.labs_per_subject = labs
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.ids = random.Random(f"{seed}/{study.code}")
        self.reference = reference_date(seed)
        self.latest = dt.datetime.combine(self.reference, dt.time(18, 0), tzinfo=dt.UTC)
        self.sites = {site.code: site for site in study.sites.all()}
        self.levels = {level.level: level for level in study.dose_levels.all()}
        self.level_doses = {
            level.level: {
                dose.agent.code: dose.dose for dose in level.doses.select_related("agent")
            }
            for level in self.levels.values()
        }
        self.agents = {agent.code: agent for agent in study.agents.select_related("schedule")}
        self.schedule = list(study.schedule.order_by("day"))
        self.cycle_days = study.cycle_days
        self.dlt_settings = study_dlt_settings(study)
        self.dlt_rules = study_dlt_rules(study)
        self.ranges = self._site_ranges()
        self.subjects: list[_Subject] = []
        self.rows = {
            model: _Rows(model)
            for model in (
                Subject,
                Visit,
                AdverseEvent,
                AdverseEventAgent,
                DltAssessment,
                DoseAdministration,
                LabResult,
            )
        }
        self.audit: list[_AuditEntry] = []
        # (DLT assessment, adverse event, subject, decision) of the decisions to sign.
        self.decisions: list[tuple[dict, dict, _Subject, str]] = []

    # --- set-up ---------------------------------------------------------------------------

    def _site_ranges(self) -> dict[str, dict[str, tuple[str | None, str | None]]]:
        """Each site's reference range per test, as decimal texts: CTCAE's ranges, jittered."""
        ranges = {}
        for code in sorted(self.sites):
            site_ranges = {}
            for test, (_unit, lln, uln, _typ, _sd, decimals, _high) in LAB_PANEL.items():
                factor = 1 + self.rng.uniform(-0.04, 0.04)
                places = max(decimals, 1)
                low = None if lln is None else f"{lln * factor:.{places}f}"
                high = None if uln is None else f"{uln * factor:.{places}f}"
                site_ranges[test] = (low, high)
            ranges[code] = site_ranges
        return ranges

    def _new_row(self, model: type[models.Model], at: dt.datetime, **values) -> dict[str, Any]:
        row = {"id": _uuid(self.ids), "created_at": at, "updated_at": at, "version": 1}
        if issubclass(model, ClinicalRecord):
            row["entered_in_error"] = False
            row["entered_in_error_reason"] = ""
        row.update(values)
        self.rows[model].rows.append(row)
        return row

    def _created(self, model, row, *, at, subject: _Subject, repr_: str, action=None, reason=""):
        if model in UPDATED_LATER:
            row = dict(row)  # the values as created, not as the later updates leave them
        self.audit.append(
            _AuditEntry(
                model=model,
                row=row,
                at=at,
                action=action or f"ecrf.{model._meta.model_name}.created",
                repr=repr_,
                site=subject.site,
                subject_id=subject.row["id"],
                reason=reason,
            )
        )

    def _updated(
        self, model, row, changes, *, at, subject: _Subject, repr_, reason, action=None, actor=None
    ):
        # A change is entered after the record it changes, whatever the clinical dates say
        # (a screening visit is planned at enrolment, after it took place).
        at = max(at, row["updated_at"] + dt.timedelta(minutes=1))
        row["version"] += 1
        row["updated_at"] = at
        self.audit.append(
            _AuditEntry(
                model=model,
                row=row,
                at=at,
                action=action or f"ecrf.{model._meta.model_name}.updated",
                repr=repr_,
                site=subject.site,
                subject_id=subject.row["id"],
                changes=changes,
                reason=reason,
                actor=actor,
            )
        )

    # --- subjects and their time lines ----------------------------------------------------

    def _cohort_levels(self) -> list[int]:
        cohorts = math.ceil(self.subject_count / 3)
        levels = sorted(self.levels)
        plan = levels[:cohorts]
        while len(plan) < cohorts:
            plan.append(self.rng.choice(EXPANSION_LEVELS))
        return plan

    def build_subjects(self) -> None:
        rng = self.rng
        cohort_levels = self._cohort_levels()
        # First doses of the cohorts spread over ENROLMENT_YEARS, the last one early enough for
        # six cycles and the follow-up visit to end before the reference date.
        last_start = self.reference - dt.timedelta(days=MAX_CYCLES * self.cycle_days + 70)
        first_start = last_start - dt.timedelta(days=365 * ENROLMENT_YEARS - 120)
        span = (last_start - first_start).days
        site_codes = sorted(self.sites)
        site_weights = [3 if code in ("A", "B") else 2 for code in site_codes]
        for index in range(self.subject_count):
            cohort = index // 3
            fraction = cohort / max(len(cohort_levels) - 1, 1)
            first_dose_on = first_start + dt.timedelta(
                days=round(span * fraction) + rng.randint(0, 6)
            )
            first_dose_on = min(first_dose_on, last_start)
            site = rng.choices(site_codes, weights=site_weights)[0]
            self._subject(index + 1, site, cohort_levels[cohort], first_dose_on)

    def _subject(self, number: int, site: str, level: int, first_dose_on: dt.date) -> None:
        rng = self.rng
        consent_on = first_dose_on - dt.timedelta(days=rng.randint(28, 40))
        eligible_on = consent_on + dt.timedelta(days=rng.randint(1, 5))
        enrolled_on = eligible_on + dt.timedelta(days=rng.randint(0, 2))
        ending = _weighted(rng, ENDINGS)
        cycles = MAX_CYCLES if ending == "" else rng.randint(2, MAX_CYCLES)
        code = self.study.subject_id_pattern.format(site=site, number=number, study=self.study.code)
        screened_at = _at(consent_on, rng, self.latest, lag_days=1)
        row = self._new_row(
            Subject,
            screened_at,
            study_id=self.study.pk,
            site_id=self.sites[site].pk,
            subject_code=code,
            sex=rng.choice("FM"),
            birth_year=self.reference.year - rng.randint(25, 80),
            status=SubjectStatus.SCREENING,
            consent_on=consent_on,
            eligibility_confirmed_on=None,
            enrolled_on=None,
            dose_level_id=None,
            first_dose_on=None,
            treatment_end_on=None,
            treatment_end_reason="",
            off_study_on=None,
            off_study_reason="",
        )
        subject = _Subject(row, site, level, first_dose_on, cycles, ending, first_dose_on, None)
        self._created(Subject, row, at=screened_at, subject=subject, repr_=code)
        enrolment = {
            "status": SubjectStatus.ON_TREATMENT,
            "dose_level_id": self.levels[level].pk,
            "enrolled_on": enrolled_on,
            "first_dose_on": first_dose_on,
            "eligibility_confirmed_on": eligible_on,
        }
        changes = [
            (name, row[attname], value)
            for name, attname, value in (
                ("status", "status", enrolment["status"]),
                ("eligibility_confirmed_on", "eligibility_confirmed_on", eligible_on),
                ("enrolled_on", "enrolled_on", enrolled_on),
                ("dose_level", "dose_level_id", enrolment["dose_level_id"]),
                ("first_dose_on", "first_dose_on", first_dose_on),
            )
        ]
        row.update(enrolment)
        enrolled_at = _at(enrolled_on, rng, self.latest, lag_days=0)
        self._updated(
            Subject,
            row,
            changes,
            at=enrolled_at,
            subject=subject,
            repr_=code,
            reason="Enrolment",
            action="ecrf.subject.enrolled",
        )
        self._visits(subject)
        self.subjects.append(subject)

    def _visit(self, subject: _Subject, at: dt.datetime, **values) -> dict[str, Any]:
        defaults = {
            "subject_id": subject.row["id"],
            "cycle": None,
            "day": None,
            "window_before": 0,
            "window_after": 0,
            "status": VisitStatus.PLANNED,
            "done_on": None,
            "missed_reason": "",
        }
        row = self._new_row(Visit, at, **(defaults | values))
        repr_ = f"{subject.row['subject_code']} {row['label']}"
        self._created(Visit, row, at=at, subject=subject, repr_=repr_, action="ecrf.visit.planned")
        subject.visits.append(row)
        return row

    def _visit_outcome(self, subject: _Subject, visit: dict, done_on: dt.date | None, reason=""):
        repr_ = f"{subject.row['subject_code']} {visit['label']}"
        if done_on is None:
            visit.update(status=VisitStatus.MISSED, missed_reason=reason)
            changes = [
                ("status", VisitStatus.PLANNED, VisitStatus.MISSED),
                ("missed_reason", "", reason),
            ]
            at = _at(
                visit["planned_on"] + dt.timedelta(days=visit["window_after"]),
                self.rng,
                self.latest,
            )
            self._updated(Visit, visit, changes, at=at, subject=subject, repr_=repr_, reason=reason)
            return
        visit.update(status=VisitStatus.DONE, done_on=done_on)
        changes = [("status", VisitStatus.PLANNED, VisitStatus.DONE), ("done_on", None, done_on)]
        at = _at(done_on, self.rng, self.latest, lag_days=1)
        self._updated(
            Visit, visit, changes, at=at, subject=subject, repr_=repr_, reason="Visit took place"
        )

    def _visits(self, subject: _Subject) -> None:
        """The schedule's visits for the cycles given, end of treatment and follow-up."""
        rng = self.rng
        row = subject.row
        first = subject.first_dose_on
        planned_at = _at(row["enrolled_on"], rng, self.latest, lag_days=0)
        screening = self._visit(
            subject,
            planned_at,
            kind=VisitKind.SCREENING,
            label="Screening",
            planned_on=row["consent_on"],
            window_after=self.study.screening_days,
        )
        self._visit_outcome(subject, screening, row["consent_on"] + dt.timedelta(rng.randint(0, 3)))
        for cycle in range(1, subject.cycles + 1):
            for scheduled in self.schedule:
                planned_on = study_day_date(first, cycle, scheduled.day, self.cycle_days)
                visit = self._visit(
                    subject,
                    planned_at,
                    kind=VisitKind.CYCLE_DAY,
                    label=f"C{cycle}D{scheduled.day}",
                    cycle=cycle,
                    day=scheduled.day,
                    planned_on=planned_on,
                    window_before=scheduled.window_before,
                    window_after=scheduled.window_after,
                )
                if (cycle, scheduled.day) != (1, 1) and rng.random() < 0.03:
                    self._visit_outcome(subject, visit, None, rng.choice(MISSED_VISIT_REASONS))
                    continue
                shift = rng.randint(-scheduled.window_before, scheduled.window_after)
                if (cycle, scheduled.day) == (1, 1):
                    shift = 0
                self._visit_outcome(subject, visit, planned_on + dt.timedelta(days=shift))
        end_of_treatment = study_day_date(first, subject.cycles + 1, 1, self.cycle_days)
        eot = self._visit(
            subject,
            planned_at,
            kind=VisitKind.END_OF_TREATMENT,
            label="EOT",
            planned_on=end_of_treatment,
            window_after=7,
        )
        eot_done = end_of_treatment + dt.timedelta(days=rng.randint(0, 7))
        self._visit_outcome(subject, eot, eot_done)
        follow_up_on = end_of_treatment + dt.timedelta(days=self.study.follow_up_days)
        follow_up = self._visit(
            subject,
            planned_at,
            kind=VisitKind.FOLLOW_UP,
            label="Follow-up",
            planned_on=follow_up_on,
            window_before=7,
            window_after=7,
        )
        code = row["subject_code"]
        if subject.ending == "Death":
            subject.death_on = eot_done + dt.timedelta(days=rng.randint(1, 20))
            subject.end_on = subject.death_on
            self._visit_outcome(subject, follow_up, None, "Subject died")
            off_on, reason = subject.death_on, "Death"
        elif subject.ending == "Consent withdrawn":
            subject.end_on = eot_done + dt.timedelta(days=rng.randint(1, 10))
            self._visit_outcome(subject, follow_up, None, "Consent withdrawn")
            off_on, reason = subject.end_on, "Consent withdrawn"
        else:
            done_on = follow_up_on + dt.timedelta(days=rng.randint(-7, 7))
            self._visit_outcome(subject, follow_up, done_on)
            subject.end_on = done_on
            off_on, reason = done_on, subject.ending
        at = _at(subject.end_on, rng, self.latest)
        # Treatment ended with the last dose, the day before the end-of-treatment visit.
        treatment_end = (end_of_treatment - dt.timedelta(days=1), TREATMENT_ENDS[subject.ending])
        row.update(treatment_end_on=treatment_end[0], treatment_end_reason=treatment_end[1])
        ended = [("treatment_end_on", None, treatment_end[0]),
                 ("treatment_end_reason", "", treatment_end[1])]  # fmt: skip
        if subject.ending == "":
            changes = [("status", SubjectStatus.ON_TREATMENT, SubjectStatus.OFF_TREATMENT), *ended]
            row["status"] = SubjectStatus.OFF_TREATMENT
            self._updated(
                Subject,
                row,
                changes,
                at=at,
                subject=subject,
                repr_=code,
                reason="Completed the planned treatment cycles",
            )
            return
        if subject.ending == "Unacceptable toxicity":
            reason = "Unacceptable toxicity"
        changes = [
            ("status", SubjectStatus.ON_TREATMENT, SubjectStatus.OFF_STUDY),
            *ended,
            ("off_study_on", None, off_on),
            ("off_study_reason", "", reason),
        ]
        row.update(status=SubjectStatus.OFF_STUDY, off_study_on=off_on, off_study_reason=reason)
        self._updated(Subject, row, changes, at=at, subject=subject, repr_=code, reason=reason)

    # --- adverse events ---------------------------------------------------------------------

    def _per_subject(self, total_each: int) -> list[int]:
        """Split subjects x total_each over the subjects in proportion to their time on study."""
        days = [max((s.end_on - s.first_dose_on).days + 21, 1) for s in self.subjects]
        total = total_each * len(self.subjects)
        shares = [total * d / sum(days) for d in days]
        counts = [int(share) for share in shares]
        remainders = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
        for i in remainders[: total - sum(counts)]:
            counts[i] += 1
        return counts

    def build_events(self) -> None:
        tail = [t for t in all_terms() if 5 not in t.grades or len(t.grades) > 1]
        # No term the subject's sex or age rules out (the consistency checks): adults of both
        # sexes, so no neonatal or paediatric terms, and no term of the other sex.
        tails = {
            sex: [
                t for t in tail if t.term not in AGE_LIMITED_TERMS and t.term not in other_sex_terms
            ]
            for sex, other_sex_terms in (("M", FEMALE_ONLY_TERMS), ("F", MALE_ONLY_TERMS))
        }
        common_terms = [(get_term(term), agent) for term, agent, _w in COMMON_EVENTS]
        common_weights = [w for _t, _a, w in COMMON_EVENTS]
        agent_codes = sorted(self.agents)
        labs = self._per_subject(self.labs_per_subject)
        for subject, count, lab_count in zip(
            self.subjects, self._per_subject(self.events_per_subject), labs, strict=True
        ):
            subject.dose_dates = self._dose_dates(subject)
            subject.lab_budget = lab_count
            fatal_index = self.rng.randrange(count) if subject.death_on and count else None
            for index in range(count):
                if index == fatal_index:
                    self._event(
                        subject, get_term(self.rng.choice(FATAL_TERMS)), None, agent_codes, grade=5
                    )
                elif self.rng.random() < COMMON_SHARE:
                    term, suspect = self.rng.choices(common_terms, weights=common_weights)[0]
                    self._event(subject, term, suspect, agent_codes)
                else:
                    self._event(
                        subject, self.rng.choice(tails[subject.row["sex"]]), None, agent_codes
                    )
            # The flags once all the subject's events are known: a rule may look at the others
            # (a bleeding event makes a grade 3 thrombocytopenia a DLT).
            context = SubjectContext(
                tuple(
                    OtherEvent(e["ctcae_term"], e["grade"], e["onset_on"], e["resolved_on"])
                    for e in subject.events
                    if e["onset_on"] <= self.reference
                )
            )
            for event in subject.events:
                self._dlt(subject, event, event["_at"], context)

    def _dose_dates(self, subject: _Subject) -> dict[str, list[dt.date]]:
        """Per agent, the dates of the subject's planned doses, as build_doses writes them."""
        dates: dict[str, list[dt.date]] = {}
        for code, agent in sorted(self.agents.items()):
            schedule = agent.schedule
            days = dates.setdefault(code, [])
            for cycle in range(1, subject.cycles + 1):
                first_day = schedule.first_day if cycle == 1 else max(schedule.first_day, 1)
                for day in range(first_day, schedule.last_day + 1):
                    if day != 0:
                        days.append(
                            study_day_date(subject.first_dose_on, cycle, day, self.cycle_days)
                        )
            days.sort()
        return dates

    def _lab_support_on(self, subject: _Subject, onset: dt.date, resolved) -> dt.date | None:
        """The day a result can back an event of a lab term: its onset, or the day after the
        first dose when it began before (a result then is not a baseline); None when that day
        is outside the event's lab window or the subject's lab results are all spoken for."""
        day = max(onset, subject.first_dose_on + dt.timedelta(days=1))
        window_end = None if resolved is None else resolved + dt.timedelta(days=LAB_WINDOW_DAYS)
        if subject.lab_budget <= 0 or day > subject.end_on:
            return None
        if window_end is not None and day > window_end:
            return None
        return day

    def _grade(self, term) -> int:
        wanted = _weighted(self.rng, GRADE_WEIGHTS.items())
        allowed = [g for g in term.grades if g < 5]
        if wanted in allowed:
            return wanted
        below = [g for g in allowed if g < wanted]
        return max(below) if below else min(allowed)

    def _event(self, subject: _Subject, term, suspect, agent_codes, grade=None) -> None:
        rng = self.rng
        first = subject.first_dose_on
        start = first - dt.timedelta(days=21)
        last = subject.end_on
        if grade == 5:
            death_on = subject.death_on
            onset = death_on - dt.timedelta(days=rng.randint(0, 5))
            resolved, outcome = None, Outcome.FATAL
        else:
            grade = self._grade(term)
            death_on = None
            # Most events start during treatment; some in the lead-in or follow-up.
            onset = start + dt.timedelta(days=int(rng.triangular(0, (last - start).days, 30)))
            duration = int(rng.expovariate(1 / (3 + 4 * grade)))
            roll = rng.random()
            resolved = onset + dt.timedelta(days=duration)
            if roll < 0.80:
                outcome = Outcome.RECOVERED
            elif roll < 0.83:
                outcome = Outcome.RECOVERED_WITH_SEQUELAE
            elif roll < 0.91:
                outcome, resolved = Outcome.RECOVERING, None
            elif roll < 0.98:
                outcome, resolved = Outcome.NOT_RECOVERED, None
            else:
                outcome, resolved = Outcome.UNKNOWN, None
            if resolved is not None and resolved > last:
                outcome, resolved = Outcome.NOT_RECOVERED, None
        lab_support = None
        if needed_lab_grade(term.term, grade) is not None:
            support_on = self._lab_support_on(subject, onset, resolved)
            if support_on is None:
                # No result can back the grade: an event of a term without a lab criterion.
                term = get_term(rng.choice(NON_LAB_TERMS))
                grade = self._grade(term)
            else:
                subject.lab_budget -= 1
                lab_support = (term.term, needed_lab_grade(term.term, grade), support_on)
        criteria = self._seriousness(grade)
        verbatim = ""
        if term.is_other_specify:
            verbatim = f"Synthetic event {rng.randint(1, 999):03d} ({term.soc.lower()})"
        at = _at(resolved or onset, rng, self.latest)
        event = self._new_row(
            AdverseEvent,
            at,
            subject_id=subject.row["id"],
            ctcae_version=CTCAE_VERSION,
            ctcae_term=term.term,
            meddra_code=term.meddra_code,
            soc=term.soc,
            verbatim=verbatim,
            grade=grade,
            onset_on=onset,
            resolved_on=resolved,
            serious=bool(criteria),
            sae_death="sae_death" in criteria,
            sae_life_threatening="sae_life_threatening" in criteria,
            sae_hospitalisation="sae_hospitalisation" in criteria,
            sae_disability="sae_disability" in criteria,
            sae_congenital_anomaly=False,
            sae_important_medical_event="sae_important_medical_event" in criteria,
            outcome=outcome,
            death_on=death_on,
            # A serious event's site learnt of it when it was entered, a little after onset.
            site_aware_at=at if criteria else None,
            # The synthetic events have no grade history: each stays at its grade throughout.
            despite_supportive_care=False,
        )
        event["_lab_support"] = lab_support
        subject.events.append(event)
        attributions = {}
        for code in agent_codes:
            if suspect is None:
                attribution = _weighted(rng, UNEXPECTED_ATTRIBUTION)
            elif code == suspect:
                attribution = _weighted(rng, SUSPECT_ATTRIBUTION)
            else:
                attribution = _weighted(rng, OTHER_ATTRIBUTION)
            dates = subject.dose_dates[code]
            if attribution in RELATED and (not dates or onset < dates[0]):
                # Nothing is caused by an agent before its first dose (which is never missed).
                attribution = Attribution.UNLIKELY
            attributions[code] = attribution
            related = attribution in RELATED
            action = ActionTaken.NONE
            if grade >= 3 and related:
                action = rng.choice(
                    (ActionTaken.INTERRUPTED, ActionTaken.REDUCED, ActionTaken.WITHDRAWN)
                )
            elif grade == 2 and related and rng.random() < 0.2:
                action = ActionTaken.INTERRUPTED
            if grade == 5:
                action = ActionTaken.NOT_APPLICABLE
            if action in (ActionTaken.INTERRUPTED, ActionTaken.REDUCED, ActionTaken.WITHDRAWN):
                # The action shows in the doses: from the first one planned after onset in the
                # window the consistency check reads; with none, no dose was changed.
                window_end = max(
                    resolved or dates[-1], onset + dt.timedelta(days=ACTION_WINDOW_DAYS)
                )
                after = [d for d in dates if onset < d <= window_end]
                if after:
                    subject.actions.setdefault(code, []).append((action, after[0], event))
                else:
                    action = ActionTaken.NONE
            self._new_row(
                AdverseEventAgent,
                at,
                adverse_event_id=event["id"],
                agent_id=self.agents[code].pk,
                attribution=attribution,
                action_taken=action,
            )
        event["_attributions"] = attributions
        event["_at"] = at

    def _seriousness(self, grade: int) -> tuple[str, ...]:
        rng = self.rng
        if grade == 5:
            return ("sae_death",)
        chance = {1: 0.01, 2: 0.05, 3: 0.45, 4: 0.85}[grade]
        if rng.random() >= chance:
            return ()
        criteria = ["sae_hospitalisation"]
        if grade == 4 and rng.random() < 0.6:
            criteria.append("sae_life_threatening")
        if rng.random() < 0.1:
            criteria = ["sae_important_medical_event"]
        if grade >= 3 and rng.random() < 0.02:
            criteria.append("sae_disability")
        return tuple(criteria)

    def _dlt(
        self, subject: _Subject, event: dict, at: dt.datetime, context: SubjectContext
    ) -> None:
        """The DLT rules' flag for the event, as dlt_evaluate_event stores it at the cutoff.
        The reference definition's rules look at no lab result and no cycle 2 dose, so the
        subject's other events are all the context they need."""
        flag = evaluate_event(
            EventFacts(
                event_id=event["id"],
                term=event["ctcae_term"],
                grade=event["grade"],
                onset_on=event["onset_on"],
                resolved_on=event["resolved_on"],
                attributions=event["_attributions"],
            ),
            first_dose_on=subject.first_dose_on,
            cutoff=self.reference,
            settings=self.dlt_settings,
            rules=self.dlt_rules.rules,
            context=context,
        )
        status = DltStatus.POTENTIAL if flag.is_dlt else DltStatus.NOT_DLT
        assessment = self._new_row(
            DltAssessment,
            at,
            adverse_event_id=event["id"],
            rule_flag=flag.is_dlt,
            rule=flag.rule,
            rule_reason=flag.reason[:RULE_REASON_LENGTH],
            rule_set_id=self.dlt_rules.version.pk,
            onset_day=flag.onset_day,
            decision="",
            decision_reason="",
            decided_by_id=None,
            decided_at=None,
            signature_id=None,
            needs_review=False,
            status=status,
        )
        repr_ = f"{event['ctcae_term']} grade {event['grade']}: {DltStatus(status).label}"
        self._created(DltAssessment, assessment, at=at, subject=subject, repr_=repr_)
        if flag.is_dlt and self.rng.random() < 0.75:
            decision = DltDecision.CONFIRMED if self.rng.random() < 0.8 else DltDecision.RULED_OUT
            self.decisions.append((assessment, event, subject, decision))

    # --- doses ------------------------------------------------------------------------------

    def build_doses(self) -> None:
        rng = self.rng
        for subject in self.subjects:
            planned = {
                code: _dec(str(dose)) for code, dose in self.level_doses[subject.level].items()
            }
            reduced: dict[str, tuple[int, Decimal, str, dict | None]] = {}
            if subject.cycles >= 2 and rng.random() < 0.25:
                code = rng.choice(("IL2", "IL2", "IM"))
                from_cycle = rng.randint(2, subject.cycles)
                lower = self.level_doses.get(subject.level - 1, {}).get(code)
                dose = lower if lower is not None else planned[code] / 2
                if code == "IM":
                    dose = Decimal(300)
                cause = self._reduction_cause(subject, from_cycle)
                if cause is None:
                    reason = "Dose reduced per protocol after toxicity in the previous cycle"
                else:
                    reason = (
                        f"Dose reduced for {cause['ctcae_term'].lower()} grade {cause['grade']}"
                    )
                reduced[code] = (from_cycle, _dec(str(dose)), reason, cause)
            for cycle in range(1, subject.cycles + 1):
                for code, agent in sorted(self.agents.items()):
                    schedule = agent.schedule
                    first_day = schedule.first_day if cycle == 1 else max(schedule.first_day, 1)
                    for day in range(first_day, schedule.last_day + 1):
                        if day == 0:
                            continue
                        self._dose(subject, code, cycle, day, planned[code], reduced.get(code))

    def _reduction_cause(self, subject: _Subject, from_cycle: int) -> dict | None:
        start = study_day_date(subject.first_dose_on, from_cycle, 1, self.cycle_days)
        candidates = [
            e for e in subject.events if e["grade"] in (2, 3, 4) and e["onset_on"] < start
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda e: (e["grade"], e["onset_on"]))

    def _dose(
        self, subject: _Subject, code: str, cycle: int, day: int, planned: Decimal, reduction
    ) -> None:
        rng = self.rng
        # study_day_date and dose_record's cycle_and_day agree: day -21 is cycle 1, day -21.
        given_on = study_day_date(subject.first_dose_on, cycle, day, self.cycle_days)
        given, reason, cause = planned, "", None
        if reduction is not None and cycle >= reduction[0]:
            given, reason, cause = reduction[1], reduction[2], reduction[3]
        acted = self._event_action(subject, code, given_on, planned)
        if acted is not None:
            given, reason, cause = acted
        # The first dose of an agent is never missed, so that the events attributed to it
        # begin on or after the day it was first given.
        missed = rng.random() < 0.02 and given_on != subject.dose_dates[code][0]
        if missed and acted is None:
            given, reason, cause = Decimal(0), rng.choice(MISSED_DOSE_REASONS), None
        agent = self.agents[code]
        at = _at(given_on, rng, self.latest, lag_days=1)
        self._new_row(
            DoseAdministration,
            at,
            subject_id=subject.row["id"],
            agent_id=agent.pk,
            visit_id=None,
            given_on=given_on,
            cycle=cycle,
            day=day,
            planned_dose=planned,
            given_dose=given,
            unit=agent.unit,
            reason=reason,
            reason_category=(
                DoseChangeReason.ADVERSE_EVENT
                if cause
                else MISSED_DOSE_KINDS.get(reason, DoseChangeReason.OTHER)
                if given != planned
                else ""
            ),
            adverse_event_id=cause["id"] if cause else None,
        )

    def _reduced_dose(self, subject: _Subject, code: str, planned: Decimal) -> Decimal:
        """The dose of an agent reduced for an adverse event: imatinib 300 mg, IL-2 the level
        below (half when there is none), cyclophosphamide half."""
        if code == "IM":
            return Decimal(300)
        lower = self.level_doses.get(subject.level - 1, {}).get(code)
        if code == "IL2" and lower is not None and _dec(str(lower)) < planned:
            return _dec(str(lower))
        return _dec(str(planned / 2))

    def _event_action(self, subject: _Subject, code: str, given_on: dt.date, planned: Decimal):
        """(given, reason, event) of a dose that an adverse event's action changes, or None.

        Withdrawn: no more of the agent from the first dose after onset; interrupted: that dose
        withheld; reduced: reduced from it on. A withdrawal wins over an interruption, which wins
        over a reduction.
        """
        changes = []
        for kind, first, event in subject.actions.get(code, ()):
            if given_on < first:
                continue
            label = f"{event['ctcae_term'].lower()} grade {event['grade']}"
            if kind == ActionTaken.WITHDRAWN:
                changes.append((0, Decimal(0), f"Withdrawn for {label}", event))
            elif kind == ActionTaken.INTERRUPTED and given_on == first:
                changes.append((1, Decimal(0), f"Withheld for {label}", event))
            elif kind == ActionTaken.REDUCED:
                reduced = self._reduced_dose(subject, code, planned)
                changes.append((2, reduced, f"Dose reduced for {label}", event))
        if not changes:
            return None
        _rank, given, reason, event = min(changes, key=lambda c: (c[0], c[3]["onset_on"]))
        return given, reason, event

    # --- lab results ------------------------------------------------------------------------

    def _samples(
        self, subject: _Subject, wanted: int
    ) -> list[tuple[dt.datetime, dict | None, tuple[str, ...]]]:
        """Sample times with their visit and tests: the visits' full panels, then inpatient
        monitoring on IL-2 days, then extra temperature readings, until `wanted` results."""
        rng = self.rng
        samples = []
        for visit in subject.visits:
            if visit["status"] == VisitStatus.DONE and visit["done_on"] <= subject.end_on:
                at = dt.datetime.combine(
                    visit["done_on"], dt.time(8, rng.randint(0, 59)), tzinfo=dt.UTC
                )
                samples.append((at, visit, tuple(LAB_PANEL)))
        count = sum(len(tests) for _at, _v, tests in samples)
        extra_days = []
        for cycle in range(1, subject.cycles + 1):
            for day in (11, 12, 13, 14):
                extra_days.append(
                    study_day_date(subject.first_dose_on, cycle, day, self.cycle_days)
                )
        hour = 6
        while count < wanted:
            for day in extra_days:
                if count >= wanted:
                    break
                tests = MONITORING_PANEL if hour == 6 else ("TEMP",)
                at = dt.datetime.combine(day, dt.time(hour, rng.randint(0, 59)), tzinfo=dt.UTC)
                samples.append((at, None, tests))
                count += len(tests)
            hour += 1
            if hour == 8:
                hour = 12  # after the morning visit samples
            if hour > 23:
                extra_days = [d + dt.timedelta(days=1) for d in extra_days]
                hour = 6
        samples.sort(key=lambda s: s[0])
        return samples

    def build_labs(self) -> None:
        rng = self.rng
        np_rng = self.np_rng
        frames = []
        for subject, count in zip(
            self.subjects, self._per_subject(self.labs_per_subject), strict=True
        ):
            slots = [
                (at, visit, test)
                for at, visit, tests in self._samples(subject, count)
                for test in tests
            ]
            if len(slots) > count:
                # Keep the screening and day 1 results (the baselines) and a random subset of
                # the rest, in time order.
                first = subject.first_dose_on
                keep = [i for i, s in enumerate(slots) if s[0].date() <= first]
                rest = [i for i, s in enumerate(slots) if s[0].date() > first]
                keep = keep[:count]
                chosen = sorted(keep + rng.sample(rest, count - len(keep)))
                slots = [slots[i] for i in chosen]
            slots, supports = self._support_slots(subject, slots)
            if not slots:
                continue
            tests = [test for _at, _v, test in slots]
            spec = [LAB_PANEL[t] for t in tests]
            typical = np.array([s[3] for s in spec])
            spread = np.array([s[4] for s in spec])
            high = np.array([s[6] for s in spec])
            # A subject's own level for each test, then the day-to-day variation.
            own = {t: np_rng.normal(0, 0.5) for t in LAB_PANEL}
            log_value = np.log(typical) + spread * (
                np.array([own[t] for t in tests]) + np_rng.normal(0, 1, len(tests))
            )
            post_dose = np.array([at.date() > subject.first_dose_on for at, _v, _t in slots])
            excursion = post_dose & (np_rng.random(len(tests)) < EXCURSION_SHARE)
            low_size, high_size = np.array(
                [EXCURSION_LOG.get(t, DEFAULT_EXCURSION) for t in tests]
            ).T
            size = np_rng.uniform(low_size, high_size)
            log_value = np.where(excursion, log_value + np.where(high, size, -size), log_value)
            values = np.exp(log_value)
            texts = [f"{v:.{s[5]}f}" for v, s in zip(values, spec, strict=True)]
            site_ranges = self.ranges[subject.site]
            self._support_values(slots, texts, post_dose, supports, site_ranges)
            for (at, visit, test), text in zip(slots, texts, strict=True):
                lln, uln = site_ranges[test]
                entered_at = max(
                    _at(at.date(), rng, self.latest, lag_days=1), at + dt.timedelta(hours=1)
                )
                self._new_row(
                    LabResult,
                    entered_at,
                    subject_id=subject.row["id"],
                    visit_id=visit["id"] if visit else None,
                    test_code=test,
                    value=_dec(text),
                    unit=LAB_PANEL[test][0],
                    lln=None if lln is None else _dec(lln),
                    uln=None if uln is None else _dec(uln),
                    collected_at=at,
                )
            frames.append(
                pd.DataFrame(
                    {
                        "test": tests,
                        "value": [float(t) for t in texts],
                        "unit": [LAB_PANEL[t][0] for t in tests],
                        "lln": [
                            np.nan if site_ranges[t][0] is None else float(site_ranges[t][0])
                            for t in tests
                        ],
                        "uln": [
                            np.nan if site_ranges[t][1] is None else float(site_ranges[t][1])
                            for t in tests
                        ],
                        "baseline": _baselines(tests, texts, post_dose),
                    }
                )
            )
        self._grade_labs(frames)

    def _support_slots(self, subject: _Subject, slots: list) -> tuple[list, dict]:
        """The slots with one result on each lab-term event's support day, in place of other
        results (post-dose ones first), so that the count stays as asked; in time order.

        Returns the slots and, per support slot's (time, test), the (term, lab grade) it needs.
        """
        wanted = [e["_lab_support"] for e in subject.events if e.get("_lab_support")]
        if not wanted:
            return slots, {}
        first = subject.first_dose_on
        post = [i for i, s in enumerate(slots) if s[0].date() > first]
        pre = [i for i, s in enumerate(slots) if s[0].date() <= first]
        victims = self.rng.sample(post, min(len(post), len(wanted)))
        victims += pre[::-1][: len(wanted) - len(victims)]
        slots = list(slots)
        supports = {}
        for number, ((term, grade, day), victim) in enumerate(zip(wanted, victims, strict=False)):
            at = dt.datetime.combine(day, dt.time(7, number % 60), tzinfo=dt.UTC)
            test = LAB_TERM_TESTS[term]
            slots[victim] = (at, None, test)
            supports[(at, test)] = (term, grade)
        slots.sort(key=lambda s: s[0])
        return slots, supports

    def _support_values(self, slots, texts, post_dose, supports, site_ranges) -> None:
        """Replace each support slot's random value by one its event's term and grade get."""
        if not supports:
            return
        # A post-dose result's baseline: the last value of its test on or before the first dose.
        last: dict[str, float] = {}
        for position, ((at, _visit, test), post) in enumerate(zip(slots, post_dose, strict=True)):
            if not post:
                last[test] = float(texts[position])
                continue
            need = supports.get((at, test))
            if need is None:
                continue
            term, grade = need
            unit, _lln, _uln, typical, _sd, decimals, _high = LAB_PANEL[test]
            lln, uln = (None if limit is None else float(limit) for limit in site_ranges[test])
            high = LAB_TESTS[test].high_term == term
            reference = (uln if high else lln) or typical
            # The grade itself, or the next one that a value can get with this baseline (a
            # creatinine above ULN is already grade 2 against a low baseline).
            for target in range(grade, 5):
                text = value_of_grade(
                    test, unit, term, target, reference=reference, decimals=decimals, lln=lln,
                    uln=uln, baseline=last.get(test) if LAB_TESTS[test].uses_baseline else None,
                )  # fmt: skip
                if text is not None:
                    texts[position] = text
                    break

    def _grade_labs(self, frames: list[pd.DataFrame]) -> None:
        """Grade every result at once, as lab_record would one by one; CD8 and NK are not graded."""
        rows = self.rows[LabResult].rows
        if not rows:
            return
        frame = pd.concat(frames, ignore_index=True)
        gradable = frame["test"].isin(list(LAB_TESTS)).to_numpy()
        graded = grade_labs(frame[gradable])
        terms = graded["term"].to_numpy()
        grades = graded["grade"].to_numpy()
        positions = np.flatnonzero(gradable)
        for row in rows:
            row.update(ctcae_version="", ctcae_term="", ctcae_grade=None)
        for position, term, grade in zip(positions, terms, grades, strict=True):
            row = rows[position]
            row["ctcae_version"] = CTCAE_VERSION
            row["ctcae_term"] = term or ""
            row["ctcae_grade"] = int(grade)

    # --- DLT decisions ----------------------------------------------------------------------

    def decide(self, investigators: dict[str, Any]) -> list[Signature]:
        """Investigators' signed decisions on most potential DLTs, as dlt_decide makes them."""
        signatures = []
        for assessment, event, subject, decision in self.decisions:
            user = investigators[subject.site]
            reason = DECISION_REASONS[decision]
            decided_on = (event["resolved_on"] or event["onset_on"]) + dt.timedelta(
                days=self.rng.randint(1, 10)
            )
            decided_at = max(
                min(_at(decided_on, self.rng, self.latest), self.latest),
                assessment["created_at"] + dt.timedelta(hours=1),
            )
            content = json.dumps(
                {
                    "adverse_event": str(event["id"]),
                    "subject": subject.row["subject_code"],
                    "term": event["ctcae_term"],
                    "grade": event["grade"],
                    "onset_on": event["onset_on"].isoformat(),
                    "resolved_on": event["resolved_on"].isoformat()
                    if event["resolved_on"]
                    else None,
                    "attributions": sorted(event["_attributions"].items()),
                    "rule": assessment["rule"],
                    "rule_flag": assessment["rule_flag"],
                    "decision": decision,
                    "reason": reason,
                },
                sort_keys=True,
                default=str,
            )
            signatures.append(
                Signature(
                    signer=user,
                    printed_name=user.get_full_name() or user.get_username(),
                    role=Role.INVESTIGATOR.value,
                    signed_at=decided_at,
                    meaning=MEANING_CONFIRM
                    if decision == DltDecision.CONFIRMED
                    else MEANING_RULE_OUT,
                    model=DltAssessment._meta.label,
                    object_id=str(assessment["id"]),
                    content_hash=hashlib.sha256(content.encode()).hexdigest(),
                )
            )
        Signature.objects.bulk_create(signatures, batch_size=2000)
        for (assessment, event, subject, decision), signature in zip(
            self.decisions, signatures, strict=True
        ):
            user = signature.signer
            changes = [
                ("decision", "", decision),
                ("decision_reason", "", signature_reason := DECISION_REASONS[decision]),
                ("decided_by", None, user.pk),
                ("decided_at", None, signature.signed_at),
                ("signature", None, signature.pk),
                ("status", assessment["status"], decision),
            ]
            assessment.update(
                decision=decision,
                decision_reason=signature_reason,
                decided_by_id=user.pk,
                decided_at=signature.signed_at,
                signature_id=signature.pk,
                status=decision,
            )
            repr_ = f"{event['ctcae_term']} grade {event['grade']}: {DltStatus(decision).label}"
            self._updated(
                DltAssessment,
                assessment,
                changes,
                at=signature.signed_at,
                subject=subject,
                repr_=repr_,
                reason=signature_reason,
                action=f"ecrf.dltassessment.{decision}",
                actor=(user.pk, user.get_username(), Role.INVESTIGATOR.value),
            )
        return signatures


def _baselines(tests: list[str], texts: list[str], post_dose: np.ndarray) -> list[float]:
    """Each post-dose result's baseline: the last value of its test on or before the first dose
    (the results are in time order); NaN for pre-dose results and tests with no such value."""
    last: dict[str, float] = {}
    baselines = []
    for test, text, post in zip(tests, texts, post_dose, strict=True):
        if post:
            baselines.append(last.get(test, np.nan))
        else:
            last[test] = float(text)
            baselines.append(np.nan)
    return baselines


# --- Writing ------------------------------------------------------------------------------------


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    """Django's SQLite form of an aware datetime: naive UTC text."""
    if value is None:
        return None
    if value.microsecond == 0 and value.utcoffset() == dt.timedelta(0):
        return value.isoformat(" ")[:19]  # the common case, without the time-zone arithmetic
    return connection.ops.adapt_datetimefield_value(value)


def _converters(model: type[models.Model], columns: list[str]) -> list[Callable | None]:
    """How each column's Python value becomes what the database driver takes, as Django's
    get_db_prep_save would make it; None where the value passes unchanged.

    PostgreSQL's driver takes the Python values as they are. Django keeps SQLite's UUIDs as
    hex text, dates and times as ISO text (times as naive UTC), decimals as text and booleans
    as integers.
    """
    fields = {f.attname: f for f in model._meta.concrete_fields}
    converters: list[Callable | None] = []
    for column in columns:
        model_field = fields[column]
        kind = model_field.target_field if model_field.is_relation else model_field
        kind = kind.get_internal_type()
        if connection.vendor == "postgresql":
            converters.append(None)
        elif kind == "UUIDField":
            converters.append(lambda v: None if v is None else v.hex)
        elif kind == "DateTimeField":
            converters.append(_sqlite_datetime)
        elif kind == "DateField":
            converters.append(lambda v: None if v is None else v.isoformat())
        elif kind == "DecimalField":
            converters.append(lambda v: None if v is None else str(v))
        elif kind == "BooleanField":
            converters.append(int)
        else:
            converters.append(None)
    return converters


def _insert(model: type[models.Model], columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert rows (tuples in `columns` order, already converted) in one statement per table."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            # Table and column names come from the model's metadata, never from input.
            sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
            cursor.executemany(sql, rows)


def _write_rows(table: _Rows) -> None:
    """Insert the rows of one model, converted column by column (much faster than row by row)."""
    columns = [f.attname for f in table.model._meta.concrete_fields]
    data = []
    for column, convert in zip(columns, _converters(table.model, columns), strict=True):
        values = [row[column] for row in table.rows]
        data.append(values if convert is None else list(map(convert, values)))
    _insert(table.model, columns, zip(*data, strict=True))


AUDIT_COLUMNS = [
    "at",
    "user_id",
    "actor",
    "role",
    "site",
    "action",
    "model",
    "object_id",
    "object_repr",
    "subject_id",
    "field",
    "old_value",
    "new_value",
    "reason",
]


def _formatter(model_field: models.Field) -> Callable[[Any], str]:
    """audit_value for one field's values, with fast paths for the common types."""
    kind = model_field.get_internal_type()
    if model_field.is_relation:
        kind = model_field.target_field.get_internal_type()
    if kind in ("CharField", "TextField", "SlugField"):
        return lambda v: v
    if kind == "UUIDField":
        return str
    if kind == "BooleanField":
        return lambda v: "True" if v else "False"
    if kind in (
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "IntegerField",
        "BigAutoField",
        "AutoField",
        "BigIntegerField",
    ):
        return str
    if kind == "DateField":
        return lambda v: v.isoformat()
    return audit_value


def _audit_rows(entries: list[_AuditEntry], command_actor) -> Iterator[tuple]:
    """The AuditEvent rows write_audit would write for each entry, ready for the driver."""
    convert_at = _converters(AuditEvent, ["at"])[0] or (lambda v: v)
    convert_subject = _converters(AuditEvent, ["subject_id"])[0] or (lambda v: v)
    plans: dict[type, list[tuple[str, str, Callable]]] = {}
    subject_ids: dict[uuid.UUID, Any] = {}
    for entry in entries:
        model = entry.model
        plan = plans.get(model)
        if plan is None:
            plan = plans[model] = [
                (f.name, f.attname, _formatter(f)) for f in audited_fields(model)
            ]
        user_id, actor, role = entry.actor or (None, command_actor.name, command_actor.role)
        at = convert_at(entry.at)
        subject_id = subject_ids.get(entry.subject_id)
        if subject_id is None:
            subject_id = subject_ids[entry.subject_id] = convert_subject(entry.subject_id)
        head = (
            at,
            user_id,
            actor,
            role,
            entry.site,
            entry.action,
            model._meta.label,
            str(entry.row["id"]),
            entry.repr[:200],
            subject_id,
        )
        row = entry.row
        if entry.changes is None:
            for name, attname, fmt in plan:
                value = row[attname]
                if value is not None and value != "":
                    yield (*head, name, None, fmt(value), entry.reason)
        else:
            for name, old, new in entry.changes:
                yield (*head, name, audit_value(old), audit_value(new), entry.reason)


def _audit_size(generator: _Generator) -> int:
    """About how many audit events the trial needs (the bulk models have about 10 fields)."""
    return len(generator.audit) + 10 * sum(
        len(generator.rows[model].rows) for model in AUDITED_IN_DATABASE
    )


def _write_audit(entries: list[_AuditEntry]) -> None:
    _insert(AuditEvent, AUDIT_COLUMNS, _audit_rows(entries, system_actor(COMMAND)))


class _DatabaseAudit:
    """INSERT ... SELECT statements that write, from the rows just inserted, the creation
    events write_audit would have written: one per non-empty audited field, in field order.

    Values are rendered in SQL as ``audit_value`` renders them in Python: UUIDs with dashes,
    booleans as True/False, dates in ISO format, UTC times as ``isoformat()`` gives them (the
    generator's times have no microseconds) and decimals without trailing zeros (as the
    generator types them, see ``_dec``).
    """

    def __init__(self, study: Study) -> None:
        self.vendor = connection.vendor
        self.study_id = _converters(Subject, ["study_id"])[0] or (lambda v: v)
        self.study_pk = self.study_id(study.pk)
        self.quote = connection.ops.quote_name

    def uuid_text(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"CAST({column} AS TEXT)"
        parts = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        return " || '-' || ".join(f"substr({column}, {a}, {b})" for a, b in parts)

    def decimal_text(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"CAST(trim_scale({column}) AS TEXT)"
        # SQLite keeps a decimal as an integer or a real number; both print without zeros.
        return f"CAST({column} AS TEXT)"

    def text(self, field: models.Field, column: str) -> str:
        kind = (
            field.target_field.get_internal_type()
            if field.is_relation
            else (field.get_internal_type())
        )
        if kind == "UUIDField":
            return self.uuid_text(column)
        if kind == "BooleanField":
            return f"CASE WHEN {column} THEN 'True' ELSE 'False' END"
        if kind == "DecimalField":
            return self.decimal_text(column)
        if kind == "DateField":
            if self.vendor == "postgresql":
                return f"to_char({column}, 'YYYY-MM-DD')"
            return column
        if kind == "DateTimeField":
            if self.vendor == "postgresql":
                return (
                    f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00'"
                )
            return f"replace({column}, ' ', 'T') || '+00:00'"
        if kind in ("CharField", "TextField"):
            return column
        return f"CAST({column} AS TEXT)"

    def source(self, model: type[models.Model]) -> tuple[str, str]:
        """The FROM clause reaching the subject (s), site (st) and agent (a), and the repr."""
        q = self.quote
        table = q(model._meta.db_table)
        subject, site = q(Subject._meta.db_table), q("ecrf_site")
        agent = q("ecrf_agent")
        if model is AdverseEventAgent:
            event = q(AdverseEvent._meta.db_table)
            joins = (
                f"{table} r JOIN {event} ae ON ae.id = r.adverse_event_id "
                f"JOIN {subject} s ON s.id = ae.subject_id "
                f"JOIN {agent} a ON a.id = r.agent_id"
            )
            labels = " ".join(
                f"WHEN '{value}' THEN '{label}'" for value, label in Attribution.choices
            )
            representation = f"a.code || ': ' || CASE r.attribution {labels} END"
        else:
            joins = f"{table} r JOIN {subject} s ON s.id = r.subject_id"
            if model is AdverseEvent:
                representation = "r.ctcae_term || ' grade ' || CAST(r.grade AS TEXT)"
            elif model is LabResult:
                representation = (
                    f"r.test_code || ' ' || {self.decimal_text('r.value')} || ' ' || r.unit"
                )
            else:
                joins += f" JOIN {agent} a ON a.id = r.agent_id"
                representation = (
                    f"a.code || ' ' || {self.decimal_text('r.given_dose')} || ' ' "
                    f"|| r.unit || ' on ' || {self.text(DoseAdministration._meta.get_field('given_on'), 'r.given_on')}"
                )
        joins += f" JOIN {site} st ON st.id = s.site_id"
        return joins, representation

    def write(self, model: type[models.Model]) -> None:
        q = self.quote
        joins, representation = self.source(model)
        actor = system_actor(COMMAND)
        columns = ", ".join(q(c) for c in AUDIT_COLUMNS)
        with connection.cursor() as cursor:
            for model_field in audited_fields(model):
                column = f"r.{q(model_field.column)}"
                present = f"{column} IS NOT NULL"
                if not model_field.is_relation and model_field.get_internal_type() in (
                    "CharField",
                    "TextField",
                ):
                    present += f" AND {column} <> ''"
                # Table and column names come from the models' metadata; values are parameters.
                sql = (
                    f"INSERT INTO {q(AuditEvent._meta.db_table)} ({columns}) "  # noqa: S608
                    f"SELECT r.created_at, NULL, %s, %s, st.code, %s, %s, "
                    f"{self.uuid_text('r.id')}, {representation}, s.id, %s, NULL, "
                    f"{self.text(model_field, column)}, '' "
                    f"FROM {joins} WHERE s.study_id = %s AND {present}"
                )
                cursor.execute(
                    sql,
                    [
                        actor.name,
                        actor.role,
                        f"ecrf.{model._meta.model_name}.created",
                        model._meta.label,
                        model_field.name,
                        self.study_pk,
                    ],
                )


@contextmanager
def _indexes_rebuilt_after(model: type[models.Model], *, rows: int) -> Iterator[None]:
    """Drop the table's secondary indexes while `rows` rows go in, then build them again.

    Building an index once from all rows is much faster than updating it row by row with
    random keys (UUIDs), but it costs a pass over the whole table, so it is done only when
    the new rows outnumber those already there. The indexes are rebuilt from the database's
    own definitions, inside the caller's transaction: a failed generation leaves them as they
    were. On PostgreSQL the table stays locked for writing until the transaction ends.
    """
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL",
                [table],
            )
        else:
            # Indexes that back a constraint (the primary key) stay. Only the table's owner
            # may drop its indexes: connected as the application role (manage.py db_roles)
            # the rows go in with the indexes in place.
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
                "AND pg_has_role(i.relowner, 'USAGE') "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
                [connection.ops.quote_name(table)],
            )
        indexes = cursor.fetchall()
    if rows <= model._default_manager.count() or not indexes:
        yield
        return
    with connection.cursor() as cursor:
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # PostgreSQL builds no index on a table with foreign key checks still pending
            # (Django's are deferred to the commit), so they are made now. More sort memory
            # for this transaction only lets each index be sorted in memory.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# --- Users ---------------------------------------------------------------------------------------


def _site_user(username: str, role: Role, study: Study, site, password: str | None, name: str):
    """The user, created if missing, in the role's group and assigned to the study's site."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, first_name=name.split()[0], last_name=name.split()[-1])
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
    elif password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=role.value))
    if not StudyAssignment.objects.filter(user=user, study=study, site=site).exists():
        record_create(
            record=StudyAssignment(user=user, study=study, site=site), by=system_actor(COMMAND)
        )
    return user


def _investigators(study: Study) -> dict[str, Any]:
    """One investigator per site, who signs the site's DLT decisions (no password: they can
    sign in only after ``site_users_create`` gives them one)."""
    ensure_role_groups()
    return {
        site.code: _site_user(
            INVESTIGATOR.format(site=site.code.lower()),
            Role.INVESTIGATOR,
            study,
            site,
            None,
            f"Investigator {site.code}",
        )
        for site in study.sites.order_by("code")
    }


def site_users_create(*, study: Study, password: str) -> list:
    """A research nurse and an investigator per site who can sign in with `password`."""
    ensure_role_groups()
    users = []
    with transaction.atomic():
        for site in study.sites.order_by("code"):
            code = site.code.lower()
            users.append(
                _site_user(
                    NURSE.format(site=code),
                    Role.RESEARCH_NURSE,
                    study,
                    site,
                    password,
                    f"Nurse {site.code}",
                )
            )
            users.append(
                _site_user(
                    INVESTIGATOR.format(site=code),
                    Role.INVESTIGATOR,
                    study,
                    site,
                    password,
                    f"Investigator {site.code}",
                )
            )
    return users


# --- Entry point ---------------------------------------------------------------------------------


def _definition(study_code: str, subjects: int):
    data = json.loads(STUDY_FILE.read_text(encoding="utf-8"))
    data["code"] = study_code
    data["title"] = f"Synthetic trial: {data['title']}"
    extra = min(len(EXTRA_SITES), subjects // 100)
    data["sites"] = data["sites"] + [{"code": c, "name": n} for c, n in EXTRA_SITES[:extra]]
    return parse_study_definition(data)


def _reference_ranges(generator: _Generator) -> None:
    """Each site's normal ranges, so that lab entry on the synthetic trial prefills them."""
    actor = system_actor(COMMAND)
    effective_from = generator.reference - dt.timedelta(days=365 * (ENROLMENT_YEARS + 1))
    for code, ranges in generator.ranges.items():
        for test, (lln, uln) in ranges.items():
            record_create(
                record=ReferenceRange(
                    site=generator.sites[code],
                    test_code=test,
                    unit=LAB_PANEL[test][0],
                    lln=None if lln is None else _dec(lln),
                    uln=None if uln is None else _dec(uln),
                    effective_from=effective_from,
                ),
                by=actor,
            )


def generate_trial(
    *,
    subjects: int,
    seed: int,
    study_code: str = DEFAULT_STUDY_CODE,
    events_per_subject: int = 50,
    labs_per_subject: int = 500,
) -> Study:
    """Create a synthetic trial with `subjects` subjects; the same seed gives the same data.

    Raises SyntheticTrialError (naming the argument) for a count out of range or a study code
    already in use; nothing is written then.
    """
    for name, value, minimum in (
        ("subjects", subjects, 1),
        ("events_per_subject", events_per_subject, 0),
        ("labs_per_subject", labs_per_subject, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SyntheticTrialError(name, TOO_FEW.format(name=name, minimum=minimum, value=value))
    if Study.objects.filter(code=study_code).exists():
        raise SyntheticTrialError("study_code", STUDY_EXISTS.format(code=study_code))
    try:
        definition = _definition(study_code, subjects)
    except StudyDefinitionError as exc:
        raise SyntheticTrialError("study_code", str(exc)) from exc
    with transaction.atomic():
        study, _ = study_load(
            definition=definition, by=system_actor(COMMAND), source=f"{COMMAND} seed {seed}"
        )
        generator = _Generator(
            study, subjects=subjects, seed=seed, events=events_per_subject, labs=labs_per_subject
        )
        _reference_ranges(generator)
        investigators = _investigators(study)
        generator.build_subjects()
        generator.build_events()
        generator.build_doses()
        generator.build_labs()
        generator.decide(investigators)
        for table in generator.rows.values():
            for row in table.rows:
                for key in ("_attributions", "_lab_support"):
                    row.pop(key, None)
            with _indexes_rebuilt_after(table.model, rows=len(table.rows)):
                _write_rows(table)
            if connection.vendor == "postgresql":
                # Fresh statistics, so that the planner joins the new rows well when the audit
                # is written from them (and in the benchmarks that follow).
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"ANALYZE {connection.ops.quote_name(table.model._meta.db_table)}"
                    )
        with _indexes_rebuilt_after(AuditEvent, rows=_audit_size(generator)):
            _write_audit(generator.audit)
            database_audit = _DatabaseAudit(study)
            for model in AUDITED_IN_DATABASE:
                database_audit.write(model)
    return study


def trial_counts(study: Study) -> dict[str, int]:
    """How many records of each kind the study holds, and the audit events about its subjects."""
    subjects = Subject.objects.filter(study=study)
    return {
        "subjects": subjects.count(),
        "visits": Visit.objects.filter(subject__study=study).count(),
        "doses": DoseAdministration.objects.filter(subject__study=study).count(),
        "adverse_events": AdverseEvent.objects.filter(subject__study=study).count(),
        "attributions": AdverseEventAgent.objects.filter(
            adverse_event__subject__study=study
        ).count(),
        "dlt_assessments": DltAssessment.objects.filter(
            adverse_event__subject__study=study
        ).count(),
        "dlt_decisions": DltAssessment.objects.filter(adverse_event__subject__study=study)
        .exclude(decision="")
        .count(),
        "lab_results": LabResult.objects.filter(subject__study=study).count(),
        "audit_events": AuditEvent.objects.filter(subject_id__in=subjects.values("pk")).count(),
    }
