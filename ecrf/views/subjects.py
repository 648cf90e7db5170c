"""Home page (the user's subjects) and the subject casebook."""

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .. import access
from ..models import Role
from ..services.labs import lab_reconciliation_items


def role_label(user) -> str:
    role = access.primary_role(user)
    return Role(role).label if role else ""


@login_required
def home(request: HttpRequest) -> HttpResponse:
    subjects = (
        access.subjects_for_user(request.user)
        .filter(entered_in_error=False)
        .select_related("study", "site", "dose_level")
        .annotate(
            ae_count=Count("adverse_events", filter=Q(adverse_events__entered_in_error=False)),
            worst_grade=Max(
                "adverse_events__grade", filter=Q(adverse_events__entered_in_error=False)
            ),
        )
        .order_by("study__code", "subject_code")
    )
    return render(
        request,
        "ecrf/home.html",
        {
            "studies": access.studies_for_user(request.user),
            "subjects": subjects,
            "role_label": role_label(request.user),
        },
    )


@login_required
def subject_detail(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    subject = access.get_subject_for_user(request.user, subject_id)
    context = {
        "subject": subject,
        "visits": subject.visits.filter(entered_in_error=False),
        "adverse_events": subject.adverse_events.filter(entered_in_error=False)
        .select_related("dlt_assessment")
        .prefetch_related("agent_assessments__agent"),
        "doses": subject.doses.filter(entered_in_error=False).select_related("agent"),
        "labs": subject.lab_results.filter(entered_in_error=False).select_related("visit"),
        "reconciliation": lab_reconciliation_items(subject),
        "role_label": role_label(request.user),
    }
    return render(request, "ecrf/subject_detail.html", context)
