"""Recording adverse events with their attribution and action for each study agent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from ..ctcae.dictionary import UnknownTermError, get_term
from ..models import AdverseEvent, AdverseEventAgent, AdverseEventGrade, Subject
from ..safety.grade_history import FIELD as GRADE_CHANGES
from ..safety.grade_history import check_grade_history
from .audit import action_code
from .dlt import dlt_evaluate_event
from .errors import invalid
from .queries import queries_sync_automatic
from .records import (
    STALE,
    STALE_RECORD,
    StaleRecord,
    record_create,
    record_parts_create,
    record_update,
)

ASSESSMENT_MISSING = "Give the attribution for every study agent; missing: {agents}."
ASSESSMENT_UNKNOWN_AGENT = "{agents} is not a study agent of this study."
# The fields of an event its grade history is checked against.
HISTORY_FIELDS = ("ctcae_term", "grade", "onset_on", "resolved_on")

Step = tuple[dt.date, int]


def ensure_valid_grade_history(
    *, term: str, grade: int, onset_on: dt.date, resolved_on: dt.date | None, steps
) -> None:
    """Refuse a grade history that does not fit its event, naming "grade_changes".

    An unknown term is left to the event's own validation, which names the term field.
    """
    try:
        term = get_term(term).term
    except (UnknownTermError, TypeError):
        return
    problems = check_grade_history(
        term=term, grade=grade, onset_on=onset_on, resolved_on=resolved_on, steps=steps
    )
    if problems:
        raise invalid(GRADE_CHANGES, problems[GRADE_CHANGES], "invalid_grade_history")


def _steps(steps) -> list[Step]:
    return [(from_on, grade) for from_on, grade in steps]


def current_grade_changes(event: AdverseEvent) -> list[AdverseEventGrade]:
    """The event's grade history as it stands: its steps not entered in error, by date."""
    return list(event.grade_changes.filter(entered_in_error=False).order_by("from_on"))


def current_assessments(event: AdverseEvent) -> dict[str, AdverseEventAgent]:
    """The event's attribution and action rows not entered in error, by agent code."""
    return {
        assessment.agent.code: assessment
        for assessment in event.agent_assessments.filter(entered_in_error=False).select_related(
            "agent"
        )
    }


# The steps and corrections below are written inside the transaction of ae_update or
# ae_correct, which go on after no refusal: they need no savepoint of their own.


def _retire_steps(rows, *, reason: str, by) -> None:
    for row in rows:
        record_update(
            record=row,
            changes={"entered_in_error": True, "entered_in_error_reason": reason},
            reason=reason,
            by=by,
            action=action_code(row, "entered_in_error"),
            savepoint=False,
        )


def _create_steps(event: AdverseEvent, steps: Sequence[Step], *, by) -> None:
    for from_on, grade in steps:
        record_create(
            record=AdverseEventGrade(adverse_event=event, grade=grade, from_on=from_on),
            by=by,
            savepoint=False,
        )


def _check_history_of_update(
    event: AdverseEvent, changes: Mapping[str, Any], steps: list[Step] | None
) -> None:
    """Refuse a new history, or a change of the event its saved history no longer fits."""
    touched = set(HISTORY_FIELDS) & set(changes)
    if steps is None:
        if not touched:
            return
        steps = [(row.from_on, row.grade) for row in current_grade_changes(event)]
    after = {name: changes.get(name, getattr(event, name)) for name in HISTORY_FIELDS}
    ensure_valid_grade_history(
        term=after["ctcae_term"],
        grade=after["grade"],
        onset_on=after["onset_on"],
        resolved_on=after["resolved_on"],
        steps=steps,
    )


