"""The data cutoff of the safety summary and the DLT report, read from a page or a command.

A cutoff after today is refused: no data exists past today, and the far end of the calendar
(9999-12-31) overflowed the report's "day after the cutoff" into a server error (issue #22).
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

BAD_CUTOFF = "The cutoff must be a date (YYYY-MM-DD)."
CUTOFF_AFTER_TODAY = "The cutoff ({cutoff}) is after today ({today}); choose today or earlier."


def parse_cutoff(text: str | None) -> dt.date:
    """The cutoff date `text` names, today when empty; a ValidationError naming the cutoff
    when it is not a date (code "not_a_date") or lies after today (code "after_today")."""
    today = timezone.localdate()
    if not text:
        return today
    try:
        cutoff = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(BAD_CUTOFF, code="not_a_date") from exc
    if cutoff > today:
        raise ValidationError(
            CUTOFF_AFTER_TODAY.format(cutoff=cutoff.isoformat(), today=today), code="after_today"
        )
    return cutoff
