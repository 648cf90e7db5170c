"""Data queries (data clarification): raise, answer, close, re-open, and the automatic ones.

A monitor or data manager raises a query on a field of a record; the site answers (correcting
the data through the usual services, with a reason, when needed); the person who raised it
closes or re-opens it. Edit checks accepted with a reason and lab results of grade 3 or more
without a matching adverse event, forms that contradict each other (the consistency checks
of ecrf/safety/consistency.py) and doses far above the plan (ecrf/safety/dose_plan.py), open
queries by themselves, and close them when the cause is
gone. Every step is a message of the query and a line of the audit trail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import F, Max
from django.utils import timezone

from ..access import Action, can
from ..models import (
    AuditEvent,
    DataQuery,
    DataQueryMessage,
    DoseAdministration,
    QueryMessageKind,
    QueryOrigin,
    QueryState,
    Subject,
)
from ..models.audit import audited_fields
from ..models.limits import TEXT_MAX
from ..models.oversight import AUTOMATIC_QUERY_AUTHOR
from ..selectors.consistency import subject_consistency_findings
from ..selectors.dose_plan import subject_doses_above_plan
from ..selectors.reconciliation import subject_reconciliation_items
from .audit import Actor, as_actor, subject_of, write_audit
from .errors import invalid
from .locking import label_of

# Who writes the automatic queries' messages (shown as the "Edit check").
AUTOMATIC_QUERIES = Actor(user=None, name=AUTOMATIC_QUERY_AUTHOR, role="system")

# The audit reason of a record saved although an edit check warned (see forms/base.py).
WARNINGS_ACCEPTED = "Warnings accepted"

MESSAGE_REQUIRED = "Write a message."
MESSAGE_TOO_LONG = "Keep the message to {limit} characters (it has {length})."
NOT_A_FIELD = "{field} is not a field of this form."
ONLY_REVIEWERS_RAISE = "Only monitors and data managers assigned to this site raise queries."
ONLY_SITE_ANSWERS = "Only the site's staff answer queries."
ONLY_RAISER_CLOSES = "Only the person who raised this query closes or re-opens it."
ONLY_REVIEWERS_CLOSE = "Only monitors and data managers close automatic queries."
WRONG_STATE = "This query is {state}; it cannot be {verb}."
STALE_QUERY = "Someone else changed this query after you opened it. Reload it and try again."
AUTO_CLOSED = "Closed automatically: {cause}"
RECONCILIATION_MESSAGE = (
    "{term} grade {grade} ({test} on {date}) has no adverse event of that term within 7 days. "
    "Record the adverse event, or explain why there is none."
)
EDIT_CHECK_MESSAGE = "Saved although an edit check warned. {reason}"
CONSISTENCY_MESSAGE = "{detail} Correct the form that is wrong, or explain why both are right."
DOSE_ABOVE_PLAN_MESSAGE = (
    "Possible medication error: {agent} on {date} (cycle {cycle} day {day}), {dose}, more than "
    "the {limit} % of the plan. Check the dose against the source and correct it, or explain it."
)


def _reviewer(actor: Actor, subject: Subject, action: Action) -> bool:
    """A command of the installation, or a user who may do `action` at the subject's site."""
    return actor.is_system or can(actor.user, action, site=subject.site)


def _message_text(message: str, *, required: bool = True) -> str:
    """The message as it is kept, or a refusal on `message` when it is missing or too long."""
    message = (message or "").strip()
    if required and not message:
        raise invalid("message", MESSAGE_REQUIRED, "message_required")
    if len(message) > TEXT_MAX:
        raise invalid(
            "message", MESSAGE_TOO_LONG.format(limit=TEXT_MAX, length=len(message)), "too_long"
        )
    return message


def _message(query: DataQuery, actor: Actor, kind: str, text: str) -> DataQueryMessage:
    return DataQueryMessage.objects.create(
        query=query,
        at=timezone.now(),
        user=actor.user,
        author=actor.name,
        role=actor.role,
        kind=kind,
        text=text,
    )


def query_raise(*, record: models.Model, field: str, message: str, by) -> DataQuery:
    """Raise a query on `field` of `record` (an empty field means the form as a whole)."""
    actor = as_actor(by)
    subject = subject_of(record)
    if actor.is_system or not _reviewer(actor, subject, Action.RAISE_QUERY):
        raise PermissionDenied(ONLY_REVIEWERS_RAISE)
    errors = {}
    try:
        message = _message_text(message)
    except ValidationError as refused:
        errors.update(refused.error_dict)
    if field and field not in {f.name for f in audited_fields(type(record))}:
        errors["field"] = ValidationError(NOT_A_FIELD.format(field=field), code="not_a_field")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(durable=True):
        query = DataQuery.objects.create(
            subject=subject,
            model=label_of(record),
            object_id=str(record.pk),
            field=field,
            origin=QueryOrigin.MANUAL,
            message=message,
            raised_by=actor.user,
        )
        _message(query, actor, QueryMessageKind.RAISED, message)
        write_audit(
            record=query,
            actor=actor,
            action="ecrf.dataquery.raised",
            changes=[("state", None, QueryState.OPEN), ("message", None, message)],
        )
    return query


