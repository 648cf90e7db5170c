"""Recording laboratory results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ..models import LabResult, Subject, Visit
from .records import record_create


def lab_record(
    *,
    subject: Subject,
    test_code: str,
    value: Decimal,
    unit: str,
    collected_at: dt.datetime,
    by,
    lln: Decimal | None = None,
    uln: Decimal | None = None,
    visit: Visit | None = None,
) -> LabResult:
    """Record one lab result."""
    result = LabResult(
        subject=subject,
        visit=visit,
        test_code=test_code,
        value=value,
        unit=unit,
        lln=lln,
        uln=uln,
        collected_at=collected_at,
    )
    return record_create(record=result, by=by)