def ae_record(
    *,
    subject: Subject,
    ctcae_term: str,
    grade: int,
    onset_on: dt.date,
    assessments: Mapping[str, tuple[str, str]],
    by,
    verbatim: str = "",
    resolved_on: dt.date | None = None,
    outcome: str = "not_recovered",
    death_on: dt.date | None = None,
    serious_criteria: tuple[str, ...] = (),
    meddra_code: str = "",
    soc: str = "",
    grade_changes: Sequence[Step] = (),
    despite_supportive_care: bool = False,
    site_aware_at: dt.datetime | None = None,
) -> AdverseEvent:
    """Record an adverse event; `assessments` maps agent code to (attribution, action taken).

    `site_aware_at` is when the site became aware of a serious event (required for one, and
    only for one): its 24-hour reporting clock counts from it.

    `grade_changes` is its grade history, (from date, grade) steps; empty when the event stayed
    at its grade. Not durable: the imports and the demo record events inside their own
    transaction.
    """
    steps = _steps(grade_changes)
    ensure_valid_grade_history(
        term=ctcae_term, grade=grade, onset_on=onset_on, resolved_on=resolved_on, steps=steps
    )
    agents = {agent.code: agent for agent in subject.study.agents.all()}
    missing = sorted(set(agents) - set(assessments))
    unknown = sorted(set(assessments) - set(agents))
    if unknown:
        raise invalid(
            "assessments",
            ASSESSMENT_UNKNOWN_AGENT.format(agents=", ".join(unknown)),
            "unknown_agent",
        )
    if missing:
        raise invalid(
            "assessments",
            ASSESSMENT_MISSING.format(agents=", ".join(missing)),
            "assessment_missing",
        )
    event = AdverseEvent(
        subject=subject,
        ctcae_version=subject.study.ctcae_version,
        ctcae_term=ctcae_term,
        meddra_code=meddra_code,
        soc=soc,
        verbatim=verbatim.strip(),
        grade=grade,
        onset_on=onset_on,
        resolved_on=resolved_on,
        outcome=outcome,
        death_on=death_on,
        serious=bool(serious_criteria),
        despite_supportive_care=despite_supportive_care,
        site_aware_at=site_aware_at,
        **dict.fromkeys(serious_criteria, True),
    )
    with transaction.atomic():
        # Nothing here goes on after a refusal: this transaction's savepoint (or the
        # transaction itself) takes every write back.
        record_create(record=event, by=by, savepoint=False)
        agent_rows = [
            AdverseEventAgent(
                adverse_event=event,
                agent=agents[code],
                attribution=attribution,
                action_taken=action_taken,
            )
            for code, (attribution, action_taken) in sorted(assessments.items())
        ]
        record_parts_create(record=event, parts=agent_rows, by=by, link="adverse_event")
        history = [
            AdverseEventGrade(adverse_event=event, grade=grade, from_on=from_on)
            for from_on, grade in steps
        ]
        record_parts_create(record=event, parts=history, by=by, link="adverse_event")
        # The DLT rules read the grade history: they run once it is written.
        dlt_evaluate_event(event=event, by=by)
        queries_sync_automatic(subject=event.subject)
    return event


