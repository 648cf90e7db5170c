"""Validation errors with a code and a field name, so that callers route them without reading
their English wording (DESIGN.md, rule 11)."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def invalid(field: str | None, message: str, code: str) -> ValidationError:
    """A validation error on `field` (None: the record or form as a whole) with its code."""
    error = ValidationError(message, code=code)
    return error if field is None else ValidationError({field: error})
