"""The demo trial: the reference study with synthetic subjects, written through the services.

Everything is synthetic and deterministic: a fixed random seed, and dates counted back from the
day the demo is loaded, so that it looks like a trial under way on that day (the earlier cohorts
in follow-up, the last one on treatment with visits due, subjects in screening) and two
installations loading it on the same day show the same demo data.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from ..access import ensure_role_groups
from ..imports.study_definition import read_study_definition
from ..models import (
    ActionTaken,
    ReferenceRange,
    Role,
    Study,
    StudyAssignment,
    SubjectStatus,
    TreatmentEnd,
    VisitKind,
    VisitStatus,
)
from .adverse_events import ae_record
from .assignments import study_assignment_create
from .audit import system_actor
from .dosing import dose_record
from .labs import baseline_value, lab_record, reference_range_create
from .studies import study_load
from .subjects import (
    study_day_date,
    subject_correct,
    subject_end_treatment,
    subject_enrol,
    subject_screen,
)
from .visits import visit_record

STUDY_FILE = Path(__file__).resolve().parents[2] / "studies" / "IL2-IM-CTX.json"
SEED = 17
# On the day the demo is loaded, the first subject of the last cohort is on this study day: in
# cycle 2, so that every cohort's DLT window has closed and the published MTD stands.
LAST_COHORT_DAY = 38
# Days between the first doses of the subjects of a cohort.
STAGGER_DAYS = 3
# The visit of the last cohort that is not recorded, (subject of the cohort, visit label): on the
# day the demo is loaded its window closed a few days ago, so the nurse's home shows it overdue.
OVERDUE_VISIT = (1, "C2D10")
# Days before the day the demo is loaded on which the screen failures, and the subjects still in
# screening, gave consent.
SCREEN_FAILURE_CONSENT_DAYS = (8, 7)
SCREENING_CONSENT_DAYS = (5, 2)


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    site: str | None  # None: every site of the study
    # The full name a signature shows (21 CFR 11.50): an account without one cannot sign.
    first_name: str
    last_name: str


DEMO_USERS = (
    DemoUser("nurse.alice", Role.RESEARCH_NURSE, "A", "Alice", "Martin"),
    DemoUser("investigator.ines", Role.INVESTIGATOR, "A", "Ines", "Moreau"),
    DemoUser("nurse.charlie", Role.RESEARCH_NURSE, "B", "Charlie", "Dubois"),
    DemoUser("investigator.bruno", Role.INVESTIGATOR, "B", "Bruno", "Lefevre"),
    DemoUser("monitor.maria", Role.MONITOR, None, "Maria", "Rossi"),
    DemoUser("datamanager.dan", Role.DATA_MANAGER, None, "Dan", "Keller"),
    DemoUser("sponsor.sam", Role.SPONSOR_VIEWER, None, "Sam", "Novak"),
    DemoUser("admin", Role.ADMINISTRATOR, None, "Demo", "Administrator"),
)

# (dose level, adverse events beyond the common ones): the cohorts of the reference trial, in
# which 6 MIU/day of IL-2 was the maximum tolerated dose and capillary leak syndrome, fatigue
# and anorexia were the dose-limiting toxicities.
COHORTS = (
    (1, [None, None, None]),
    (2, [None, None, None]),
    (3, [("Capillary leak syndrome", 3), ("Anorexia", 3), None]),
    (2, [("Fatigue", 3), None, None]),
    (2, [None, None, None]),
)
COMMON_EVENTS = ("Fever", "Chills", "Alanine aminotransferase increased", "Fatigue", "Nausea")
LAB_PANEL = {
    # test: (unit, lln, uln, typical value, spread)
    "ALT": ("U/L", None, Decimal(40), 28, 14),
    "AST": ("U/L", None, Decimal(40), 26, 10),
    "BILI": ("umol/L", None, Decimal(21), 10, 4),
    "CREAT": ("umol/L", Decimal(45), Decimal(90), 70, 12),
    "NEUT": ("10^9/L", Decimal("1.8"), Decimal("7.5"), 4.0, 1.5),
    "PLAT": ("10^9/L", Decimal(150), Decimal(400), 240, 60),
    "HGB": ("g/L", Decimal(120), Decimal(160), 128, 12),
    "LYM": ("10^9/L", Decimal("1.0"), Decimal("4.0"), 1.6, 0.5),
}


@dataclass
class DemoReport:
    study: Study
    study_created: bool
    subjects_created: int
    passwords: dict[str, str]


def _ensure_users(study: Study) -> dict[str, str]:
    """Create the demo users that do not exist yet; return the new users' passwords."""
    User = get_user_model()
    passwords = {}
    sites = {site.code: site for site in study.sites.all()}
    actor = system_actor("seed_demo")
    ensure_role_groups()
    for demo in DEMO_USERS:
        group = Group.objects.get(name=demo.role.value)
        user = User.objects.filter(username=demo.username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                demo.username,
                password=password,
                first_name=demo.first_name,
                last_name=demo.last_name,
                is_staff=demo.role in (Role.DATA_MANAGER, Role.ADMINISTRATOR, Role.MONITOR),
                is_superuser=demo.role == Role.ADMINISTRATOR,
            )
            user.groups.add(group)
            passwords[demo.username] = password
        elif not user.get_full_name().strip():
            # A demo user seeded before full names were required gets one, so that it can sign.
            user.first_name, user.last_name = demo.first_name, demo.last_name
            user.save(update_fields=["first_name", "last_name"])
        site = sites[demo.site] if demo.site else None
        if not StudyAssignment.objects.filter(user=user, study=study, site=site).exists():
            study_assignment_create(user=user, study=study, site=site, by=actor)
    return passwords


