"""Builders of the records that many tests need, as plain functions (no fixtures).

``conftest.py`` turns the common ones into fixtures (the Alice / Bob / Charlie personas, subject
A-001, its adverse events); a test that needs one more of them, or one with other values, calls
the builder itself instead of copying it.
"""

from __future__ import annotations

import copy
import datetime as dt

PASSWORD = "correct horse battery"

DEFINITION = {
    "code": "TEST-IL2",
    "title": "Test trial of interleukin-2, imatinib and cyclophosphamide",
    "ctcae_version": "5.0",
    "cycle_days": 21,
    "agents": [
        {"code": "CTX", "name": "Cyclophosphamide", "unit": "mg", "days": [-21, 21]},
        {"code": "IM", "name": "Imatinib", "unit": "mg", "days": [1, 14]},
        {"code": "IL2", "name": "Interleukin-2", "unit": "MIU", "days": [10, 14]},
    ],
    "dose_levels": [
        {"level": 1, "label": "IL-2 3 MIU/day", "doses": {"CTX": 50, "IM": 400, "IL2": 3}},
        {"level": 2, "label": "IL-2 6 MIU/day", "doses": {"CTX": 50, "IM": 400, "IL2": 6}},
    ],
    "sites": [{"code": "A", "name": "Site A"}, {"code": "B", "name": "Site B"}],
    "schedule": [{"day": 1}, {"day": 8, "window_before": 1, "window_after": 1}],
    "design": {"method": "3+3", "allow_deescalate": True},
    "dlt": {"window_days": 21, "min_attribution": "possible", "min_exposure_pct": 75},
}

# The test trial's first dose of cycle 1 (study day 1) for subjects enrolled by default.
FIRST_DOSE = dt.date(2026, 3, 2)

# Fatigue grade 3 possibly related to IL-2 and not to the other agents: a potential DLT under
# the test trial's rules (at least possibly related, grade 3 or more, in the 21-day window).
POSSIBLY_IL2 = {
    "CTX": ("unrelated", "none"),
    "IM": ("unlikely", "none"),
    "IL2": ("possible", "interrupted"),
}


# An amendment's DLT rule (issue #13): a short grade 3 fever, an expected effect of IL-2 (CTCAE
# v5.0 "Fever" grade 3: >40.0 degrees C for <=24 hrs), is not a DLT.
FEVER_RESOLVING = {
    "id": "fever_resolving_48h",
    "text": "Grade 3 fever that resolves to grade 1 or less within 48 hours is not a DLT.",
    "outcome": "not_dlt",
    "events": {"terms": ["Fever"]},
    "grade": 3,
    "max_grade": 3,
    "resolves": {"to_grade": 1, "within_days": 2},
}


def study_create(definition: dict | None = None, *, code: str | None = None, source: str = "test"):
    """The test trial (or ``definition``) loaded through ``study_load``; ``code`` makes another
    study of it."""
    from ecrf.imports.study_definition import parse_study_definition
    from ecrf.services import study_load, system_actor

    definition = copy.deepcopy(DEFINITION if definition is None else definition)
    if code is not None:
        definition["code"] = code
    loaded, _ = study_load(
        definition=parse_study_definition(definition), by=system_actor("test"), source=source
    )
    return loaded


# The personas' full names: what their signatures show (21 CFR 11.50).
FULL_NAMES = {
    "alice": ("Alice", "Archer"),
    "bob": ("Bob", "Baker"),
    "charlie": ("Charlie", "Chen"),
    "dana": ("Dana", "Dunn"),
}


def user_create(username: str, role: str, study, site):
    """A user in the role's group, assigned to the study (and site, unless None), with the test
    password and a full name (the persona's, or "<Username> Tester")."""
    from django.contrib.auth import get_user_model

    from ecrf.access import ensure_role_groups
    from ecrf.models import StudyAssignment

    ensure_role_groups()
    first, last = FULL_NAMES.get(username, (username.capitalize(), "Tester"))
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, first_name=first, last_name=last
    )
    user.groups.add(user.groups.model.objects.get(name=role))
    StudyAssignment.objects.create(user=user, study=study, site=site)
    return user


