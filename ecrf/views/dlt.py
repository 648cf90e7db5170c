"""The investigator's DLT dashboard and the signed decision on one event."""

import io
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from .. import access
from ..forms import DltDecisionForm
from ..models import DltAssessment, DltStatus, Role
from ..reports.cutoff import parse_cutoff
from ..reports.safety import render_safety_report
from ..services.dlt import dlt_decide, dlt_overview
from .subjects import role_label

DASHBOARD_SUBJECT_ROWS = 50


def _page_url(request: HttpRequest, key: str, page, step: int) -> str:
    """The address of the page before (step -1) or after (+1), keeping the other parameters."""
    if not (page.has_previous() if step < 0 else page.has_next()):
        return ""
    query = request.GET.copy()
    query[key] = page.number + step
    return f"?{query.urlencode()}"


@login_required
@require_GET
def dlt_dashboard(request: HttpRequest) -> HttpResponse:
    visible = set(access.subjects_for_user(request.user).values_list("pk", flat=True))
    overviews = []
    for study in access.studies_for_user(request.user):
        overview = dlt_overview(study)
        # Only the subjects this user may see; the counts per dose level are the study's.
        overview.subjects = [row for row in overview.subjects if row.subject.pk in visible]
        # The subjects table comes a page at a time, each study paged on its own, and each row
        # names only the events that are or were DLT candidates, found here rather than by
        # looping over every event of every subject in the template.
        key = f"page-{study.code}"
        overview.page = Paginator(overview.subjects, DASHBOARD_SUBJECT_ROWS).get_page(
            request.GET.get(key)
        )
        for row in overview.page:
            row.dlt_events = [item for item in row.events if item.status != DltStatus.NOT_DLT]
        overview.previous_url = _page_url(request, key, overview.page, -1)
        overview.next_url = _page_url(request, key, overview.page, +1)
        overviews.append(overview)
    return render(
        request,
        "ecrf/dlt_dashboard.html",
        {"overviews": overviews, "role_label": role_label(request.user)},
    )


def get_assessment_for_user(user, assessment_id: UUID) -> DltAssessment:
    """The DLT assessment of an event whose subject the user may see, else 404."""
    assessment = (
        DltAssessment.objects.select_related(
            "adverse_event__subject__site", "adverse_event__subject__study", "signature"
        )
        .filter(pk=assessment_id, adverse_event__subject__in=access.subjects_for_user(user))
        .first()
    )
    if assessment is None:
        raise Http404("No such DLT assessment.")
    return assessment


@login_required
def dlt_decide_view(request: HttpRequest, assessment_id: UUID) -> HttpResponse:
    assessment = get_assessment_for_user(request.user, assessment_id)
    can_decide = access.is_site_investigator(request.user, assessment.adverse_event.subject.site)
    form = DltDecisionForm(request.POST or None)
    if request.method == "POST":
        if not can_decide:
            raise PermissionDenied("Only an investigator of the subject's site can decide.")
        if form.is_valid():
            try:
                dlt_decide(assessment=assessment, by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, errors in exc.message_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    form.add_error(None, exc.messages)
            else:
                messages.success(request, "Decision signed and recorded.")
                return redirect("dlt_dashboard")
    event = assessment.adverse_event
    return render(
        request,
        "ecrf/dlt_decide.html",
        {
            "assessment": assessment,
            "event": event,
            "assessments": event.agent_assessments.select_related("agent"),
            "form": form,
            "can_decide": can_decide,
            "role_label": role_label(request.user),
        },
    )


# Roles that may download the safety summary: it is the study-wide document of the safety review
# (every site's subjects), so research nurses and monitors do not get it.
SAFETY_REPORT_ROLES = frozenset(
    {Role.INVESTIGATOR, Role.SPONSOR_VIEWER, Role.DATA_MANAGER, Role.ADMINISTRATOR}
)
SAFETY_REPORT_FORBIDDEN = "Your role does not give access to the safety summary."


@login_required
@require_GET
def safety_report_download(request: HttpRequest, study_id: UUID) -> HttpResponse:
    """The safety summary PDF of a study the user is assigned to, at ?cutoff= (default today)."""
    study = access.studies_for_user(request.user).filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study.")
    if not access.user_roles(request.user) & SAFETY_REPORT_ROLES:
        raise PermissionDenied(SAFETY_REPORT_FORBIDDEN)
    try:
        cutoff = parse_cutoff(request.GET.get("cutoff"))
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0])
    user = request.user
    generated_by = f"{user.get_full_name() or user.get_username()} ({role_label(user)})"
    buffer = io.BytesIO()
    render_safety_report(study, cutoff=cutoff, generated_by=generated_by, out=buffer)
    response = HttpResponse(buffer.getvalue(), content_type="application/pdf")
    filename = f"safety-summary-{study.code}-{cutoff.isoformat()}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