def _ensure_reference_ranges(study: Study, today: dt.date) -> None:
    """Each site's normal ranges for the demo panel, so that lab entry prefills them; in effect
    from before the demo's first result."""
    actor = system_actor("seed_demo")
    for site in study.sites.all():
        for test, (unit, lln, uln, _typical, _spread) in LAB_PANEL.items():
            if not ReferenceRange.objects.filter(site=site, test_code=test, unit=unit).exists():
                reference_range_create(
                    site=site,
                    test_code=test,
                    unit=unit,
                    lln=lln,
                    uln=uln,
                    effective_from=dt.date(today.year - 1, 1, 1),
                    by=actor,
                )


def _decimal(value: float, places: int = 1) -> Decimal:
    return Decimal(str(round(max(value, 0.0), places)))


def _cohort_gap(cohort_index: int) -> dt.timedelta:
    """From the first dose of a cohort to that of the next: the DLT window of its last subject
    and the safety review."""
    return dt.timedelta(days=35 + cohort_index)


def _first_enrolment(today: dt.date) -> dt.date:
    """The first dose of the first cohort, counted back from `today` so that the last cohort's
    first subject is on LAST_COHORT_DAY that day."""
    last_cohort = today - dt.timedelta(days=LAST_COHORT_DAY - 1)
    return last_cohort - sum((_cohort_gap(i) for i in range(len(COHORTS) - 1)), dt.timedelta())


