"""Home page, subject list, screening and enrolment, the casebook and its visits."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from .. import access
from ..forms.subjects import (
    CycleDelayForm,
    EnrolmentForm,
    ScreeningForm,
    SubjectSearchForm,
    UnscheduledVisitForm,
    VisitForm,
)
from ..models import (
    AuditEvent,
    DoseLevel,
    Role,
    Site,
    Study,
    StudyAssignment,
    SubjectStatus,
    Visit,
    VisitStatus,
)
from ..services import record_update, subject_enrol, subject_screen
from ..services.labs import lab_reconciliation_items, reconciliation_counts
from ..services.subjects import cycle_delay, next_subject_code, visit_unscheduled
from .editing import save_through_service

CASEBOOK_AUDIT_ROWS = 200
# The casebook lists the latest rows; each visit's lab grid and the admin hold the rest.
CASEBOOK_LAB_ROWS = 250
CASEBOOK_DOSE_ROWS = 250
LAB_PANEL_LINKS = (("haematology", "Haematology"), ("chemistry", "Chemistry"), ("immune", "Immune"))


def role_label(user) -> str:
    role = access.primary_role(user)
    return Role(role).label if role else ""


def _render_form(request: HttpRequest, form, *, title: str, draft_key: str, **context):
    """The one page layout of the screening, enrolment and visit forms."""
    return render(
        request,
        "ecrf/subject_form.html",
        {"form": form, "title": title, "draft_key": draft_key,
         "role_label": role_label(request.user), **context},
    )  # fmt: skip


def _visible_subjects(user):
    return access.subjects_for_user(user).filter(entered_in_error=False)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's studies, visits due or overdue by window, and open items."""
    today = timezone.localdate()
    subjects = _visible_subjects(request.user)
    planned = (
        Visit.objects.filter(
            subject__in=subjects,
            status=VisitStatus.PLANNED,
            entered_in_error=False,
            planned_on__isnull=False,
        )
        .select_related("subject")
        .order_by("planned_on")
    )
    due, overdue = [], []
    for visit in planned:
        opens = visit.planned_on - dt.timedelta(days=visit.window_before)
        closes = visit.planned_on + dt.timedelta(days=visit.window_after)
        if closes < today:
            overdue.append(visit)
        elif opens <= today:
            due.append(visit)
    counts = reconciliation_counts(subjects)
    codes = dict(subjects.values_list("pk", "subject_code"))
    open_items = sorted((codes[pk], pk, n) for pk, n in counts.items() if n)
    return render(
        request,
        "ecrf/home.html",
        {
            "studies": access.studies_for_user(request.user),
            "due": due,
            "overdue": overdue,
            "open_items": open_items,
            "subject_count": subjects.count(),
            "role_label": role_label(request.user),
        },
    )


@login_required
def subject_list(request: HttpRequest) -> HttpResponse:
    subjects = _visible_subjects(request.user)
    studies = access.studies_for_user(request.user)
    form = SubjectSearchForm(
        request.GET or None,
        sites=Site.objects.filter(pk__in=subjects.values("site_id")).order_by("code"),
        dose_levels=DoseLevel.objects.filter(study__in=studies).order_by("study__code", "level"),
    )
    if form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            subjects = subjects.filter(subject_code__icontains=data["q"].strip())
        if data["site"]:
            subjects = subjects.filter(site=data["site"])
        if data["dose_level"]:
            subjects = subjects.filter(dose_level=data["dose_level"])
        if data["status"]:
            subjects = subjects.filter(status=data["status"])
    subjects = (
        subjects.select_related("study", "site", "dose_level")
        .annotate(
            ae_count=Count("adverse_events", filter=Q(adverse_events__entered_in_error=False)),
            worst_grade=Max(
                "adverse_events__grade", filter=Q(adverse_events__entered_in_error=False)
            ),
        )
        .order_by("study__code", "subject_code")
    )
    page = Paginator(subjects, 50).get_page(request.GET.get("page"))
    writable = [s for s in studies if _can_register(request.user, s)]
    return render(
        request,
        "ecrf/subject_list.html",
        {
            "form": form,
            "page": page,
            "register_studies": writable,
            "role_label": role_label(request.user),
        },
    )


