"""Home page, subject list, screening and enrolment, the casebook and its visits."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from functools import cached_property
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import access
from ..forms.labs import PANELS
from ..forms.subjects import (
    CycleDelayForm,
    EnrolmentForm,
    ScreeningForm,
    SubjectSearchForm,
    TreatmentEndForm,
    UnscheduledVisitForm,
    VisitForm,
)
from ..models import (
    AdverseEvent,
    AdverseEventAgent,
    Attribution,
    AuditEvent,
    DltStatus,
    DoseAdministration,
    DoseLevel,
    LabResult,
    Outcome,
    Role,
    Site,
    Study,
    Subject,
    SubjectStatus,
    Visit,
    VisitKind,
    VisitStatus,
)
from ..safety.grade_history import format_grade_history
from ..selectors.audit import readable_audit
from ..selectors.enrolment import enrolment_dose_levels
from ..selectors.grade_history import grade_histories
from ..selectors.home import home_lists
from ..selectors.reconciliation import (
    subject_reconciliation_items,
    subject_ungraded_items,
)
from ..services import subject_enrol, subject_screen
from ..services.subjects import cycle_delay, subject_end_treatment, visit_unscheduled
from ..services.visits import visit_record
from .audit import NOT_AN_AUDIT_READER
from .editing import save_through_service

SUBJECT_LIST_ROWS = 50
# The casebook's long lists come a page at a time, newest first.
CASEBOOK_PAGE_ROWS = 50
CASEBOOK_TABS = {
    "visits": "Visits",
    "aes": "Adverse events",
    "doses": "Dosing",
    "labs": "Labs",
    "audit": "Audit trail",
}
# The reconciliation alert names the latest results; the count covers them all.
RECONCILIATION_ROWS = 20
# Tabs rendered together on the casebook's first page; the others are pages of their own.
IN_PAGE_TABS = ("visits", "aes")
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


# The home page's lists of visits and open items show this many rows; the subjects' casebooks
# have the rest.
HOME_LIST_ROWS = 50


def _visible_subjects(user):
    return access.subjects_for_user(user).filter(entered_in_error=False)


def visible_subject_codes(request: HttpRequest) -> dict:
    """Subject id: subject code of every subject the user sees, read once per request (the
    investigator's home reads them too)."""
    if "_visible_codes" not in request.__dict__:
        rows = _visible_subjects(request.user).values_list("pk", "subject_code")
        request.__dict__["_visible_codes"] = dict(rows)
    return request.__dict__["_visible_codes"]


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The user's studies, visits due or overdue by window, and open items."""
    codes = visible_subject_codes(request)
    lists = home_lists(codes)
    # A TemplateResponse, so that the investigator's home (views.investigator) adds its lists.
    return TemplateResponse(
        request,
        "ecrf/home.html",
        {
            "studies": access.studies_for_user(request.user),
            **{name: lists[name][:HOME_LIST_ROWS] for name in ("due", "overdue", "open_items")},
            **{f"{name}_total": len(lists[name]) for name in ("due", "overdue", "open_items")},
            "query_overview": lists["query_overview"],
            "subject_count": len(codes),
            "role_label": role_label(request.user),
        },
    )


@login_required
@require_GET
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
    subjects = subjects.select_related("study", "site", "dose_level").order_by(
        "study__code", "subject_code"
    )
    page = Paginator(subjects, SUBJECT_LIST_ROWS).get_page(request.GET.get("page"))
    # The adverse event columns of this page's subjects only: counted over every visible
    # subject, they made the page (and its row count) grow with the whole trial's events.
    events = {
        row["subject_id"]: row
        for row in AdverseEvent.objects.filter(
            subject__in=[subject.pk for subject in page], entered_in_error=False
        )
        .order_by()
        .values("subject_id")
        .annotate(n=Count("pk"), worst=Max("grade"))
    }
    for subject in page:
        row = events.get(subject.pk, {})
        subject.ae_count, subject.worst_grade = row.get("n", 0), row.get("worst")
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


def _can_register(user, study: Study) -> bool:
    """The user may enter data at one of the study's sites they are assigned to."""
    return access.can(user, access.Action.ENTER_DATA) and any(
        access.can_write_site(user, site) for site in access.sites_for_user(user, study)
    )


@login_required
def subject_register(request: HttpRequest, study_id: UUID) -> HttpResponse:
    """Screening: a consented subject gets the next subject ID of the study's pattern."""
    study = access.get_study_for_user(request.user, study_id)
    if not _can_register(request.user, study):
        raise PermissionDenied(access.NO_WRITE_ROLE)
    sites = access.sites_for_user(request.user, study)
    form = ScreeningForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        subject = save_through_service(
            form,
            lambda: subject_screen(
                study=study,
                site=data["site"],
                consent_on=data["consent_on"],
                sex=data["sex"],
                birth_year=data["birth_year"],
                by=request.user,
            ),
        )
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
    dose_levels = enrolment_dose_levels(subject.study)
    form = EnrolmentForm(request.POST or None, dose_levels=dose_levels)
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
        dose_levels=dose_levels,
    )