def _transition(
    query: DataQuery,
    *,
    actor: Actor,
    state: str,
    kind: str,
    text: str,
    expected_version: int,
    durable: bool = True,
) -> DataQuery:
    """Move a query to `state` with a message; durable when a person's answer, close or re-open
    is the whole save, not when the automatic sync closes a query inside another service."""
    with transaction.atomic(durable=durable):
        written = DataQuery.objects.filter(pk=query.pk, version=expected_version).update(
            state=state, version=F("version") + 1, updated_at=timezone.now()
        )
        if written != 1:
            raise ValidationError(STALE_QUERY, code="stale")
        old_state = query.state
        query.refresh_from_db()
        _message(query, actor, kind, text)
        write_audit(
            record=query,
            actor=actor,
            action=f"ecrf.dataquery.{kind}",
            changes=[("state", old_state, state)],
            reason=text,
        )
    return query


def _ensure_state(query: DataQuery, allowed: Iterable[str], verb: str) -> None:
    if query.state not in allowed:
        raise ValidationError(
            WRONG_STATE.format(state=query.get_state_display().lower(), verb=verb),
            code="wrong_state",
        )


def query_answer(*, query: DataQuery, message: str, by, expected_version: int | None = None):
    """The site answers an open query."""
    actor = as_actor(by)
    if actor.is_system or not can(actor.user, Action.ANSWER_QUERY, site=query.subject.site):
        raise PermissionDenied(ONLY_SITE_ANSWERS)
    message = _message_text(message)
    _ensure_state(query, [QueryState.OPEN], "answered")
    return _transition(
        query,
        actor=actor,
        state=QueryState.ANSWERED,
        kind=QueryMessageKind.ANSWERED,
        text=message,
        expected_version=query.version if expected_version is None else expected_version,
    )


def _ensure_may_close(actor: Actor, query: DataQuery) -> None:
    if query.origin == QueryOrigin.MANUAL:
        if actor.is_system or not can(actor.user, Action.CLOSE_QUERY, raised_by=query.raised_by_id):
            raise PermissionDenied(ONLY_RAISER_CLOSES)
    elif not _reviewer(actor, query.subject, Action.CLOSE_AUTOMATIC_QUERY):
        raise PermissionDenied(ONLY_REVIEWERS_CLOSE)


def query_close(*, query: DataQuery, by, message: str = "", expected_version: int | None = None):
    """The person who raised the query closes it (answered or not)."""
    actor = as_actor(by)
    _ensure_may_close(actor, query)
    _ensure_state(query, [QueryState.OPEN, QueryState.ANSWERED], "closed")
    return _transition(
        query,
        actor=actor,
        state=QueryState.CLOSED,
        kind=QueryMessageKind.CLOSED,
        text=_message_text(message, required=False),
        expected_version=query.version if expected_version is None else expected_version,
    )


def query_reopen(*, query: DataQuery, message: str, by, expected_version: int | None = None):
    """The person who raised the query re-opens it when the answer does not settle it."""
    actor = as_actor(by)
    _ensure_may_close(actor, query)
    message = _message_text(message)
    _ensure_state(query, [QueryState.ANSWERED, QueryState.CLOSED], "re-opened")
    if query.origin != QueryOrigin.MANUAL and query.state == QueryState.CLOSED:
        # The cause of a closed automatic query is gone; a new cause opens a new query.
        raise ValidationError(
            WRONG_STATE.format(state="closed", verb="re-opened"), code="wrong_state"
        )
    return _transition(
        query,
        actor=actor,
        state=QueryState.OPEN,
        kind=QueryMessageKind.REOPENED,
        text=message,
        expected_version=query.version if expected_version is None else expected_version,
    )


# Automatic queries


def consistency_cause(finding) -> str:
    """The cause key of a consistency finding: its check, its record and what it says, so that
    a finding that changes (another value seen) closes its query and opens a new one."""
    digest = hashlib.sha256(finding.detail.encode()).hexdigest()[:10]
    return f"consistency:{finding.check}:{finding.record_id}:{digest}"