def _enrol_subjects(study: Study, rng: random.Random, today: dt.date) -> int:
    actor = system_actor("seed_demo")
    sites = list(study.sites.order_by("code"))
    levels = {level.level: level for level in study.dose_levels.all()}
    agents = {agent.code: agent for agent in study.agents.select_related("schedule")}
    number = 0
    first_dose = _first_enrolment(today)
    for cohort_index, (level, extra_events) in enumerate(COHORTS):
        last_cohort = cohort_index == len(COHORTS) - 1
        # A cohort is enrolled before any of its patients is treated, as a site enrols the
        # cohort of 3 together: the design decides on a dose level from the cohorts before.
        cohort = []
        for patient_index, extra in enumerate(extra_events):
            number += 1
            site = sites[number % len(sites)]
            consent_on = first_dose - dt.timedelta(days=30)
            subject = subject_screen(
                study=study,
                site=site,
                subject_code=f"{site.code}-{number:03d}",
                consent_on=consent_on,
                sex=rng.choice("FM"),
                birth_year=rng.randint(1950, 1985),
                by=actor,
            )
            subject = subject_enrol(
                subject=subject,
                dose_level=levels[level],
                enrolled_on=consent_on + dt.timedelta(days=5),
                first_dose_on=first_dose + dt.timedelta(days=patient_index * STAGGER_DAYS),
                by=actor,
            )
            overdue_subject, overdue_label = OVERDUE_VISIT
            unrecorded = (
                {overdue_label} if last_cohort and patient_index == overdue_subject else set()
            )
            cohort.append((subject, extra, unrecorded))
        for subject, extra, unrecorded in cohort:
            _treat(subject, agents, extra, rng, actor, today, unrecorded)
        first_dose += _cohort_gap(cohort_index)
    for days_ago in SCREEN_FAILURE_CONSENT_DAYS:
        number += 1
        site = sites[number % len(sites)]
        subject = subject_screen(
            study=study,
            site=site,
            subject_code=f"{site.code}-{number:03d}",
            consent_on=today - dt.timedelta(days=days_ago),
            by=actor,
        )
        subject_correct(
            subject=subject,
            changes={"status": SubjectStatus.SCREEN_FAILED},
            reason="Eligibility not met: inadequate organ function at screening",
            by=actor,
        )
    for days_ago in SCREENING_CONSENT_DAYS:
        number += 1
        site = sites[number % len(sites)]
        subject_screen(
            study=study,
            site=site,
            subject_code=f"{site.code}-{number:03d}",
            consent_on=today - dt.timedelta(days=days_ago),
            sex=rng.choice("FM"),
            birth_year=rng.randint(1950, 1985),
            by=actor,
        )
    return number


def _aware_on(day: dt.date) -> dt.datetime:
    """Nine in the morning of `day` in the site's time zone, or now if that is still to come."""
    morning = timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))
    return min(morning, timezone.now())


def _as_of(event: dict, today: dt.date) -> dict | None:
    """The event as known on `today`: None if it has not begun by yesterday, ongoing (no
    resolution date, not recovered) if it resolves today or later."""
    if event["onset_on"] >= today:
        return None
    if event["resolved_on"] >= today:
        return {**event, "resolved_on": None, "outcome": "not_recovered"}
    return event