def _registration_sites(user, study: Study):
    sites = study.sites.all()
    if user.is_superuser:
        return sites
    assigned = StudyAssignment.objects.filter(user=user, study=study)
    if assigned.filter(site__isnull=True).exists():
        return sites
    return sites.filter(pk__in=assigned.values("site_id"))


def _can_register(user, study: Study) -> bool:
    return bool(access.user_roles(user) & access.WRITE_ROLES) and any(
        access.can_write_site(user, site) for site in _registration_sites(user, study)
    )


@login_required
def subject_register(request: HttpRequest, study_id: UUID) -> HttpResponse:
    """Screening: a consented subject gets the next subject ID of the study's pattern."""
    study = access.studies_for_user(request.user).filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study.")
    if not _can_register(request.user, study):
        raise PermissionDenied(access.NO_WRITE_ROLE)
    sites = _registration_sites(request.user, study)
    form = ScreeningForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def save():
            with transaction.atomic():
                return subject_screen(
                    study=study,
                    site=data["site"],
                    subject_code=next_subject_code(study, data["site"]),
                    consent_on=data["consent_on"],
                    sex=data["sex"],
                    birth_year=data["birth_year"],
                    by=request.user,
                )

        subject = save_through_service(form, save)
        if subject is not None:
            messages.success(
                request, f"Subject {subject.subject_code} registered in screening.",
                extra_tags=f"screen-{study.pk}",
            )  # fmt: skip
            return redirect("subject_detail", subject.pk)
    return _render_form(
        request,
        form,
        title=f"Register a subject in {study.code}",
        draft_key=f"screen-{study.pk}",
        study=study,
    )


