"""Saving a data-entry form through a service, with the errors put back next to the fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from ..forms.errors import add_service_errors

T = TypeVar("T")


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
