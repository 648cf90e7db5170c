"""Data query pages: raise a query on a record, read its thread, answer, close and re-open
it, and the list of queries. Every step is a service of `ecrf.services.queries`, which checks
the user's role and site again on every POST.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from .. import access
from ..access import (
    get_query_for_user,
    get_record_for_user,
    may_answer,
    may_close,
    may_raise_queries,
)
from ..forms.errors import add_service_errors
from ..forms.oversight import QueryCloseForm, QueryRaiseForm, QueryStepForm
from ..models import DataQuery, QueryOrigin, QueryState
from ..selectors.queries import query_rows
from ..selectors.records import describe_record, field_label, queryable_fields, records_by_key
from ..services.queries import query_answer, query_close, query_raise, query_reopen
from .display import ROWS_PER_PAGE, edit_url, subject_of
from .subjects import role_label

QUERY_RAISED = "Query raised on {record}."
QUERY_ANSWERED = "Answer sent."
QUERY_CLOSED = "Query closed."
QUERY_REOPENED = "Query re-opened."
ONLY_REVIEWERS = "Only monitors and data managers raise queries."
NOT_YOURS_TO_CHANGE = "Only the site answers a query, and only the person who raised it closes it."


@login_required
def query_raise_view(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    record = get_record_for_user(request.user, kind, record_id)
    subject = subject_of(record)
    if not may_raise_queries(request.user):
        raise PermissionDenied(ONLY_REVIEWERS)
    form = QueryRaiseForm(
        request.POST or None,
        fields=queryable_fields(type(record)),
        initial={"field": request.GET.get("field", "")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            query = query_raise(
                record=record,
                field=form.cleaned_data["field"],
                message=form.cleaned_data["message"],
                by=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, QUERY_RAISED.format(record=describe_record(record)))
            return redirect("query_detail", query.pk)
    return render(
        request,
        "ecrf/oversight/query_raise.html",
        {
            "form": form,
            "subject": subject,
            "record": record,
            "description": describe_record(record),
            "kind": kind,
            "role_label": role_label(request.user),
        },
    )


def _query_page(request: HttpRequest, query: DataQuery, **forms) -> HttpResponse:
    record = records_by_key([(query.model, query.object_id)]).get((query.model, query.object_id))
    user = request.user
    open_or_answered = query.state != QueryState.CLOSED
    initial = {"loaded_version": query.version}
    context = {
        "query": query,
        "subject": query.subject,
        "record": record,
        "description": describe_record(record) if record else query.model,
        "field_label": field_label(query.model, query.field),
        "edit_url": edit_url(record) if record and not record.entered_in_error else "",
        "thread": query.messages.select_related("user").order_by("at", "id"),
        "can_answer": query.state == QueryState.OPEN and may_answer(user, query),
        "can_close": open_or_answered and may_close(user, query),
        "can_reopen": query.state != QueryState.OPEN
        and may_close(user, query)
        and (query.origin == QueryOrigin.MANUAL or query.state != QueryState.CLOSED),
        "answer_form": forms.get("answer_form") or QueryStepForm(initial=initial),
        "close_form": forms.get("close_form") or QueryCloseForm(initial=initial),
        "reopen_form": forms.get("reopen_form") or QueryStepForm(initial=initial),
        "role_label": role_label(user),
    }
    return render(request, "ecrf/oversight/query_detail.html", context)


@login_required
@require_GET
def query_detail(request: HttpRequest, query_id: UUID) -> HttpResponse:
    return _query_page(request, get_query_for_user(request.user, query_id))


def _query_step(request: HttpRequest, query_id: UUID, *, may, form_class, form_name, service, done):
    query = get_query_for_user(request.user, query_id)
    # Refused before the form is read, so a refused user learns nothing from its errors.
    if not may(request.user, query):
        raise PermissionDenied(NOT_YOURS_TO_CHANGE)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            service(
                query=query,
                message=form.cleaned_data["message"],
                by=request.user,
                expected_version=form.cleaned_data["loaded_version"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, done)
            return redirect("query_detail", query.pk)
    return _query_page(request, query, **{form_name: form})


@login_required
@require_POST
def query_answer_view(request: HttpRequest, query_id: UUID) -> HttpResponse:
    return _query_step(
        request, query_id, may=may_answer, form_class=QueryStepForm, form_name="answer_form",
        service=query_answer, done=QUERY_ANSWERED,
    )  # fmt: skip


@login_required
@require_POST
def query_close_view(request: HttpRequest, query_id: UUID) -> HttpResponse:
    return _query_step(
        request, query_id, may=may_close, form_class=QueryCloseForm, form_name="close_form",
        service=query_close, done=QUERY_CLOSED,
    )  # fmt: skip


@login_required
@require_POST
def query_reopen_view(request: HttpRequest, query_id: UUID) -> HttpResponse:
    return _query_step(
        request, query_id, may=may_close, form_class=QueryStepForm, form_name="reopen_form",
        service=query_reopen, done=QUERY_REOPENED,
    )  # fmt: skip


QUERY_STATE_FILTERS = {
    "active": ("Open or answered", ~Q(state=QueryState.CLOSED)),
    "open": ("Open", Q(state=QueryState.OPEN)),
    "answered": ("Answered", Q(state=QueryState.ANSWERED)),
    "closed": ("Closed", Q(state=QueryState.CLOSED)),
}


@login_required
@require_GET
def query_list(request: HttpRequest) -> HttpResponse:
    """The queries on every subject the user may see, oldest first."""
    state = request.GET.get("state", "active")
    if state not in QUERY_STATE_FILTERS:
        state = "active"
    queries = (
        DataQuery.objects.filter(
            QUERY_STATE_FILTERS[state][1],
            subject__in=access.subjects_for_user(request.user).filter(entered_in_error=False),
        )
        .select_related("subject", "subject__study", "subject__site", "raised_by")
        .order_by("created_at", "pk")
    )
    # The home page links here per study and site.
    if request.GET.get("study"):
        queries = queries.filter(subject__study__code=request.GET["study"])
    if request.GET.get("site"):
        queries = queries.filter(subject__site__code=request.GET["site"])
    page = Paginator(queries, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    rows = query_rows(page)
    return render(
        request,
        "ecrf/oversight/query_list.html",
        {
            "page": page,
            "rows": rows,
            "state": state,
            "states": [(key, label) for key, (label, _) in QUERY_STATE_FILTERS.items()],
            "role_label": role_label(request.user),
        },
    )


urlpatterns = [
    path("queries/", query_list, name="query_list"),
    path("queries/<uuid:query_id>/", query_detail, name="query_detail"),
    path("queries/<uuid:query_id>/answer/", query_answer_view, name="query_answer"),
    path("queries/<uuid:query_id>/close/", query_close_view, name="query_close"),
    path("queries/<uuid:query_id>/reopen/", query_reopen_view, name="query_reopen"),
    path("records/<slug:kind>/<uuid:record_id>/query/", query_raise_view, name="query_raise"),
]