def subject_enrolled(
    study, site, code: str, *, by, level: int = 1, first_dose_on=FIRST_DOSE, **screening
):
    """A subject screened (consent 2026-02-01) and enrolled (2026-02-10) at a dose level, with
    its visits planned from the first dose; ``screening`` goes to ``subject_screen`` (sex...)."""
    from ecrf.services import subject_enrol, subject_screen

    screened = subject_screen(
        study=study,
        site=site,
        subject_code=code,
        consent_on=dt.date(2026, 2, 1),
        by=by,
        **screening,
    )
    return subject_enrol(
        subject=screened,
        dose_level=study.dose_levels.get(level=level),
        enrolled_on=dt.date(2026, 2, 10),
        first_dose_on=first_dose_on,
        by=by,
    )


def subject_at_level(study, site, code: str, *, level: int, by, reason=None, **enrolment):
    """A subject at a dose level the escalation design may not have opened: enrolled at DL1
    (``subject_enrolled``), then its dose level corrected. For tests of reports and tables that
    need subjects at several levels whatever their DLT data; a test of enrolment enrols."""
    from ecrf.services.subjects import subject_correct

    enrolled = subject_enrolled(study, site, code, by=by, **enrolment)
    if level == 1:
        return enrolled
    return subject_correct(
        subject=enrolled,
        changes={"dose_level": study.dose_levels.get(level=level)},
        reason=reason or "Dose level transcribed wrongly at enrolment",
        by=by,
    )


def fatigue_grade_3(subject, *, by, onset_on=dt.date(2026, 3, 13), **extra):
    """Fatigue grade 3, possibly related to IL-2: a potential DLT to decide on (day 12 of A-001
    by default)."""
    from ecrf.services import ae_record

    return ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=3,
        onset_on=onset_on,
        assessments=POSSIBLY_IL2,
        by=by,
        **extra,
    )


def aware_text(moment: dt.datetime | None) -> str:
    """A date and time as the form's date-and-time input posts it: the site's clock, minutes."""
    from django.utils import timezone

    return "" if moment is None else f"{timezone.localtime(moment):%Y-%m-%dT%H:%M}"


def ae_edit_data(event, **overrides):
    """The adverse event edit form as loaded from the saved event, with the changes on top."""
    event.refresh_from_db()
    data = {
        "ctcae_term": event.ctcae_term,
        "verbatim": event.verbatim,
        "grade": str(event.grade),
        "onset_on": event.onset_on.isoformat(),
        "resolved_on": event.resolved_on.isoformat() if event.resolved_on else "",
        "outcome": event.outcome,
        "death_on": event.death_on.isoformat() if event.death_on else "",
        "serious": "yes" if event.serious else "no",
        "serious_criteria": [
            name for name in ("sae_hospitalisation", "sae_death") if getattr(event, name)
        ],
        "site_aware_at": aware_text(event.site_aware_at),
        "loaded_version": str(event.version),
        "change_reason": "",
    }
    for assessment in event.agent_assessments.select_related("agent"):
        code = assessment.agent.code
        data[f"attribution_{code}"] = assessment.attribution
        data[f"action_{code}"] = assessment.action_taken
        data[f"version_{code}"] = str(assessment.version)
    data.update(overrides)
    return data


def dose_edit_data(dose, **changes):
    """The dose edit form as loaded from the saved dose, with the changes on top."""
    data = {
        "agent": str(dose.agent_id),
        "given_on": dose.given_on.isoformat(),
        "given_dose": str(dose.given_dose),
        "adverse_event": str(dose.adverse_event_id or ""),
        "reason": dose.reason,
        "reason_category": dose.reason_category,
        "loaded_version": str(dose.version),
        "change_reason": "",
    }
    data.update({key: str(value) for key, value in changes.items()})
    return data