@login_required
def subject_enrol_view(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    subject = access.get_subject_for_user(request.user, subject_id, write=request.method == "POST")
    if subject.status != SubjectStatus.SCREENING:
        messages.info(request, f"{subject.subject_code} is already {subject.get_status_display()}.")
        return redirect("subject_detail", subject.pk)
    form = EnrolmentForm(request.POST or None, study=subject.study)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = save_through_service(
            form,
            lambda: subject_enrol(
                subject=subject,
                dose_level=data["dose_level"],
                enrolled_on=data["enrolled_on"],
                first_dose_on=data["first_dose_on"],
                eligibility_confirmed_on=data["eligibility_confirmed_on"],
                by=request.user,
            ),
        )
        if saved is not None:
            messages.success(
                request, f"{subject.subject_code} enrolled at {saved.dose_level}.",
                extra_tags=f"enrol-{subject.pk}",
            )  # fmt: skip
            return redirect("subject_detail", subject.pk)
    return _render_form(
        request,
        form,
        title=f"Enrol {subject.subject_code}",
        draft_key=f"enrol-{subject.pk}",
        subject=subject,
    )


def _form_state(visit: Visit) -> str:
    """The state of a visit's forms as the casebook shows it."""
    if visit.status == VisitStatus.MISSED:
        return "missed"
    if visit.status == VisitStatus.DONE:
        return "complete" if visit.lab_count else "in progress"
    return "in progress" if visit.lab_count else "not started"


@login_required
def subject_detail(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    """The casebook: a fixed number of queries whatever the number of records."""
    subject = access.get_subject_for_user(request.user, subject_id)
    visits = list(
        subject.visits.filter(entered_in_error=False)
        .annotate(lab_count=Count("lab_results", filter=Q(lab_results__entered_in_error=False)))
        .order_by("planned_on", "label")
    )
    for visit in visits:
        visit.form_state = _form_state(visit)
    can_write = access.can_write_site(request.user, subject.site)
    doses = subject.doses.filter(entered_in_error=False)
    labs = subject.lab_results.filter(entered_in_error=False)
    context = {
        "subject": subject,
        "visits": visits,
        "adverse_events": subject.adverse_events.filter(entered_in_error=False)
        .select_related("dlt_assessment")
        .prefetch_related("agent_assessments__agent"),
        "doses": doses.select_related("agent").order_by("-given_on", "agent__code")[
            :CASEBOOK_DOSE_ROWS
        ],
        "dose_total": doses.count(),
        "labs": labs.select_related("visit").order_by("-collected_at", "test_code")[
            :CASEBOOK_LAB_ROWS
        ],
        "lab_total": labs.count(),
        "reconciliation": lab_reconciliation_items(subject),
        "audit": AuditEvent.objects.filter(subject_id=subject.pk).order_by("-at", "-id")[
            :CASEBOOK_AUDIT_ROWS
        ],
        "audit_rows": CASEBOOK_AUDIT_ROWS,
        "lab_panels": LAB_PANEL_LINKS,
        "can_write": can_write,
        "role_label": role_label(request.user),
    }
    return render(request, "ecrf/subject_detail.html", context)


@login_required
def visit_edit(request: HttpRequest, visit_id: UUID) -> HttpResponse:
    """Record that a visit took place (warned when outside its window) or was missed."""
    visit = access.get_visit_for_user(request.user, visit_id, write=request.method == "POST")
    editing = visit.status != VisitStatus.PLANNED
    form = VisitForm(
        request.POST or None,
        visit=visit,
        editing=editing,
        version=visit.version,
        initial={
            "status": visit.status if editing else VisitStatus.DONE,
            "done_on": visit.done_on or visit.planned_on,
            "missed_reason": visit.missed_reason,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = data["status"] == VisitStatus.DONE
        saved = save_through_service(
            form,
            lambda: record_update(
                record=visit,
                changes={
                    "status": data["status"],
                    "done_on": data["done_on"] if done else None,
                    "missed_reason": "" if done else data["missed_reason"].strip(),
                },
                reason=form.audit_reason or f"Visit {data['status']}",
                by=request.user,
                expected_version=data["loaded_version"] if editing else visit.version,
            ),
            record=visit,
        )
        if saved is not None:
            messages.success(request, f"{visit.label} saved.", extra_tags=f"visit-{visit.pk}")
            return redirect(reverse("subject_detail", args=[visit.subject_id]) + "#visits")
    return _render_form(
        request,
        form,
        title=f"{visit.subject.subject_code} {visit.label}",
        draft_key=f"visit-{visit.pk}",
        subject=visit.subject,
        visit=visit,
    )


@login_required
def visit_unscheduled_view(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    subject = access.get_subject_for_user(request.user, subject_id, write=request.method == "POST")
    form = UnscheduledVisitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = save_through_service(
            form,
            lambda: visit_unscheduled(
                subject=subject, label=data["label"], done_on=data["done_on"], by=request.user
            ),
        )
        if saved is not None:
            messages.success(request, f"{saved.label} added.", extra_tags=f"unsched-{subject.pk}")
            return redirect(reverse("subject_detail", args=[subject.pk]) + "#visits")
    return _render_form(
        request,
        form,
        title=f"Unscheduled visit of {subject.subject_code}",
        draft_key=f"unsched-{subject.pk}",
        subject=subject,
    )


@login_required
def cycle_delay_view(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    subject = access.get_subject_for_user(request.user, subject_id, write=request.method == "POST")
    form = CycleDelayForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        moved = save_through_service(
            form,
            lambda: cycle_delay(
                subject=subject, cycle=data["cycle"], days=data["days"], reason=data["reason"],
                by=request.user,
            ),
        )  # fmt: skip
        if moved is not None:
            messages.success(
                request, f"Cycle {data['cycle']} delayed by {data['days']} days: "
                f"{len(moved)} visits moved.", extra_tags=f"delay-{subject.pk}",
            )  # fmt: skip
            return redirect(reverse("subject_detail", args=[subject.pk]) + "#visits")
    return _render_form(
        request,
        form,
        title=f"Delay a cycle of {subject.subject_code}",
        draft_key=f"delay-{subject.pk}",
        subject=subject,
    )
