"""Recording that a planned visit took place or was missed, and correcting it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from ..models import Visit, VisitStatus
from .queries import queries_sync_automatic
from .records import record_update


def visit_record(
    *,
    visit: Visit,
    status: str,
    done_on: dt.date | None,
    missed_reason: str = "",
    by,
    reason: str = "",
    expected_version: int | None = None,
) -> Visit:
    """Record a visit as done on `done_on`, or as missed with `missed_reason`.

    A first recording of a planned visit needs no reason for change; the audit trail says
    "Visit done" or "Visit missed". Recording it again is a correction and needs one. The
    automatic data queries (a date outside the window accepted with a reason) follow. Not
    durable: the demo records its visits inside the transaction that loads the demo trial.
    """
    done = status == VisitStatus.DONE
    changes = {
        "status": status,
        "done_on": done_on if done else None,
        "missed_reason": "" if done else (missed_reason or "").strip(),
    }
    if visit.status == VisitStatus.PLANNED and not (reason or "").strip():
        reason = f"Visit {status}"
    return visit_correct(
        visit=visit, changes=changes, reason=reason, by=by, expected_version=expected_version
    )


def visit_correct(
    *,
    visit: Visit,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None = None,
) -> Visit:
    """Correct a visit's fields with a reason, then bring its automatic queries up to date.

    Not durable: visit_record, which is called inside other services, saves through it.
    """
    with transaction.atomic():
        saved = record_update(
            record=visit, changes=changes, reason=reason, by=by, expected_version=expected_version
        )
        queries_sync_automatic(subject=saved.subject)
    return saved