def automatic_query_causes(subject: Subject) -> dict[str, dict]:
    """What should have an open automatic query now, keyed by cause."""
    causes = {}
    # The consistency checks read the subject's events; the reconciliation reads them from there.
    event_spans: dict = {}
    findings = subject_consistency_findings(subject, event_spans=event_spans)
    for result in subject_reconciliation_items(subject, event_spans=event_spans):
        causes[f"reconciliation:{result.pk}:v{result.version}"] = {
            "origin": QueryOrigin.RECONCILIATION,
            "model": label_of(result),
            "object_id": str(result.pk),
            "field": "ctcae_grade",
            "message": RECONCILIATION_MESSAGE.format(
                term=result.ctcae_term,
                grade=result.ctcae_grade,
                test=result.get_test_code_display(),
                date=result.collected_at.date().isoformat(),
            ),
        }
    for finding in findings:
        causes[consistency_cause(finding)] = {
            "origin": QueryOrigin.CONSISTENCY,
            "model": finding.record_model,
            "object_id": str(finding.record_id),
            "field": finding.field,
            "message": CONSISTENCY_MESSAGE.format(detail=finding.detail),
        }
    # A dose far above the plan, queried again whenever its given or planned dose changes.
    for row in subject_doses_above_plan(subject):
        above = row.above
        causes[f"dose_above_plan:{row.dose_id}:{above.given}:{above.planned}"] = {
            "origin": QueryOrigin.DOSE_ABOVE_PLAN,
            "model": DoseAdministration._meta.label,
            "object_id": str(row.dose_id),
            "field": "given_dose",
            "message": DOSE_ABOVE_PLAN_MESSAGE.format(
                agent=row.agent,
                date=row.given_on.isoformat(),
                cycle=row.cycle,
                day=row.day,
                dose=above.describe(),
                limit=row.limit_pct,
            ),
        }
    # A record whose latest save accepted an edit check warning (one audit line per field).
    latest_accepted = {}
    for row in (
        AuditEvent.objects.filter(subject_id=subject.pk, reason__contains=WARNINGS_ACCEPTED)
        .order_by("at")
        .values("model", "object_id", "at", "reason")
    ):
        latest_accepted[(row["model"], row["object_id"])] = row
    if latest_accepted:
        latest_save = {
            (row["model"], row["object_id"]): row["at"]
            for row in AuditEvent.objects.filter(
                subject_id=subject.pk, object_id__in={key[1] for key in latest_accepted}
            )
            .values("model", "object_id")
            .annotate(at=Max("at"))
        }
        for (model, object_id), row in latest_accepted.items():
            if latest_save.get((model, object_id)) != row["at"]:
                continue  # saved again since, without accepting a warning
            causes[f"edit_check:{object_id}:{row['at'].isoformat()}"] = {
                "origin": QueryOrigin.EDIT_CHECK,
                "model": model,
                "object_id": object_id,
                "field": "",
                "message": EDIT_CHECK_MESSAGE.format(
                    reason=row["reason"][row["reason"].index(WARNINGS_ACCEPTED) :]
                ),
            }
    return causes


def queries_sync_automatic(*, subject: Subject, by=None) -> tuple[int, int]:
    """Open an automatic query for each new cause, close those whose cause is gone.

    Returns (opened, closed).
    """
    actor = as_actor(by) if by is not None else AUTOMATIC_QUERIES
    causes = automatic_query_causes(subject)
    automatic = list(DataQuery.objects.filter(subject=subject).exclude(cause=""))
    # A cause is queried once: a query a reviewer closed stays closed while its cause lasts.
    known = {query.cause for query in automatic}
    still_open = [
        query
        for query in automatic
        if query.state != QueryState.CLOSED and query.cause not in causes
    ]
    opened = closed = 0
    # All or nothing; no caller goes on after a refusal, so no savepoint is needed.
    with transaction.atomic(savepoint=False):
        for cause, spec in causes.items():
            if cause in known:
                continue
            query = DataQuery.objects.create(subject=subject, cause=cause, **spec)
            _message(query, actor, QueryMessageKind.RAISED, spec["message"])
            write_audit(
                record=query,
                actor=actor,
                action="ecrf.dataquery.raised",
                changes=[("state", None, QueryState.OPEN), ("message", None, spec["message"])],
            )
            opened += 1
        for query in still_open:
            _transition(
                query,
                actor=actor,
                state=QueryState.CLOSED,
                kind=QueryMessageKind.CLOSED,
                text=AUTO_CLOSED.format(cause="the cause of this query is gone"),
                expected_version=query.version,
                durable=False,
            )
            closed += 1
    return opened, closed