def _form_state(visit: Visit) -> str:
    """The state of a visit's forms as the casebook shows it."""
    if visit.status == VisitStatus.MISSED:
        return "missed"
    if visit.status == VisitStatus.DONE:
        return "complete" if visit.lab_count else "in progress"
    return "in progress" if visit.lab_count else "not started"


class _CountedPaginator(Paginator):
    """A paginator told its row count, which the casebook has already read with the others."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


def _casebook_totals(subject) -> dict[str, int]:
    """The number of current visits, adverse events, doses and lab results, in one query."""

    def total(queryset):
        rows = (
            queryset.filter(subject=OuterRef("pk"), entered_in_error=False)
            .order_by()
            .values("subject")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(rows), 0)

    # Positional values: the ORM refuses an annotation named like a relation ("visits").
    row = (
        Subject.objects.filter(pk=subject.pk)
        .values_list(
            total(Visit.objects.all()),
            total(AdverseEvent.objects.all()),
            total(DoseAdministration.objects.all()),
            total(LabResult.objects.all()),
        )
        .get()
    )
    return dict(zip(("visits", "aes", "doses", "labs"), row, strict=True))


def may_read_audit(user, subject: Subject) -> bool:
    """Whether the user reads the subject's record-level audit trail (old and new values, users):
    access.CAPABILITIES[Action.READ_AUDIT], which sponsor viewers do not hold."""
    return access.can(user, access.Action.READ_AUDIT, site=subject.site)


def _casebook_tab(request: HttpRequest, *, audit: bool) -> str:
    """The tab asked for; the audit trail asked for by a user who may not read it is refused."""
    tab = request.GET.get("tab", "")
    if tab == "audit" and not audit:
        raise PermissionDenied(NOT_AN_AUDIT_READER)
    return tab if tab in CASEBOOK_TABS else "visits"


def _url_for_each(name: str, *more_args, leading=()):
    """A function giving the URL of `name` for a record's UUID, for a page of rows: one
    reverse() instead of one per row, which is where most of a long table's time went.
    `leading` are the URL's arguments before the UUID, `more_args` those after it."""
    placeholder = str(UUID(int=0))
    url = reverse(name, args=[*leading, placeholder, *more_args])
    head, _, tail = url.partition(placeholder)
    return lambda pk: f"{head}{pk}{tail}"


def _in_error_url_for_each(kind: str):
    """Where the site marks a record of `kind` entered in error, for each row of a page."""
    return _url_for_each("record_entered_in_error", leading=(kind,))


def _day(value) -> str:
    return value.isoformat() if value else ""


def _number(value) -> str:
    """A decimal as the templates print it (`{{ value.normalize }}`), never in E notation."""
    return "" if value is None else f"{value.normalize():f}"


