"""Reads of the audit trail that pages share."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst

from ..models import (
    AdverseEvent,
    AdverseEventAgent,
    AdverseEventGrade,
    AuditEvent,
    DltAssessment,
    DoseAdministration,
    LabResult,
)
from ..safety.days import study_day


def changes_since(record: models.Model, loaded_version: int | None) -> list[AuditEvent]:
    """The audit events of the saves made to `record` after the version a form was loaded from."""
    if loaded_version is None:
        return []
    current = type(record).objects.filter(pk=record.pk).values_list("version", flat=True).first()
    saves = (current or loaded_version) - loaded_version
    if saves <= 0:
        return []
    updates = AuditEvent.objects.filter(model=record._meta.label, object_id=str(record.pk)).exclude(
        action__endswith=".created"
    )
    times = list(updates.values_list("at", flat=True).distinct().order_by("-at")[:saves])
    return list(updates.filter(at__in=times).order_by("at", "id"))


# The audit trail as a reader takes it: the record named as the nurse knows it, the field by its
# label, values as the forms show them (choice labels, Yes/No, the related record's name, not
# its id). The stored events are not changed: the CSV download keeps them as recorded.


@dataclass(frozen=True)
class AuditLine:
    at: dt.datetime
    actor: str
    role: str
    record: str
    record_id: str
    field: str
    old: str
    new: str
    reason: str


BOOLEAN_TEXT = {"True": "Yes", "False": "No"}


def _day_text(on: dt.date | None, first_dose_on: dt.date | None) -> str:
    if on is None or first_dose_on is None:
        return f"on {on.isoformat()}" if on else ""
    return f"day {study_day(on, first_dose_on)}"


def _event_name(term: str, grade: int, onset_on: dt.date, first_dose_on) -> str:
    return f"AE {term} grade {grade}, onset {_day_text(onset_on, first_dose_on)}"


# So that a page costs the same queries whatever it shows, every kind of record is asked for,
# with an id no record has when the page shows none of that kind.
NO_RECORD = uuid.UUID(int=0)


def _record_names(ids_by_model: dict[str, set], subject) -> dict[tuple[str, str], str]:
    """(model label, object id) -> the record's name today: one query per kind of record, and
    one each for the study's agents, dose levels, sites and DLT rule versions and the subject's
    visits, whose names also stand for their ids in foreign-key values."""
    first_dose_on = subject.first_dose_on
    names: dict[tuple[str, str], str] = {("ecrf.Subject", str(subject.pk)): f"Subject {subject}"}

    def rows(label: str, model: type[models.Model], *columns: str):
        wanted = sorted(ids_by_model.get(label, ()), key=str) or [NO_RECORD]
        return model.objects.filter(pk__in=wanted).values_list(*columns)

    for pk, term, grade, onset in rows(
        "ecrf.AdverseEvent", AdverseEvent, "pk", "ctcae_term", "grade", "onset_on"
    ):
        names["ecrf.AdverseEvent", str(pk)] = _event_name(term, grade, onset, first_dose_on)
    event_columns = ("adverse_event__ctcae_term", "adverse_event__grade", "adverse_event__onset_on")
    for pk, term, grade, onset, agent in rows(
        "ecrf.AdverseEventAgent", AdverseEventAgent, "pk", *event_columns, "agent__code"
    ):
        names["ecrf.AdverseEventAgent", str(pk)] = (
            f"{_event_name(term, grade, onset, first_dose_on)} · attribution to {agent}"
        )
    for pk, term, grade, onset, from_on in rows(
        "ecrf.AdverseEventGrade", AdverseEventGrade, "pk", *event_columns, "from_on"
    ):
        names["ecrf.AdverseEventGrade", str(pk)] = (
            f"{_event_name(term, grade, onset, first_dose_on)} · grade from {from_on.isoformat()}"
        )
    for pk, term, grade, onset in rows("ecrf.DltAssessment", DltAssessment, "pk", *event_columns):
        names["ecrf.DltAssessment", str(pk)] = (
            f"DLT assessment of {_event_name(term, grade, onset, first_dose_on)}"
        )
    for pk, agent, given_on, cycle, day in rows(
        "ecrf.DoseAdministration", DoseAdministration,
        "pk", "agent__code", "given_on", "cycle", "day",
    ):  # fmt: skip
        names["ecrf.DoseAdministration", str(pk)] = (
            f"Dose of {agent}, cycle {cycle} day {day} ({given_on.isoformat()})"
        )
    for pk, test, collected_at in rows(
        "ecrf.LabResult", LabResult, "pk", "test_code", "collected_at"
    ):
        collected_on = timezone.localtime(collected_at).date()
        names["ecrf.LabResult", str(pk)] = (
            f"Lab {test}, collected {_day_text(collected_on, first_dose_on)}"
            f" ({collected_on.isoformat()})"
        )
    for pk, label in subject.visits.order_by().values_list("pk", "label"):
        names["ecrf.Visit", str(pk)] = f"Visit {label}"
    study = subject.study
    for label, records in (
        ("ecrf.Agent", study.agents.order_by().values_list("pk", "code")),
        ("ecrf.DoseLevel", study.dose_levels.order_by().values_list("pk", "label")),
        ("ecrf.Site", study.sites.order_by().values_list("pk", "code")),
    ):
        for pk, name in records:
            names[label, str(pk)] = name
    for pk, number in study.dlt_rule_sets.order_by().values_list("pk", "number"):
        names["ecrf.DltRuleSet", str(pk)] = f"DLT rules version {number}"
    return names


def _field(model_label: str, name: str) -> models.Field | None:
    try:
        return apps.get_model(model_label)._meta.get_field(name)
    except (LookupError, ValueError, FieldDoesNotExist):
        return None


def _label(field: models.Field | None, name: str) -> str:
    return capfirst(field.verbose_name) if field is not None else name


def audit_field_choices(trail) -> list[tuple[str, str]]:
    """The fields changed in a trail (a query of audit events) as (field name, label), by
    label; one query."""
    labels: dict[str, str] = {}
    for model_label, name in trail.order_by().values_list("model", "field").distinct():
        labels.setdefault(name, _label(_field(model_label, name), name))
    return sorted(labels.items(), key=lambda item: (item[1].casefold(), item[0]))


def _value_text(value: str | None, field, names: dict) -> str:
    if value is None or value == "":
        return ""
    if field is None:
        return value
    if field.primary_key:
        return names.get((field.model._meta.label, value), value)
    if isinstance(field, models.ForeignKey):
        return names.get((field.related_model._meta.label, value), value)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.BooleanField):
        return BOOLEAN_TEXT.get(value, value)
    return value


def readable_audit(events, subject) -> list[AuditLine]:
    """The audit events (a page of them) of `subject` as lines a reader takes in: "AE Fatigue
    grade 3, onset day 12" and "Grade", not model names, record ids and field names; the
    related record's name for a foreign key, a choice's label, Yes/No. A record of a kind not
    named here keeps the name it was written with. A fixed number of queries for any page."""
    events = list(events)
    fields = {(e.model, e.field): _field(e.model, e.field) for e in events}
    ids_by_model: dict[str, set] = defaultdict(set)
    for event in events:
        ids_by_model[event.model].add(event.object_id)
        field = fields[event.model, event.field]
        if isinstance(field, models.ForeignKey):
            # An adverse event named in a dose's "adverse event" field, say.
            ids_by_model[field.related_model._meta.label].update(
                value for value in (event.old_value, event.new_value) if value
            )
    names = _record_names(_valid_ids(ids_by_model), subject)
    lines = []
    for event in events:
        field = fields[event.model, event.field]
        label = _label(field, event.field)
        lines.append(
            AuditLine(
                event.at, event.actor, event.role,
                names.get((event.model, event.object_id), event.object_repr), event.object_id,
                label, _value_text(event.old_value, field, names),
                _value_text(event.new_value, field, names), event.reason,
            )
        )  # fmt: skip
    return lines


def _valid_ids(ids_by_model: dict[str, set]) -> dict[str, set]:
    """The ids that are ids (UUIDs) of the record kinds looked up by id."""
    valid: dict[str, set] = defaultdict(set)
    for label, ids in ids_by_model.items():
        for value in ids:
            try:
                valid[label].add(uuid.UUID(value))
            except ValueError:
                continue
    return valid
