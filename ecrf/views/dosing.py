"""Recording study-drug administration, one row per agent and day, and correcting it."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

from .. import access
from ..forms.dosing import DoseExceptionFormSet, DoseForm, DoseRangeForm, describe_dosing_days
from ..models import AgentSchedule, DoseAdministration, Subject
from ..services import dose_record
from ..services.dosing import (
    DoseException,
    dose_correct,
    dose_record_range,
    level_dose,
    visit_on,
)
from .editing import save_through_service
from .subjects import role_label

SAVED = "{agent} {dose} {unit} on {date:%Y-%m-%d} saved (cycle {cycle} day {day})."
MISSED = "{agent} on {date:%Y-%m-%d} saved as missed (cycle {cycle} day {day})."
ENTERED_IN_ERROR = "This dose is marked as entered in error; it can no longer be changed."
RANGE_SAVED = (
    "{agent}: {count} doses saved from {first:%Y-%m-%d} to {last:%Y-%m-%d}, "
    "{exceptions} of them missed or reduced."
)


def _planned_doses(subject: Subject) -> dict[UUID, Decimal]:
    """Agent id to the dose the subject's dose level plans, for the agents it plans."""
    planned = {}
    for agent in subject.study.agents.all():
        try:
            planned[agent.pk] = level_dose(subject, agent)
        except ValidationError:
            continue
    return planned


def _agent_rows(subject: Subject, planned: dict[UUID, Decimal]) -> list[dict]:
    """What the page shows per agent: planned dose, unit and dosing days."""
    schedules = {s.agent_id: s for s in AgentSchedule.objects.filter(agent__study=subject.study)}
    rows = []
    for agent in subject.study.agents.order_by("code"):
        schedule = schedules.get(agent.pk)
        dose = planned.get(agent.pk)
        rows.append(
            {
                "id": str(agent.pk),
                "code": agent.code,
                "name": agent.name,
                "unit": agent.unit,
                "planned": "" if dose is None else _number(dose),
                "days": describe_dosing_days(schedule) if schedule else "",
            }
        )
    return rows