def _casebook_adverse_events(subject, page_number, total: int):
    """One page of adverse events, latest onset first, as rows ready to print."""
    events = (
        subject.adverse_events.filter(entered_in_error=False)
        .order_by("-onset_on", "ctcae_term", "pk")
        .values_list(
            "pk", "ctcae_term", "verbatim", "grade", "onset_on", "resolved_on", "serious",
            "outcome", "dlt_assessment__pk", "dlt_assessment__status",
        )
    )  # fmt: skip
    page = _CountedPaginator(events, CASEBOOK_PAGE_ROWS, count=total).get_page(page_number)
    attributions: dict = defaultdict(list)
    attribution_labels = dict(Attribution.choices)
    for event_id, code, attribution in (
        AdverseEventAgent.objects.filter(
            adverse_event__in=[row[0] for row in page], entered_in_error=False
        )
        .order_by("agent__code")
        .values_list("adverse_event_id", "agent__code", "attribution")
    ):
        attributions[event_id].append(f"{code}: {attribution_labels.get(attribution, attribution)}")
    histories = grade_histories([row[0] for row in page])
    outcomes, statuses = dict(Outcome.choices), dict(DltStatus.choices)
    edit_url, decide_url = _url_for_each("ae_edit"), _url_for_each("dlt_decide")
    in_error_url = _in_error_url_for_each("ae")
    rows = [
        {
            "edit_url": edit_url(pk),
            "in_error_url": in_error_url(pk),
            "term": term,
            "verbatim": verbatim,
            "grade": grade,
            "onset_on": _day(onset_on),
            "resolved_on": _day(resolved_on) or "ongoing",
            "serious": "Yes" if serious else "No",
            "attribution": "; ".join(attributions[pk]),
            "grade_history": format_grade_history(histories.get(pk, [])),
            "outcome": outcomes.get(outcome, outcome),
            "dlt_status": dlt_status,
            "dlt_label": statuses.get(dlt_status, dlt_status),
            "dlt_url": decide_url(dlt_pk) if dlt_pk else "",
        }
        for (pk, term, verbatim, grade, onset_on, resolved_on, serious, outcome, dlt_pk,
             dlt_status) in page
    ]  # fmt: skip
    return page, rows


def _casebook_doses(subject, page_number, total: int):
    doses = (
        subject.doses.filter(entered_in_error=False)
        .order_by("-given_on", "agent__code", "pk")
        .values_list(
            "pk", "given_on", "cycle", "day", "agent__code", "planned_dose", "given_dose",
            "unit", "reason",
        )
    )  # fmt: skip
    page = _CountedPaginator(doses, CASEBOOK_PAGE_ROWS, count=total).get_page(page_number)
    edit_url, in_error_url = _url_for_each("dose_edit"), _in_error_url_for_each("dose")
    rows = [
        (edit_url(pk), _day(given_on), f"C{cycle} D{day}", agent, _number(planned),
         _number(given), unit, reason, in_error_url(pk))
        for pk, given_on, cycle, day, agent, planned, given, unit, reason in page
    ]  # fmt: skip
    return page, rows


def _casebook_labs(subject, page_number, total: int):
    labs = (
        subject.lab_results.filter(entered_in_error=False)
        .order_by("-collected_at", "test_code", "pk")
        .values_list(
            "pk", "collected_at", "visit__label", "test_code", "value", "unit", "lln", "uln",
            "ctcae_term", "ctcae_grade",
        )
    )  # fmt: skip
    page = _CountedPaginator(labs, CASEBOOK_PAGE_ROWS, count=total).get_page(page_number)
    in_error_url = _in_error_url_for_each("lab")
    rows = [
        (timezone.localtime(collected_at).strftime("%Y-%m-%d %H:%M"), visit or "", test,
         _number(value), unit, f"{_number(lln)}–{_number(uln)}", grade,
         f"{term} G{grade}" if grade else "", in_error_url(pk))
        for pk, collected_at, visit, test, value, unit, lln, uln, term, grade in page
    ]  # fmt: skip
    return page, rows


def _lab_grid_url(result) -> str:
    """The lab grid that corrects a result: its visit's panel of its test ("" without a visit)."""
    panel = next((code for code, (_, tests) in PANELS.items() if result.test_code in tests), None)
    if result.visit_id is None or panel is None:
        return ""
    return reverse("lab_grid", args=[result.visit_id, panel])


def _casebook_audit(subject, page_number):
    audit = AuditEvent.objects.filter(subject_id=subject.pk).order_by("-at", "-id")
    page = Paginator(audit, CASEBOOK_PAGE_ROWS).get_page(page_number)
    rows = [
        (line.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"), line.actor, line.role,
         line.record, line.field, line.old, line.new, line.reason)
        for line in readable_audit(page.object_list, subject)
    ]  # fmt: skip
    return page, rows


