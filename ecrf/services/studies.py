"""Creating and updating a study from its definition."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction

from ..imports.study_definition import StudyDefinition
from ..models import (
    Agent,
    AgentSchedule,
    DoseLevel,
    DoseLevelDose,
    ScheduledVisit,
    Site,
    Study,
)
from .dlt import dlt_reevaluate_study, dlt_rules_record
from .records import record_create, record_update

DLT_SETTINGS = (
    "dlt_window_days",
    "dlt_min_attribution",
    "dlt_min_exposure_pct",
    "dlt_underdosing_for_toxicity_evaluable",
)


def _upsert(model: type[models.Model], lookup: dict, values: dict, *, by, reason: str):
    """Create the row found by `lookup`, or update the fields that differ; audit either way."""
    existing = model.objects.filter(**lookup).first()
    if existing is None:
        return record_create(record=model(**lookup, **values), by=by, reason=reason), True
    changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
    if changes:
        existing = record_update(record=existing, changes=changes, reason=reason, by=by)
    return existing, False


def _dlt_settings(study: Study | None) -> tuple:
    return tuple(getattr(study, name) for name in DLT_SETTINGS) if study else ()


def study_load(
    *, definition: StudyDefinition, by, source: str, reason: str = ""
) -> tuple[Study, bool]:
    """Create the study of `definition`, or update the study with its code.

    Nothing a file leaves out is removed: agents, dose levels, sites and visits already in the
    study stay, because subjects' data may refer to them. A changed DLT definition is recorded
    as a new version of the study's DLT rules, with `reason` (the amendment; default: where the
    file came from), and changed DLT rules or settings are re-applied to every event. Not
    durable: the demo and the synthetic trial generator load the study inside their own
    transaction.
    """
    loaded = f"Study definition loaded from {source}"
    reason = (reason or "").strip() or loaded
    study_values = {
        "title": definition.title,
        "ctcae_version": definition.ctcae_version,
        "cycle_days": definition.cycle_days,
        "design_method": definition.design_method,
        "design_target": definition.design_target,
        "allow_deescalate": definition.allow_deescalate,
        "dlt_window_days": definition.dlt_window_days,
        "dlt_min_attribution": definition.dlt_min_attribution,
        "dlt_min_exposure_pct": definition.dlt_min_exposure_pct,
        "dlt_underdosing_for_toxicity_evaluable": (
            definition.dlt_underdosing_for_toxicity_evaluable
        ),
        "screening_days": definition.screening_days,
        "planned_cycles": definition.planned_cycles,
        "follow_up_days": definition.follow_up_days,
        "dose_above_plan_pct": definition.dose_above_plan_pct,
    }
    with transaction.atomic():
        before = _dlt_settings(Study.objects.filter(code=definition.code).first())
        study, created = _upsert(
            Study, {"code": definition.code}, study_values, by=by, reason=reason
        )
        agents = {}
        for agent_def in definition.agents:
            agent, _ = _upsert(
                Agent,
                {"study": study, "code": agent_def.code},
                {"name": agent_def.name, "unit": agent_def.unit},
                by=by,
                reason=reason,
            )
            agents[agent.code] = agent
            if agent_def.first_day is not None:
                _upsert(
                    AgentSchedule,
                    {"agent": agent},
                    {"first_day": agent_def.first_day, "last_day": agent_def.last_day},
                    by=by,
                    reason=reason,
                )
        for level_def in definition.dose_levels:
            level, _ = _upsert(
                DoseLevel,
                {"study": study, "level": level_def.level},
                {"label": level_def.label, "open_for_enrolment": level_def.open_for_enrolment},
                by=by,
                reason=reason,
            )
            for agent_code, dose in level_def.doses.items():
                _upsert(
                    DoseLevelDose,
                    {"dose_level": level, "agent": agents[agent_code]},
                    {"dose": dose},
                    by=by,
                    reason=reason,
                )
        for site_def in definition.sites:
            _upsert(
                Site,
                {"study": study, "code": site_def.code},
                {"name": site_def.name},
                by=by,
                reason=reason,
            )
        for visit_def in definition.schedule:
            _upsert(
                ScheduledVisit,
                {"study": study, "day": visit_def.day},
                {"window_before": visit_def.window_before, "window_after": visit_def.window_after},
                by=by,
                reason=reason,
            )
        _version, new_rules = dlt_rules_record(
            study=study, rules=definition.dlt_rules, by=by, source=source, reason=reason
        )
        if not new_rules and not created and _dlt_settings(study) != before:
            dlt_reevaluate_study(study=study, by=by, reason=reason)
    return study, created


def study_correct(
    *, study: Study, changes: dict, reason: str, by, expected_version: int | None = None
) -> Study:
    """Change a study's settings; new DLT settings re-apply the DLT rules to every event.

    Durable: only the admin changes a study's settings, each save its own transaction.
    """
    with transaction.atomic(durable=True):
        saved = record_update(
            record=study, changes=changes, reason=reason, by=by, expected_version=expected_version
        )
        if any(name.startswith("dlt_") for name in changes):
            dlt_reevaluate_study(study=saved, by=by, reason=reason)
    return saved


def site_create(*, study: Study, code: str, name: str, by, reason: str = "") -> Site:
    """Add a site to a study (an import that names a new site adds it this way).

    Not durable: the trial import creates sites inside its own transaction.
    """
    return record_create(record=Site(study=study, code=code, name=name), by=by, reason=reason)


DOSE_LEVEL_SETTINGS = frozenset({"open_for_enrolment", "label"})
SET_BY_STUDY_DEFINITION = (
    "{field} is set by the study definition; load the definition to change it."
)


def dose_level_correct(
    *, dose_level: DoseLevel, changes: dict, reason: str, by, expected_version: int | None = None
) -> DoseLevel:
    """Open or close a dose level for enrolment, or correct its label, with a reason.

    The level's number, its study and its doses belong to the study definition (`study_load`):
    subjects' doses and the escalation order refer to them, so they are not edited here.
    """
    fixed = sorted(set(changes) - DOSE_LEVEL_SETTINGS)
    if fixed:
        raise ValidationError(
            {
                name: ValidationError(
                    SET_BY_STUDY_DEFINITION.format(field=name), code="set_by_study_definition"
                )
                for name in fixed
            }
        )
    with transaction.atomic():
        return record_update(
            record=dose_level,
            changes=changes,
            reason=reason,
            by=by,
            expected_version=expected_version,
        )