def ae_update(
    *,
    event: AdverseEvent,
    changes: Mapping[str, Any],
    agent_changes: Mapping[str, Mapping[str, Any]],
    reason: str,
    by,
    expected_version: int | None = None,
    agent_versions: Mapping[str, int] | None = None,
    grade_changes: Sequence[Step] | None = None,
    expected_grade_changes: Sequence[Step] | None = None,
    assessments: Mapping[str, AdverseEventAgent] | None = None,
) -> AdverseEvent:
    """Correct an adverse event and its per-agent attributions and actions in one save.

    `changes` holds the event's changed fields; `agent_changes` maps an agent code to the
    changed fields of that agent's assessment. `expected_version` and `agent_versions` are the
    versions the user's form was built from: the form is one unit for the nurse, so a change
    anyone saved to the event or to any of its assessments since refuses the whole save. The DLT
    rules and the automatic queries then run once. Durable: only the pages and the admin call
    it, each save its own transaction.

    `grade_changes`, when given, replaces the grade history: steps no longer in it are marked
    entered in error with the update's reason, new ones are created, identical ones stay.
    `expected_grade_changes` is the history the form was built from; a history someone else
    changed since refuses the save. An event marked entered in error takes its history along.

    `assessments`: the event's `current_assessments` when the caller has read them (their
    versions are checked again in the transaction, as `agent_versions` says).
    """
    steps = None if grade_changes is None else _steps(grade_changes)
    retiring = bool(changes.get("entered_in_error")) and not event.entered_in_error
    if not retiring:
        _check_history_of_update(event, changes, steps)
    if assessments is None:
        assessments = current_assessments(event)
    unknown = sorted(set(agent_changes) - set(assessments))
    if unknown:
        raise invalid(
            "assessments",
            ASSESSMENT_UNKNOWN_AGENT.format(agents=", ".join(unknown)),
            "unknown_agent",
        )
    loaded = {
        (AdverseEvent, event.pk): event.version if expected_version is None else expected_version
    }
    for code, version in (agent_versions or {}).items():
        if code in assessments:
            loaded[(AdverseEventAgent, assessments[code].pk)] = version
    with transaction.atomic(durable=True):
        for model in (AdverseEvent, AdverseEventAgent):
            wanted = {pk: version for (kind, pk), version in loaded.items() if kind is model}
            # The row lock makes a second save of the same event wait for this one to finish.
            current = dict(
                model.objects.select_for_update()
                .filter(pk__in=list(wanted))
                .values_list("pk", "version")
            )
            for pk, version in wanted.items():
                if version is None or current.get(pk) != version:
                    raise StaleRecord(STALE_RECORD, code=STALE)
        current = current_grade_changes(event)
        loaded_steps = None if expected_grade_changes is None else _steps(expected_grade_changes)
        if loaded_steps is not None and loaded_steps != [(r.from_on, r.grade) for r in current]:
            raise StaleRecord(STALE_RECORD, code=STALE)
        # Steps leave before the event's dates change: a retired step is validated against
        # the event as it still is.
        if retiring:
            in_error_reason = (changes.get("entered_in_error_reason") or reason or "").strip()
            _retire_steps(current, reason=in_error_reason, by=by)
        elif steps is not None:
            wanted = set(steps)
            _retire_steps(
                [row for row in current if (row.from_on, row.grade) not in wanted],
                reason=reason,
                by=by,
            )
        saved = event
        if changes:
            saved = record_update(
                record=event,
                changes=changes,
                reason=reason,
                by=by,
                expected_version=loaded[(AdverseEvent, event.pk)],
                savepoint=False,
            )
        for code, change in sorted(agent_changes.items()):
            if change:
                assessment = assessments[code]
                record_update(
                    record=assessment,
                    changes=change,
                    reason=reason,
                    by=by,
                    expected_version=loaded.get((AdverseEventAgent, assessment.pk)),
                    savepoint=False,
                )
        if steps is not None and not retiring:
            kept = {(row.from_on, row.grade) for row in current}
            _create_steps(saved, [step for step in steps if step not in kept], by=by)
        # The DLT rules read the grade history: they run once it is written.
        dlt_evaluate_event(event=saved, by=by)
        queries_sync_automatic(subject=saved.subject)
    return saved


def ae_correct(
    *,
    record: AdverseEvent | AdverseEventAgent,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None = None,
):
    """Correct an adverse event or one agent's attribution, then re-apply the DLT rules.

    An event keeps a grade history that fits it, and takes its history along when it is
    marked entered in error. Not durable: callers that record a whole casebook in one
    transaction correct with it.
    """
    is_event = isinstance(record, AdverseEvent)
    retiring = is_event and bool(changes.get("entered_in_error")) and not record.entered_in_error
    if is_event and not retiring:
        _check_history_of_update(record, changes, None)
    with transaction.atomic():
        if retiring:
            in_error_reason = (changes.get("entered_in_error_reason") or reason or "").strip()
            _retire_steps(current_grade_changes(record), reason=in_error_reason, by=by)
        saved = record_update(
            record=record,
            changes=changes,
            reason=reason,
            by=by,
            expected_version=expected_version,
            savepoint=False,
        )
        event = saved if isinstance(saved, AdverseEvent) else saved.adverse_event
        dlt_evaluate_event(event=event, by=by)
        queries_sync_automatic(subject=event.subject)
    return saved
