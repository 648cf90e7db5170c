"""The investigator's DLT dashboard and the signed decision on one event."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .. import access
from ..forms import DltDecisionForm
from ..models import DltAssessment, Role
from ..services.dlt import dlt_decide, dlt_overview
from .subjects import role_label


@login_required
def dlt_dashboard(request: HttpRequest) -> HttpResponse:
    visible = set(access.subjects_for_user(request.user).values_list("pk", flat=True))
    overviews = []
    for study in access.studies_for_user(request.user):
        overview = dlt_overview(study)
        # Only the subjects this user may see; the counts per dose level are the study's.
        overview.subjects = [row for row in overview.subjects if row.subject.pk in visible]
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
    can_decide = Role.INVESTIGATOR in access.user_roles(request.user) and access.can_write_site(
        request.user, assessment.adverse_event.subject.site
    )
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