def _treat(
    subject, agents, extra_event, rng: random.Random, actor, today: dt.date, unrecorded=()
) -> None:
    """Give the subject's doses, visits, adverse events and labs over the planned cycles, as far
    as they took place before `today`.

    The data are coherent across the forms (the consistency checks find nothing): events are
    attributed to IL-2 only from its first dose on, an agent interrupted for an event has its
    doses withheld, and an event whose CTCAE term has a lab criterion has a result of its grade.
    Records are entered in the order a site would, so that no automatic query opens on the way:
    doses day by day (the dose-limiting event on its day), then visits and labs, then the
    other events. Nothing is dated on or after `today` but the visits still planned; the visits
    in `unrecorded` (labels) are left planned too, although their day has passed.
    """
    study = subject.study
    first = subject.first_dose_on
    dlt_spec = None
    if extra_event is not None:
        term, grade = extra_event
        onset = first + dt.timedelta(days=rng.randint(10, 14))
        serious = term == "Capillary leak syndrome"
        dlt_spec = {
            "ctcae_term": term,
            "grade": grade,
            "onset_on": onset,
            "resolved_on": onset + dt.timedelta(days=rng.randint(8, 12)),
            "outcome": "recovered",
            "serious_criteria": ("sae_hospitalisation",) if serious else (),
            # The site learnt of the serious event on its onset day, in the morning clinic.
            "site_aware_at": _aware_on(onset) if serious else None,
            "assessments": {
                "CTX": ("unlikely", ActionTaken.NONE),
                "IM": ("possible", ActionTaken.INTERRUPTED),
                "IL2": ("probable", ActionTaken.WITHDRAWN),
            },
        }
        dlt_spec = _as_of(dlt_spec, today)
    il2_first = study_day_date(first, 1, agents["IL2"].schedule.first_day, study.cycle_days)
    events = []
    for term in rng.sample(COMMON_EVENTS, k=rng.randint(2, 4)):
        onset = first + dt.timedelta(days=rng.randint(1, 35))
        grade = rng.choice((1, 1, 2))
        resolved_on = onset + dt.timedelta(days=rng.randint(1, 10))
        im = rng.choice(("possible", "unlikely"))
        il2 = rng.choice(("possible", "probable"))
        events.append(
            {
                "ctcae_term": term,
                "grade": grade,
                "onset_on": onset,
                "resolved_on": resolved_on,
                "outcome": "recovered",
                "assessments": {
                    "CTX": ("unlikely", ActionTaken.NONE),
                    "IM": (im, ActionTaken.NONE),
                    # Nothing is caused by IL-2 before its first dose (day 10).
                    "IL2": (il2 if onset >= il2_first else "unlikely", ActionTaken.NONE),
                },
            }
        )
    dlt = _give_doses(subject, agents, dlt_spec, actor, today)
    _visits_and_labs(subject, dlt, rng, actor, today, unrecorded)
    for event in events:
        event = _as_of(event, today)
        if event is not None:
            _lab_behind(subject, event, actor)
            ae_record(subject=subject, by=actor, **event)


def _give_doses(subject, agents, dlt_spec: dict | None, actor, today: dt.date):
    """Every planned dose before `today` in date order; the dose-limiting event is recorded on
    its onset day, and from then on IL-2 is withdrawn and imatinib withheld until the event
    resolves."""
    study = subject.study
    first = subject.first_dose_on
    planned = {dose.agent.code: dose.dose for dose in subject.dose_level.doses.all()}
    doses = []
    for cycle in range(1, study.planned_cycles + 1):
        for order, (code, agent) in enumerate(agents.items()):
            schedule = agent.schedule
            first_day = schedule.first_day if cycle == 1 else max(schedule.first_day, 1)
            for day in range(first_day, schedule.last_day + 1):
                if day == 0:
                    continue
                doses.append((study_day_date(first, cycle, day, study.cycle_days), order, code))
    dlt = None
    for given_on, _order, code in sorted(doses):
        if given_on >= today:
            break
        if dlt_spec is not None and dlt is None and given_on >= dlt_spec["onset_on"]:
            dlt = ae_record(subject=subject, by=actor, **dlt_spec)
        withheld = dlt is not None and (
            (code == "IL2" and given_on >= dlt.onset_on)
            or (
                code == "IM"
                and dlt.onset_on <= given_on
                and (dlt.resolved_on is None or given_on <= dlt.resolved_on)
            )
        )
        if withheld:
            dose_record(
                subject=subject,
                agent=agents[code],
                given_on=given_on,
                given_dose=Decimal(0),
                reason=f"Withheld for {dlt.ctcae_term.lower()}",
                adverse_event=dlt,
                by=actor,
            )
            continue
        dose_record(
            subject=subject,
            agent=agents[code],
            given_on=given_on,
            given_dose=planned[code],
            by=actor,
        )
    return dlt


