"""Recording adverse events with their attribution and action for each study agent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from ..models import AdverseEvent, AdverseEventAgent, Subject
from .dlt import dlt_evaluate_event
from .errors import invalid
from .queries import queries_sync_automatic
from .records import STALE, STALE_RECORD, StaleRecord, record_create, record_update

ASSESSMENT_MISSING = "Give the attribution for every study agent; missing: {agents}."
ASSESSMENT_UNKNOWN_AGENT = "{agents} is not a study agent of this study."


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
) -> AdverseEvent:
    """Record an adverse event; `assessments` maps agent code to (attribution, action taken).

    Not durable: the imports and the demo record events inside their own transaction.
    """
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
        **dict.fromkeys(serious_criteria, True),
    )
    with transaction.atomic():
        record_create(record=event, by=by)
        for code, (attribution, action_taken) in sorted(assessments.items()):
            record_create(
                record=AdverseEventAgent(
                    adverse_event=event,
                    agent=agents[code],
                    attribution=attribution,
                    action_taken=action_taken,
                ),
                by=by,
            )
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
) -> AdverseEvent:
    """Correct an adverse event and its per-agent attributions and actions in one save.

    `changes` holds the event's changed fields; `agent_changes` maps an agent code to the
    changed fields of that agent's assessment. `expected_version` and `agent_versions` are the
    versions the user's form was built from: the form is one unit for the nurse, so a change
    anyone saved to the event or to any of its assessments since refuses the whole save. The DLT
    rules and the automatic queries then run once. Durable: only the pages and the admin call
    it, each save its own transaction.
    """
    assessments = {
        assessment.agent.code: assessment
        for assessment in event.agent_assessments.filter(entered_in_error=False).select_related(
            "agent"
        )
    }
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
        for (model, pk), version in loaded.items():
            # The row lock makes a second save of the same event wait for this one to finish.
            current = model.objects.select_for_update().filter(pk=pk).values("version").first()
            if current is None or version is None or current["version"] != version:
                raise StaleRecord(STALE_RECORD, code=STALE)
        saved = event
        if changes:
            saved = record_update(
                record=event,
                changes=changes,
                reason=reason,
                by=by,
                expected_version=loaded[(AdverseEvent, event.pk)],
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
                )
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

    Not durable: callers that record a whole casebook in one transaction correct with it.
    """
    with transaction.atomic():
        saved = record_update(
            record=record, changes=changes, reason=reason, by=by, expected_version=expected_version
        )
        event = saved if isinstance(saved, AdverseEvent) else saved.adverse_event
        dlt_evaluate_event(event=event, by=by)
        queries_sync_automatic(subject=event.subject)
    return saved
