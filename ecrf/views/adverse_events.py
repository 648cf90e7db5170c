"""The research nurse's adverse event pages: record, correct, and the CTCAE term search."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import access
from ..ctcae.dictionary import CTCAE_VERSION, search_terms
from ..forms.adverse_event import (
    EVENT_FIELDS,
    AdverseEventForm,
    initial_from_event,
    same_minute,
)
from ..forms.errors import describe_change
from ..models import (
    SERIOUSNESS_CRITERIA,
    AdverseEvent,
    AdverseEventAgent,
    CtcaeTermDescription,
    Subject,
)
from ..safety.sae_clock import sae_report_due, sae_report_overdue
from ..selectors.audit import changes_since
from ..selectors.grade_history import grade_history_of
from ..services import STALE
from ..services.adverse_events import ae_record, ae_update, current_assessments
from .editing import save_through_service
from .subjects import role_label

SAE_DEADLINE = (
    "Serious: report to the sponsor by {due} (24 hours after the site became aware, {aware})."
)
SAE_OVERDUE = (
    "Serious: the report to the sponsor was due by {due} (24 hours after the site became "
    "aware, {aware}); it is overdue unless it has been sent."
)
RECORDED = "Adverse event recorded: {event.ctcae_term} grade {event.grade}."
CORRECTED = "Adverse event saved: {event.ctcae_term} grade {event.grade}."
NOTHING_CHANGED = "Nothing was changed, so nothing was saved."
MAX_SEARCH_RESULTS = 20
MAX_QUERY_LENGTH = 100


def _moment(value: dt.datetime) -> str:
    """A moment as the site reads it: its time zone's clock, named."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M} {timezone.get_current_timezone_name()}"


def sae_report_deadline(event: AdverseEvent) -> dt.datetime:
    """When a serious event must reach the sponsor: 24 hours after the site became aware of it
    (ICH E2A), not after it was entered."""
    return sae_report_due(event.site_aware_at)


def sae_clock(event: AdverseEvent) -> str | None:
    """The reporting clock of a serious event, counted from when the site became aware of it
    (ICH E2A: to the sponsor within 24 hours); None for an event that is not serious."""
    if not event.serious or event.site_aware_at is None:
        return None
    aware = event.site_aware_at
    template = SAE_OVERDUE if sae_report_overdue(aware, timezone.now()) else SAE_DEADLINE
    return template.format(due=_moment(sae_report_deadline(event)), aware=_moment(aware))


def _changed(saved, new) -> bool:
    if isinstance(saved, dt.datetime) and isinstance(new, dt.datetime):
        # The form keeps minutes; seconds of a saved time are not a change.
        return same_minute(saved) != same_minute(new)
    return saved != new


def _casebook_url(subject: Subject) -> str:
    return reverse("subject_detail", args=[subject.pk]) + "#aes"


def _saved(request: HttpRequest, event: AdverseEvent, message: str, draft_key: str):
    messages.success(request, message.format(event=event), extra_tags=draft_key)
    clock = sae_clock(event)
    if clock is not None:
        messages.warning(request, clock)
    return redirect(_casebook_url(event.subject))


def _render(request: HttpRequest, form: AdverseEventForm, subject: Subject, **context):
    context.update(
        form=form,
        subject=subject,
        can_write=access.can_write_site(request.user, subject.site),
        role_label=role_label(request.user),
    )
    return render(request, "ecrf/adverse_event_form.html", context)


