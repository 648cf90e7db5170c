"""The subject review page: every record of one kind with its source verification, lock
and open queries, and the buttons the user's role may press (DESIGN.md: views are thin).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from .. import access
from ..access import RECORD_KINDS, may_lock, may_raise_queries, may_sign, may_verify
from ..models import DoseAdministration, Subject
from ..selectors.queries import open_queries_per_record
from ..selectors.records import describe_record
from ..selectors.verification import active_locks, covering_lock, verification_states
from .display import ROWS_PER_PAGE, edit_url
from .subjects import role_label


@login_required
@require_GET
def subject_review(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    """The subject's records of one kind, each with its source verification, lock and queries."""
    subject = access.get_subject_for_user(request.user, subject_id)
    slug = request.GET.get("kind", "ae")
    kind = RECORD_KINDS.get(slug) or RECORD_KINDS["ae"]
    label = kind.model._meta.label
    if kind.model is Subject:
        records = Subject.objects.filter(pk=subject.pk)
    else:
        records = kind.model.objects.filter(subject=subject, entered_in_error=False)
        if kind.model is DoseAdministration:
            records = records.select_related("agent")
    page = Paginator(records.order_by(*kind.order_by), ROWS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    on_page = list(page)
    verifications = verification_states(label, on_page)
    locks = active_locks(subject)
    queries = open_queries_per_record(subject, label, [str(r.pk) for r in on_page])
    rows = [
        {
            "record": record,
            "kind": kind.slug,
            "description": describe_record(record),
            "edit_url": edit_url(record),
            "verification": verifications.get(str(record.pk)),
            "lock": covering_lock(record, locks),
            "own_lock": next(
                (lk for lk in locks if (lk.model, lk.object_id) == (label, str(record.pk))), None
            ),
            "open_queries": queries.get(str(record.pk), 0),
        }
        for record in on_page
    ]
    return render(
        request,
        "ecrf/oversight/review.html",
        {
            "subject": subject,
            "kind": kind,
            "kinds": RECORD_KINDS.values(),
            "page": page,
            "rows": rows,
            "may_raise": may_raise_queries(request.user),
            "may_verify": may_verify(request.user),
            "may_lock": may_lock(request.user),
            "may_sign": may_sign(request.user, subject),
            # Who changed a verified record is the audit trail's (not sponsor viewers').
            "may_read_audit": access.can(request.user, access.Action.READ_AUDIT, site=subject.site),
            "can_write": access.can_write_site(request.user, subject.site),
            "role_label": role_label(request.user),
        },
    )


urlpatterns = [
    path("subjects/<uuid:subject_id>/review/", subject_review, name="subject_review"),
]