@login_required
@require_GET
def subject_detail(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    """The casebook: a fixed number of queries whatever the number of records.

    The visits and adverse events come with every casebook page and switch in the browser;
    dosing, labs and the audit trail are long, so each is a page of its own (`?tab=labs`).
    Long lists come a page at a time (`?tab=aes&page=2`), their rows formatted here: filters
    and URL tags on every row of a long table cost more than the queries.
    """
    subject = access.get_subject_for_user(request.user, subject_id)
    audit = may_read_audit(request.user, subject)
    tab = _casebook_tab(request, audit=audit)
    page_number = request.GET.get("page")
    totals = _casebook_totals(subject)
    reconciliation = sorted(
        subject_reconciliation_items(subject), key=lambda lab: lab.collected_at, reverse=True
    )
    ungraded = sorted(
        subject_ungraded_items(subject), key=lambda item: item.result.collected_at, reverse=True
    )
    context = {
        "subject": subject,
        "tab": tab,
        "tab_links": [
            (key, label, totals.get(key), tab in IN_PAGE_TABS and key in IN_PAGE_TABS)
            for key, label in CASEBOOK_TABS.items()
            if audit or key != "audit"
        ],
        "reconciliation": reconciliation[:RECONCILIATION_ROWS],
        "reconciliation_total": len(reconciliation),
        "ungraded": [(item, _lab_grid_url(item.result)) for item in ungraded[:RECONCILIATION_ROWS]],
        "ungraded_total": len(ungraded),
        "can_write": access.can_write_site(request.user, subject.site),
        "role_label": role_label(request.user),
    }
    if tab in IN_PAGE_TABS:
        visits = list(
            subject.visits.filter(entered_in_error=False)
            .annotate(lab_count=Count("lab_results", filter=Q(lab_results__entered_in_error=False)))
            .order_by("planned_on", "label")
        )
        edit_url, in_error_url = _url_for_each("visit_edit"), _in_error_url_for_each("visit")
        panel_urls = [(_url_for_each("lab_grid", panel), label) for panel, label in LAB_PANEL_LINKS]
        for visit in visits:
            visit.form_state = _form_state(visit)
            visit.edit_url = edit_url(visit.pk)
            visit.in_error_url = (
                in_error_url(visit.pk) if visit.kind == VisitKind.UNSCHEDULED else ""
            )
            visit.planned = _day(visit.planned_on)
            visit.done = _day(visit.done_on)
            visit.panel_links = [(url(visit.pk), label) for url, label in panel_urls]
        context["visits"] = visits
        context["ae_page"], context["ae_rows"] = _casebook_adverse_events(
            subject, page_number if tab == "aes" else 1, totals["aes"]
        )
    elif tab == "doses":
        context["page"], context["rows"] = _casebook_doses(subject, page_number, totals["doses"])
    elif tab == "labs":
        context["page"], context["rows"] = _casebook_labs(subject, page_number, totals["labs"])
    else:
        context["page"], context["rows"] = _casebook_audit(subject, page_number)
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
        saved = save_through_service(
            form,
            lambda: visit_record(
                visit=visit,
                status=data["status"],
                done_on=data["done_on"],
                missed_reason=data["missed_reason"],
                reason=form.audit_reason,
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


@login_required
def treatment_end_view(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    subject = access.get_subject_for_user(request.user, subject_id, write=request.method == "POST")
    form = TreatmentEndForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = save_through_service(
            form,
            lambda: subject_end_treatment(
                subject=subject, ended_on=data["ended_on"], reason=data["reason"],
                detail=data["detail"], by=request.user,
            ),
        )  # fmt: skip
        if saved is not None:
            messages.success(
                request,
                f"End of treatment recorded: {saved.treatment_end_on:%Y-%m-%d}, "
                f"{saved.get_treatment_end_reason_display().lower()}.",
                extra_tags=f"treatment-end-{subject.pk}",
            )
            return redirect(reverse("subject_detail", args=[subject.pk]))
    return _render_form(
        request,
        form,
        title=f"End of treatment of {subject.subject_code}",
        draft_key=f"treatment-end-{subject.pk}",
        subject=subject,
    )
