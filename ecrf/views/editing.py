"""Saving a data-entry form through a service, with the errors put back next to the fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from ..models import AuditEvent
from ..services import StaleRecord

T = TypeVar("T")


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


def describe_change(event: AuditEvent, *, field_label: str | None = None) -> str:
    """One line for a refused form: who changed which field, from what to what, when and why."""
    return (
        f"{event.actor} changed {field_label or event.field} from {event.old_value or '(empty)'} "
        f"to {event.new_value or '(empty)'} at {event.at:%Y-%m-%d %H:%M} UTC"
        + (f" ({event.reason})" if event.reason else "")
    )


def add_service_errors(
    form: forms.BaseForm,
    exc: ValidationError,
    *,
    record: models.Model | None = None,
    field_names: Mapping[str, str] | None = None,
) -> None:
    """Put a service's validation error on the form, each message next to its field.

    The messages keep their codes, so that a view asks `form.has_error(NON_FIELD_ERRORS,
    STALE)` instead of looking for a wording. `field_names` maps model field names to form
    field names where they differ; a field the form does not show gets a form-wide message.
    A conflict (StaleRecord) also lists what the other person changed in `record` since the
    form's `loaded_version`, so the nurse can decide what to keep.
    """
    field_names = field_names or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, ValidationError(exc.error_list))
    else:
        for name, errors in exc.error_dict.items():
            target = field_names.get(name, name)
            form.add_error(target if target in form.fields else None, ValidationError(errors))
    if isinstance(exc, StaleRecord) and record is not None:
        for event in changes_since(record, form.cleaned_data.get("loaded_version")):
            form.add_error(None, describe_change(event))


def save_through_service(
    form: forms.BaseForm,
    save: Callable[[], T],
    *,
    record: models.Model | None = None,
    field_names: Mapping[str, str] | None = None,
) -> T | None:
    """Call `save`; on a validation error or a conflict, add the messages to the form."""
    try:
        return save()
    except ValidationError as exc:
        add_service_errors(form, exc, record=record, field_names=field_names)
    return None
