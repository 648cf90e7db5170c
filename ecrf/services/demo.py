"""The demo trial: the reference study with synthetic subjects, written through the services.

Everything is synthetic and deterministic (a fixed random seed and fixed dates), so two
installations show the same demo data.
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
FIRST_ENROLMENT = dt.date(2026, 1, 5)


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
SCREEN_FAILURES = 2
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


def _ensure_reference_ranges(study: Study) -> None:
    """Each site's normal ranges for the demo panel, so that lab entry prefills them."""
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
                    effective_from=dt.date(2025, 1, 1),
                    by=actor,
                )


def _decimal(value: float, places: int = 1) -> Decimal:
    return Decimal(str(round(max(value, 0.0), places)))


def _enrol_subjects(study: Study, rng: random.Random) -> int:
    actor = system_actor("seed_demo")
    sites = list(study.sites.order_by("code"))
    levels = {level.level: level for level in study.dose_levels.all()}
    agents = {agent.code: agent for agent in study.agents.select_related("schedule")}
    number = 0
    first_dose = FIRST_ENROLMENT
    for cohort_index, (level, extra_events) in enumerate(COHORTS):
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
                first_dose_on=first_dose + dt.timedelta(days=patient_index * 3),
                by=actor,
            )
            cohort.append((subject, extra))
        for subject, extra in cohort:
            _treat(subject, agents, extra, rng, actor)
        first_dose += dt.timedelta(days=35 + cohort_index)
    for index in range(SCREEN_FAILURES):
        number += 1
        site = sites[number % len(sites)]
        subject = subject_screen(
            study=study,
            site=site,
            subject_code=f"{site.code}-{number:03d}",
            consent_on=first_dose - dt.timedelta(days=10 - index),
            by=actor,
        )
        subject_correct(
            subject=subject,
            changes={"status": SubjectStatus.SCREEN_FAILED},
            reason="Eligibility not met: inadequate organ function at screening",
            by=actor,
        )
    return number


def _aware_on(day: dt.date) -> dt.datetime:
    """Nine in the morning of `day` in the site's time zone, or now if that is still to come."""
    morning = timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))
    return min(morning, timezone.now())


def _treat(subject, agents, extra_event, rng: random.Random, actor) -> None:
    """Give the subject's doses, visits, adverse events and labs over the planned cycles.

    The data are coherent across the forms (the consistency checks find nothing): events are
    attributed to IL-2 only from its first dose on, an agent interrupted for an event has its
    doses withheld, and an event whose CTCAE term has a lab criterion has a result of its grade.
    Records are entered in the order a site would, so that no automatic query opens on the way:
    doses day by day (the dose-limiting event on its day), then visits and labs, then the
    other events.
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
    dlt = _give_doses(subject, agents, dlt_spec, actor)
    _visits_and_labs(subject, dlt, rng, actor)
    for event in events:
        _lab_behind(subject, event, actor)
        ae_record(subject=subject, by=actor, **event)


def _give_doses(subject, agents, dlt_spec: dict | None, actor):
    """Every planned dose in date order; the dose-limiting event is recorded on its onset day,
    and from then on IL-2 is withdrawn and imatinib withheld until the event resolves."""
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
        if dlt_spec is not None and dlt is None and given_on >= dlt_spec["onset_on"]:
            dlt = ae_record(subject=subject, by=actor, **dlt_spec)
        withheld = dlt is not None and (
            (code == "IL2" and given_on >= dlt.onset_on)
            or (code == "IM" and dlt.onset_on <= given_on <= dlt.resolved_on)
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


def _visits_and_labs(subject, dlt, rng: random.Random, actor) -> None:
    # Every demo subject received the planned cycles (IL-2 stopped after a DLT); treatment ended
    # with the last dose of the last cycle, and the end-of-treatment visit took place the day
    # after.
    study = subject.study
    last_dose = study_day_date(
        subject.first_dose_on, study.planned_cycles, study.cycle_days, study.cycle_days
    )
    subject_end_treatment(
        subject=subject, ended_on=last_dose, reason=TreatmentEnd.COMPLETED, by=actor
    )
    kinds = [VisitKind.SCREENING, VisitKind.CYCLE_DAY, VisitKind.END_OF_TREATMENT]
    for visit in subject.visits.filter(kind__in=kinds):
        done_on = visit.planned_on
        visit = visit_record(
            visit=visit,
            status=VisitStatus.DONE,
            done_on=done_on,
            reason="Visit took place",
            by=actor,
        )
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


def demo_seed() -> DemoReport:
    """Load the reference trial and its demo subjects and users; safe to run again.

    One durable transaction: a demo that fails half way leaves nothing behind, so that running
    it again starts afresh.
    """
    rng = random.Random(SEED)  # synthetic demo data, not security
    actor = system_actor("seed_demo")
    definition = read_study_definition(STUDY_FILE)
    with transaction.atomic(durable=True):
        study, created = study_load(definition=definition, by=actor, source=STUDY_FILE.name)
        passwords = _ensure_users(study)
        _ensure_reference_ranges(study)
        subjects_created = 0
        if not study.subjects.exists():
            subjects_created = _enrol_subjects(study, rng)
    return DemoReport(study, created, subjects_created, passwords)