@login_required
def ae_create(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    posting = request.method == "POST"
    subject = access.get_subject_for_user(request.user, subject_id, write=posting)
    # The form and the service both read the study's agents: once.
    prefetch_related_objects([subject.study], "agents")
    form = AdverseEventForm(
        request.POST if posting else None, subject=subject, agents=subject.study.agents.all()
    )
    draft_key = f"ae-new-{subject.pk}"
    if posting and form.is_valid():
        values = form.event_values()
        criteria = tuple(name for name in SERIOUSNESS_CRITERIA if values[name])
        event = save_through_service(
            form,
            lambda: ae_record(
                subject=subject,
                ctcae_term=values["ctcae_term"],
                grade=values["grade"],
                onset_on=values["onset_on"],
                assessments=form.assessments(),
                by=request.user,
                verbatim=values["verbatim"],
                resolved_on=values["resolved_on"],
                outcome=values["outcome"],
                death_on=values["death_on"],
                serious_criteria=criteria,
                grade_changes=form.grade_changes() or (),
                despite_supportive_care=values["despite_supportive_care"],
                site_aware_at=values["site_aware_at"],
            ),
        )
        if event is not None:
            return _saved(request, event, RECORDED, draft_key)
    return _render(request, form, subject, draft_key=draft_key)


def _agent_changes_since(form: AdverseEventForm, assessments: dict[str, AdverseEventAgent]):
    """Add what others changed in the agent assessments to a refused form."""
    for agent in form.agents:
        for change in changes_since(assessments[agent.code], form.agent_version(agent)):
            form.add_error(
                None, describe_change(change, field_label=f"{agent.code} {change.field}")
            )


@login_required
def ae_edit(request: HttpRequest, event_id: UUID) -> HttpResponse:
    posting = request.method == "POST"
    event = access.get_adverse_event_for_user(request.user, event_id, write=posting)
    if event.entered_in_error:
        raise Http404("This adverse event was marked as entered in error.")
    subject = event.subject
    assessments = current_assessments(event)
    form = AdverseEventForm(
        request.POST if posting else None,
        subject=subject,
        agents=[assessment.agent for assessment in assessments.values()],
        assessments=assessments,
        initial=initial_from_event(event, assessments),
        editing=True,
        version=event.version,
        grade_changes=grade_history_of(event),
    )
    draft_key = f"ae-edit-{event.pk}"
    if posting and not form.has_clinical_changes():
        messages.info(request, NOTHING_CHANGED, extra_tags=draft_key)
        return redirect(_casebook_url(subject))
    if posting and form.is_valid():
        values = form.event_values()
        changes = {
            name: values[name]
            for name in EVENT_FIELDS
            if _changed(getattr(event, name), values[name])
        }
        agent_changes = {}
        for code, (attribution, action_taken) in form.assessments().items():
            saved = assessments[code]
            change = {}
            if saved.attribution != attribution:
                change["attribution"] = attribution
            if saved.action_taken != action_taken:
                change["action_taken"] = action_taken
            if change:
                agent_changes[code] = change
        grade_changes = form.grade_changes()
        if not changes and not agent_changes and grade_changes is None:
            messages.info(request, NOTHING_CHANGED, extra_tags=draft_key)
            return redirect(_casebook_url(subject))

        def save() -> AdverseEvent:
            return ae_update(
                event=event,
                changes=changes,
                agent_changes=agent_changes,
                reason=form.audit_reason,
                by=request.user,
                expected_version=form.cleaned_data["loaded_version"],
                agent_versions={agent.code: form.agent_version(agent) for agent in form.agents},
                grade_changes=grade_changes,
                expected_grade_changes=form.loaded_grade_changes_steps(),
                assessments=assessments,
            )

        saved_event = save_through_service(form, save, record=event)
        if saved_event is not None:
            return _saved(request, saved_event, CORRECTED, draft_key)
        if form.has_error(NON_FIELD_ERRORS, STALE):
            _agent_changes_since(form, assessments)
    return _render(
        request,
        form,
        subject,
        event=event,
        draft_key=draft_key,
        sae_clock=sae_clock(event),
        conflict=form.is_bound and form.has_error(NON_FIELD_ERRORS, STALE),
    )


@login_required
@require_GET
def ctcae_term_search(request: HttpRequest) -> JsonResponse:
    """CTCAE v5.0 terms matching ?q= (word prefixes or a MedDRA code prefix), best first."""
    query = request.GET.get("q", "")[:MAX_QUERY_LENGTH]
    terms = search_terms(query, limit=MAX_SEARCH_RESULTS)
    descriptions = {}
    if terms:
        rows = CtcaeTermDescription.objects.filter(
            ctcae_version=CTCAE_VERSION, term__in=[term.term for term in terms]
        )
        descriptions = {row.term: row.grade_descriptions() for row in rows}
    results = []
    for term in terms:
        item = {
            "term": term.term,
            "meddra_code": term.meddra_code,
            "soc": term.soc,
            "grades": list(term.grades),
            "other_specify": term.is_other_specify,
        }
        texts = descriptions.get(term.term)
        if texts:
            item["descriptions"] = {
                str(grade): text for grade, text in texts.items() if grade in term.grades
            }
        results.append(item)
    return JsonResponse(results, safe=False)


urlpatterns = [
    path("subjects/<uuid:subject_id>/adverse-events/new/", ae_create, name="ae_create"),
    path("adverse-events/<uuid:event_id>/edit/", ae_edit, name="ae_edit"),
    path("ctcae/terms/", ctcae_term_search, name="ctcae_term_search"),
]