def _visits_and_labs(subject, dlt, rng: random.Random, actor, today: dt.date, unrecorded) -> None:
    """Record every visit planned before `today` (but the `unrecorded` ones) as done on its day,
    with the lab panel at the screening, cycle and end-of-treatment visits.

    Every demo subject receives the planned cycles (IL-2 stopped after a DLT); treatment ends
    with the last dose of the last cycle, recorded once that day has passed, and the
    end-of-treatment visit takes place the day after.
    """
    study = subject.study
    last_dose = study_day_date(
        subject.first_dose_on, study.planned_cycles, study.cycle_days, study.cycle_days
    )
    if last_dose < today:
        subject_end_treatment(
            subject=subject, ended_on=last_dose, reason=TreatmentEnd.COMPLETED, by=actor
        )
    with_labs = {VisitKind.SCREENING, VisitKind.CYCLE_DAY, VisitKind.END_OF_TREATMENT}
    visits = subject.visits.filter(planned_on__lt=today).exclude(label__in=unrecorded)
    for visit in visits:
        done_on = visit.planned_on
        visit = visit_record(
            visit=visit,
            status=VisitStatus.DONE,
            done_on=done_on,
            reason="Visit took place",
            by=actor,
        )
        if visit.kind not in with_labs:
            continue
        collected = dt.datetime.combine(done_on, dt.time(8, 30), tzinfo=dt.UTC)
        for test, (unit, lln, uln, typical, spread) in LAB_PANEL.items():
            value = rng.gauss(typical, spread)
            if test == "ALT" and dlt is not None and visit.day == 15:
                value = typical * 4
            lab_record(
                subject=subject,
                visit=visit,
                test_code=test,
                value=_decimal(value),
                unit=unit,
                lln=lln,
                uln=uln,
                collected_at=collected,
                by=actor,
            )


def _lab_behind(subject, event: dict, actor) -> None:
    """The unscheduled result on the onset day that an event of a lab term is graded from.

    ALT: CTCAE v5.0 grade 1 is ">ULN - 3.0 x ULN", grade 2 ">3.0 - 5.0 x ULN" (x baseline when
    the baseline was above ULN): 2 and 4 times the larger of the two. Fever: grade 1 is
    "38.0 - 39.0 degrees C", grade 2 ">39.0 - 40.0 degrees C".
    """
    term, grade = event["ctcae_term"], event["grade"]
    collected = dt.datetime.combine(event["onset_on"], dt.time(11, 0), tzinfo=dt.UTC)
    if term == "Alanine aminotransferase increased":
        unit, _lln, uln, _typical, _spread = LAB_PANEL["ALT"]
        reference = max(uln, baseline_value(subject, "ALT", unit) or uln)
        value = reference * (2 if grade == 1 else 4)
        lab_record(
            subject=subject, test_code="ALT", value=value, unit=unit, uln=uln,
            collected_at=collected, by=actor,
        )  # fmt: skip
    elif term == "Fever":
        value = Decimal("38.5") if grade == 1 else Decimal("39.5")
        lab_record(
            subject=subject, test_code="TEMP", value=value, unit="C", collected_at=collected,
            by=actor,
        )  # fmt: skip


def demo_seed(today: dt.date | None = None) -> DemoReport:
    """Load the reference trial and its demo subjects and users; safe to run again.

    The subjects' dates are counted back from `today` (by default the local date), the day on
    which the demo looks like a trial under way. One durable transaction: a demo that fails half
    way leaves nothing behind, so that running it again starts afresh.
    """
    today = today or timezone.localdate()
    rng = random.Random(SEED)  # synthetic demo data, not security
    actor = system_actor("seed_demo")
    definition = read_study_definition(STUDY_FILE)
    with transaction.atomic(durable=True):
        study, created = study_load(definition=definition, by=actor, source=STUDY_FILE.name)
        passwords = _ensure_users(study)
        _ensure_reference_ranges(study, today)
        subjects_created = 0
        if not study.subjects.exists():
            subjects_created = _enrol_subjects(study, rng, today)
    return DemoReport(study, created, subjects_created, passwords)
