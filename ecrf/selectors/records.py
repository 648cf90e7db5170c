"""The records the oversight pages address by (model label, id), and how they read there."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.text import capfirst

from ..access import KIND_OF_MODEL
from ..models import AdverseEvent, DoseAdministration, LabResult, Subject, Visit
from ..models.audit import audited_fields

# The models queries, verification, locks and signatures are about, by model label.
REVIEWED_MODELS = {label: kind.model for label, kind in KIND_OF_MODEL.items()}
# Fields a query may name: the clinical values, not the bookkeeping of corrections.
NOT_QUERYABLE = frozenset({"subject", "entered_in_error", "entered_in_error_reason"})


def records_by_key(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], models.Model]:
    """The records behind (model label, object id) pairs, one query per kind."""
    wanted = defaultdict(set)
    for label, object_id in keys:
        if label in REVIEWED_MODELS:
            wanted[label].add(object_id)
    found = {}
    for label, ids in wanted.items():
        queryset = REVIEWED_MODELS[label].objects.filter(pk__in=ids)
        if label == "ecrf.DoseAdministration":
            queryset = queryset.select_related("agent")
        for record in queryset:
            found[(label, str(record.pk))] = record
    return found


def describe_record(record: models.Model) -> str:
    if isinstance(record, Subject):
        return f"Subject {record.subject_code}"
    if isinstance(record, Visit):
        planned = f" (planned {record.planned_on:%Y-%m-%d})" if record.planned_on else ""
        return f"Visit {record.label}{planned}"
    if isinstance(record, AdverseEvent):
        return f"Adverse event {record.ctcae_term} grade {record.grade}, onset {record.onset_on:%Y-%m-%d}"
    if isinstance(record, DoseAdministration):
        return f"Dose {record.agent.code} {record.given_dose.normalize():f} {record.unit} on {record.given_on:%Y-%m-%d}"
    if isinstance(record, LabResult):
        return f"Lab {record.test_code} {record.value.normalize():f} {record.unit} on {record.collected_at:%Y-%m-%d %H:%M}"
    return str(record)


def describe_key(records: dict, model_label: str, object_id: str) -> str:
    """A record found by `records_by_key` described, or its model label when it is gone."""
    record = records.get((model_label, object_id))
    return describe_record(record) if record is not None else model_label


def kind_slug(model_label: str) -> str:
    """The `<kind>` of a record's oversight URLs, or '' for a model they do not address."""
    kind = KIND_OF_MODEL.get(model_label)
    return kind.slug if kind else ""


def queryable_fields(model: type[models.Model]) -> list[tuple[str, str]]:
    return [
        (f.name, str(f.verbose_name).capitalize())
        for f in audited_fields(model)
        if f.name not in NOT_QUERYABLE
    ]


def field_label(model_label: str, name: str) -> str:
    model = REVIEWED_MODELS.get(model_label)
    if not name:
        return "whole form"
    if model is None:
        return name
    try:
        return capfirst(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:  # a field renamed since the query was raised
        return name
