"""One way to show a service's refusal on a form: each message next to its field, with its code."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from ..models import AuditEvent
from ..selectors.audit import changes_since
from ..services import StaleRecord

NOT_PERMITTED = "You may not make this change."


def describe_change(event: AuditEvent, *, field_label: str | None = None) -> str:
    """One line for a refused form: who changed which field, from what to what, when and why."""
    return (
        f"{event.actor} changed {field_label or event.field} from {event.old_value or '(empty)'} "
        f"to {event.new_value or '(empty)'} at {event.at:%Y-%m-%d %H:%M} UTC"
        + (f" ({event.reason})" if event.reason else "")
    )


def add_service_errors(
    form: forms.BaseForm,
    exc: ValidationError | PermissionDenied,
    *,
    record: models.Model | None = None,
    field_names: Mapping[str, str] | None = None,
) -> None:
    """Put a service's validation error on the form, each message next to its field.

    The messages keep their codes, so that a view asks `form.has_error(NON_FIELD_ERRORS,
    STALE)` instead of looking for a wording. `field_names` maps model field names to form
    field names where they differ; a field the form does not show gets a form-wide message.
    A refusal of the user's right (PermissionDenied) goes above the form. A conflict
    (StaleRecord) also lists what the other person changed in `record` since the
    form's `loaded_version`, so the nurse can decide what to keep.
    """
    field_names = field_names or {}
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc) or NOT_PERMITTED)
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, ValidationError(exc.error_list))
    else:
        for name, errors in exc.error_dict.items():
            target = field_names.get(name, name)
            # A form may show some errors next to something that is not a field (the rows of
            # a formset); it lists their names in `error_targets`.
            shown = target in form.fields or target in getattr(form, "error_targets", ())
            form.add_error(target if shown else None, ValidationError(errors))
    if isinstance(exc, StaleRecord) and record is not None:
        for event in changes_since(record, form.cleaned_data.get("loaded_version")):
            form.add_error(None, describe_change(event))
