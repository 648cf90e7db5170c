"""Upper bounds on the free text a user types (issue #22: a 1.9 MB DLT reason made the safety
summary and the casebook PDF exceed the worker timeout).

A `TextField`'s `max_length` only sizes the form's textarea; `text_limit()` adds the validator
that makes `full_clean()` (and so every service that validates) refuse a longer text with the
field named. The column type does not change, so no existing row is rewritten.
"""

from __future__ import annotations

from django.core.validators import MaxLengthValidator

# Reasons (DLT decision, unlocking, entered in error) and query messages.
TEXT_MAX = 2000

# The audit trail mirrors the records: old and new values hold any field's value (the longest
# bounded field is TEXT_MAX); the reason holds the longest reason a form accepts, which for a
# data-entry form is the reason for change, the edit-check warnings and the override reason
# together (see RecordForm.audit_reason), hence the room above TEXT_MAX.
AUDIT_VALUE_MAX = TEXT_MAX
AUDIT_REASON_MAX = 4000


def text_limit(limit: int = TEXT_MAX) -> dict:
    """Keyword arguments of a TextField bounded to `limit` characters."""
    return {"max_length": limit, "validators": [MaxLengthValidator(limit)]}