def _number(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _prefill(subject: Subject, query: QueryDict) -> dict:
    """Initial values from ?agent=CODE&date=YYYY-MM-DD; anything unreadable is ignored."""
    initial: dict = {"given_on": timezone.localdate()}
    code = query.get("agent", "")
    agent = subject.study.agents.filter(code=code).first() if code else None
    if agent is not None:
        initial["agent"] = agent.pk
    with contextlib.suppress(ValueError):
        initial["given_on"] = dt.date.fromisoformat(query.get("date", ""))
    return initial


def _saved_message(dose: DoseAdministration) -> str:
    values = {
        "agent": dose.agent.code,
        "dose": _number(dose.given_dose),
        "unit": dose.unit,
        "date": dose.given_on,
        "cycle": dose.cycle,
        "day": dose.day,
    }
    return (MISSED if dose.missed else SAVED).format(**values)


def _render(request, form: DoseForm, subject: Subject, planned, *, title, draft_key, dose=None):
    agents = _agent_rows(subject, planned)
    chosen = str(form["agent"].value() or "")
    return render(
        request,
        "ecrf/dose_form.html",
        {
            "form": form,
            "subject": subject,
            "dose": dose,
            "title": title,
            "agents": agents,
            "chosen": next((agent for agent in agents if agent["id"] == chosen), None),
            "draft_key": draft_key,
            "can_write": access.can_write_site(request.user, subject.site),
            "role_label": role_label(request.user),
        },
    )


@login_required
def dose_create(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    """Record one administration of one agent; "Save and add another" keeps the date."""
    posting = request.method == "POST"
    subject = access.get_subject_for_user(request.user, subject_id, write=posting)
    planned = _planned_doses(subject)
    form = DoseForm(
        request.POST if posting else None,
        subject=subject,
        planned=planned,
        initial=_prefill(subject, request.GET),
    )
    draft_key = f"dose-new-{subject.pk}"
    if posting and form.is_valid():
        data = form.cleaned_data
        dose = save_through_service(
            form,
            lambda: dose_record(
                subject=subject,
                agent=data["agent"],
                given_on=data["given_on"],
                given_dose=data["given_dose"],
                reason=data["reason"],
                reason_category=data["reason_category"],
                adverse_event=data["adverse_event"],
                visit=visit_on(subject, data["given_on"]),
                audit_reason=form.audit_reason,
                confirm_above_plan=data["confirm_above_plan"],
                by=request.user,
            ),
        )
        if dose is not None:
            messages.success(request, _saved_message(dose), extra_tags=draft_key)
            if request.POST.get("then") == "another":
                url = reverse("dose_create", args=[subject.pk])
                return redirect(f"{url}?date={dose.given_on:%Y-%m-%d}")
            return redirect(reverse("subject_detail", args=[subject.pk]) + "?tab=doses#doses")
    return _render(
        request,
        form,
        subject,
        planned,
        title=f"Record a dose for {subject.subject_code}",
        draft_key=draft_key,
    )


@login_required
def dose_edit(request: HttpRequest, dose_id: UUID) -> HttpResponse:
    """Correct a recorded administration, with a reason; a newer save by someone else wins."""
    posting = request.method == "POST"
    dose = access.get_dose_for_user(request.user, dose_id, write=posting)
    subject = dose.subject
    casebook = reverse("subject_detail", args=[subject.pk]) + "?tab=doses#doses"
    if dose.entered_in_error:
        messages.info(request, ENTERED_IN_ERROR)
        return redirect(casebook)
    # The dose keeps the planned dose it was recorded with (an import may have stated its own);
    # another agent takes its dose level's.
    planned = {**_planned_doses(subject), dose.agent_id: dose.planned_dose}
    form = DoseForm(
        request.POST if posting else None,
        subject=subject,
        planned=planned,
        saved=(dose.agent_id, dose.given_on),
        saved_dose=(dose.agent_id, dose.given_dose),
        editing=True,
        version=dose.version,
        initial={
            "agent": dose.agent_id,
            "given_on": dose.given_on,
            "given_dose": dose.given_dose.normalize(),
            "adverse_event": dose.adverse_event_id,
            "reason": dose.reason,
            "reason_category": dose.reason_category,
        },
    )
    draft_key = f"dose-{dose.pk}"
    if posting and form.is_valid():
        data = form.cleaned_data

        def save() -> DoseAdministration:
            version = data["loaded_version"]
            return dose_correct(
                dose=dose,
                changes={
                    "agent": data["agent"],
                    "given_on": data["given_on"],
                    "planned_dose": planned[data["agent"].pk],
                    "given_dose": data["given_dose"],
                    "reason": data["reason"],
                    "reason_category": data["reason_category"],
                    "adverse_event": data["adverse_event"],
                },
                reason=form.audit_reason,
                by=request.user,
                expected_version=dose.version if version is None else version,
                confirm_above_plan=data["confirm_above_plan"],
            )

        saved = save_through_service(form, save, record=dose)
        if saved is not None:
            messages.success(request, _saved_message(saved), extra_tags=draft_key)
            return redirect(casebook)
    return _render(
        request,
        form,
        subject,
        planned,
        title=f"Correct a dose of {subject.subject_code}",
        draft_key=draft_key,
        dose=dose,
    )


@login_required
def dose_range_create(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    """Record one agent given as planned over a date range, with the missed or reduced days:
    one dose per day through the same service as a single entry, all or nothing."""
    posting = request.method == "POST"
    subject = access.get_subject_for_user(request.user, subject_id, write=posting)
    planned = _planned_doses(subject)
    form = DoseRangeForm(
        request.POST if posting else None,
        subject=subject,
        planned=planned,
        initial=_prefill(subject, request.GET),
    )
    exceptions = DoseExceptionFormSet(request.POST if posting else None, prefix="exception")
    if posting and form.is_valid() and exceptions.is_valid():
        data = form.cleaned_data
        rows = [
            DoseException(
                given_on=row["given_on"],
                given_dose=row["given_dose"],
                reason=row["reason"],
                reason_category=row["reason_category"],
            )
            for row in exceptions.cleaned_data
            if row
        ]
        saved = save_through_service(
            form,
            lambda: dose_record_range(
                subject=subject,
                agent=data["agent"],
                first_on=data["first_on"],
                last_on=data["last_on"],
                exceptions=rows,
                by=request.user,
            ),
        )
        if saved is not None:
            messages.success(
                request,
                RANGE_SAVED.format(
                    agent=data["agent"].code,
                    count=len(saved),
                    first=data["first_on"],
                    last=data["last_on"],
                    exceptions=len(rows),
                ),
            )
            return redirect(reverse("subject_detail", args=[subject.pk]) + "?tab=doses#doses")
    return render(
        request,
        "ecrf/dose_range_form.html",
        {
            "form": form,
            "exceptions": exceptions,
            "subject": subject,
            "agents": _agent_rows(subject, planned),
            "can_write": access.can_write_site(request.user, subject.site),
            "role_label": role_label(request.user),
        },
    )


urlpatterns = [
    path("subjects/<uuid:subject_id>/doses/new/", dose_create, name="dose_create"),
    path("subjects/<uuid:subject_id>/doses/range/", dose_range_create, name="dose_range_create"),
    path("doses/<uuid:dose_id>/edit/", dose_edit, name="dose_edit"),
]
