"""Oversight pages: data queries, source data verification, locks and investigator sign-off.

Thin on purpose: every change is made by a service (`ecrf.services.queries`, `.locking`,
`.signoff`), which checks the user's role and site and writes nothing when it refuses. The
`may_*` predicates below only decide which buttons a page shows and refuse a form page to a
role that could never use it; the services remain the authority on every POST.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_POST

from .. import access
from ..forms.labs import PANELS
from ..forms.oversight import (
    QueryCloseForm,
    QueryRaiseForm,
    QueryStepForm,
    SignOffForm,
    UnlockForm,
)
from ..models import (
    AdverseEvent,
    AuditEvent,
    DataLock,
    DataQuery,
    DoseAdministration,
    LabResult,
    LockScope,
    QueryOrigin,
    QueryState,
    SourceVerification,
    Subject,
    Visit,
)
from ..services.audit import audited_fields
from ..services.locking import lock_data, source_verify, unlock_data
from ..services.queries import query_answer, query_close, query_raise, query_reopen
from ..services.signoff import MEANING_REVIEWED, data_sign, signature_states
from .subjects import role_label

ROWS_PER_PAGE = 50
# Fields a query may name: the clinical values, not the bookkeeping of corrections.
NOT_QUERYABLE = frozenset({"subject", "entered_in_error", "entered_in_error_reason"})

QUERY_RAISED = "Query raised on {record}."
QUERY_ANSWERED = "Answer sent."
QUERY_CLOSED = "Query closed."
QUERY_REOPENED = "Query re-opened."
VERIFIED = "{record} marked as source-verified (version {version})."
LOCKED = "{scope} locked: {record}."
UNLOCKED = "{scope} unlocked: {record}."
SIGNED = "{what} signed: {meaning}"
CHANGED_SINCE_LOADED = (
    "{record} changed after you opened the page (now version {version}); review it again "
    "before marking it as verified."
)
NO_LOADED_VERSION = "loaded_version: the page did not say which version of the record you saw."
ONLY_REVIEWERS = "Only monitors and data managers raise queries."
ONLY_MONITORS = "Only monitors mark data as source-verified."
ONLY_DATA_MANAGERS = "Only data managers lock and unlock data."
ONLY_INVESTIGATORS = "Only an investigator of this subject's site signs its data."
NOT_YOURS_TO_CHANGE = "Only the site answers a query, and only the person who raised it closes it."


@dataclass(frozen=True)
class RecordKind:
    """One kind of record the oversight pages address by `<kind>/<uuid>` in their URLs."""

    slug: str
    model: type[models.Model]
    lookup: Callable  # an ecrf.access helper: (user, id, *, write=False) -> record
    label: str
    order_by: tuple[str, ...]


RECORD_KINDS = {
    kind.slug: kind
    for kind in (
        RecordKind("subject", Subject, access.get_subject_for_user, "Subject", ("pk",)),
        RecordKind(
            "visit", Visit, access.get_visit_for_user, "Visit", ("planned_on", "label", "pk")
        ),
        RecordKind(
            "ae",
            AdverseEvent,
            access.get_adverse_event_for_user,
            "Adverse event",
            ("-onset_on", "ctcae_term", "pk"),
        ),  # fmt: skip
        RecordKind(
            "dose",
            DoseAdministration,
            access.get_dose_for_user,
            "Dose",
            ("-given_on", "agent__code", "pk"),
        ),  # fmt: skip
        RecordKind(
            "lab",
            LabResult,
            access.get_lab_result_for_user,
            "Lab result",
            ("-collected_at", "test_code", "pk"),
        ),  # fmt: skip
    )
}
KIND_OF_MODEL = {kind.model._meta.label: kind for kind in RECORD_KINDS.values()}
SIGNABLE_KINDS = ("subject", "visit")


# Who sees which buttons (the services check the same rules again on every POST).


def may_raise_queries(user) -> bool:
    return access.can(user, access.Action.RAISE_QUERY)


def may_verify(user) -> bool:
    return access.can(user, access.Action.VERIFY_SOURCE)


def may_lock(user) -> bool:
    return access.can(user, access.Action.LOCK_DATA)


def may_sign(user, subject: Subject) -> bool:
    return access.can(user, access.Action.SIGN_DATA, site=subject.site)


def may_answer(user, query: DataQuery) -> bool:
    return access.can(user, access.Action.ANSWER_QUERY, site=query.subject.site)


def may_close(user, query: DataQuery) -> bool:
    if query.origin == QueryOrigin.MANUAL:
        return access.can(user, access.Action.CLOSE_QUERY, raised_by=query.raised_by_id)
    return access.can(user, access.Action.CLOSE_AUTOMATIC_QUERY)


# Lookups: every one goes through an ecrf.access helper.


def _kind(slug: str) -> RecordKind:
    kind = RECORD_KINDS.get(slug)
    if kind is None:
        raise Http404("No such kind of record.")
    return kind


def get_record_for_user(user, slug: str, record_id: UUID) -> models.Model:
    """A visible, current record of one of the kinds above, else 404."""
    record = _kind(slug).lookup(user, record_id)
    if record.entered_in_error:
        raise Http404("This record was marked as entered in error.")
    return record


def _subject_of(record: models.Model) -> Subject:
    return record if isinstance(record, Subject) else record.subject


def get_query_for_user(user, query_id: UUID) -> DataQuery:
    """A query on a subject the user may see, else 404."""
    query = DataQuery.objects.select_related("raised_by").filter(pk=query_id).first()
    if query is None:
        raise Http404("No such query.")
    query.subject = access.get_subject_for_user(user, query.subject_id)
    return query


def get_lock_for_user(user, lock_id: UUID) -> DataLock:
    """A lock on a subject the user may see, else 404."""
    lock = DataLock.objects.select_related("locked_by").filter(pk=lock_id).first()
    if lock is None:
        raise Http404("No such lock.")
    lock.subject = access.get_subject_for_user(user, lock.subject_id)
    return lock


# How records read on these pages.


def describe_record(record: models.Model) -> str:
    if isinstance(record, Subject):
        return f"Subject {record.subject_code}"
    if isinstance(record, Visit):
        planned = f" (planned {record.planned_on:%Y-%m-%d})" if record.planned_on else ""
        return f"Visit {record.label}{planned}"
    if isinstance(record, AdverseEvent):
        return f"Adverse event {record.ctcae_term} grade {record.grade}, onset {record.onset_on:%Y-%m-%d}"
    if isinstance(record, DoseAdministration):
        return f"Dose {record.agent.code} {record.given_dose.normalize():f} {record.unit} on {record.given_on:%Y-%m-%d}"
    if isinstance(record, LabResult):
        return f"Lab {record.test_code} {record.value.normalize():f} {record.unit} on {record.collected_at:%Y-%m-%d %H:%M}"
    return str(record)


def edit_url(record: models.Model) -> str:
    """Where the site corrects this record (with a reason), or '' when there is no form."""
    if isinstance(record, Visit):
        return reverse("visit_edit", args=[record.pk])
    if isinstance(record, AdverseEvent):
        return reverse("ae_edit", args=[record.pk])
    if isinstance(record, DoseAdministration):
        return reverse("dose_edit", args=[record.pk])
    if isinstance(record, LabResult) and record.visit_id:
        panel = next((code for code, (_, tests) in PANELS.items() if record.test_code in tests), "")
        if panel:
            return reverse("lab_grid", args=[record.visit_id, panel])
    return ""


def queryable_fields(model: type[models.Model]) -> list[tuple[str, str]]:
    return [
        (f.name, str(f.verbose_name).capitalize())
        for f in audited_fields(model)
        if f.name not in NOT_QUERYABLE
    ]


def field_label(model_label: str, name: str) -> str:
    kind = KIND_OF_MODEL.get(model_label)
    if not name:
        return "whole form"
    if kind is None:
        return name
    try:
        return capfirst(kind.model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:  # a field renamed since the query was raised
        return name


def records_by_key(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], models.Model]:
    """The records behind (model label, object id) pairs, one query per kind."""
    wanted = defaultdict(set)
    for label, object_id in keys:
        if label in KIND_OF_MODEL:
            wanted[label].add(object_id)
    found = {}
    for label, ids in wanted.items():
        queryset = KIND_OF_MODEL[label].model.objects.filter(pk__in=ids)
        if label == "ecrf.DoseAdministration":
            queryset = queryset.select_related("agent")
        for record in queryset:
            found[(label, str(record.pk))] = record
    return found


def verification_states(label: str, records: list[models.Model]) -> dict[str, dict]:
    """Per record id: its latest source verification and, if a change cleared it, that change."""
    ids = [str(r.pk) for r in records]
    latest = {}
    for verification in (
        SourceVerification.objects.filter(model=label, object_id__in=ids)
        .select_related("verified_by")
        .order_by("verified_at", "id")
    ):
        latest[verification.object_id] = verification
    versions = {str(r.pk): r.version for r in records}
    cleared_ids = [pk for pk, v in latest.items() if v.record_version != versions[pk]]
    clearing = {}
    if cleared_ids:
        for change in AuditEvent.objects.filter(
            model=label, object_id__in=cleared_ids, field="source_verified", new_value="no"
        ).order_by("at", "id"):
            if change.old_value == f"version {latest[change.object_id].record_version}":
                clearing.setdefault(change.object_id, change)
    return {
        pk: {
            "verification": v,
            "valid": v.record_version == versions[pk],
            "cleared_by": clearing.get(pk),
        }
        for pk, v in latest.items()
    }


def covering_lock(record: models.Model, locks: list[DataLock]) -> DataLock | None:
    """Which of the subject's active locks covers this record (its own, its visit's, the subject's)."""
    label, pk = record._meta.label, str(record.pk)
    visit_id = str(record.pk) if isinstance(record, Visit) else str(getattr(record, "visit_id", ""))
    for lock in locks:
        if lock.scope == LockScope.SUBJECT:
            return lock
    for lock in locks:
        if (lock.model, lock.object_id) == (label, pk) or (
            lock.scope == LockScope.VISIT and lock.object_id == visit_id
        ):
            return lock
    return None


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _add_service_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _casebook(subject_id, anchor: str = "oversight") -> str:
    return reverse("subject_detail", args=[subject_id]) + f"#{anchor}"


def _review_url(subject_id, kind: str) -> str:
    return reverse("subject_review", args=[subject_id]) + f"?kind={kind}"


# Review: every record of a subject with its verification, lock and queries.


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
    locks = list(DataLock.objects.filter(subject=subject, locked=True).select_related("locked_by"))
    queries = dict(
        DataQuery.objects.filter(
            subject=subject, model=label, object_id__in=[str(r.pk) for r in on_page]
        )
        .exclude(state=QueryState.CLOSED)
        .values("object_id")
        .annotate(n=Count("id"))
        .values_list("object_id", "n")
    )
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
            "can_write": access.can_write_site(request.user, subject.site),
            "role_label": role_label(request.user),
        },
    )


# Queries


@login_required
def query_raise_view(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    record = get_record_for_user(request.user, kind, record_id)
    subject = _subject_of(record)
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
            _add_service_errors(form, exc)
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
            _add_service_errors(form, exc)
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
    records = records_by_key((q.model, q.object_id) for q in page)
    rows = [
        {
            "query": q,
            "description": describe_record(records[(q.model, q.object_id)])
            if (q.model, q.object_id) in records
            else q.model,
            "field_label": field_label(q.model, q.field),
        }
        for q in page
    ]
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


# Source data verification


@login_required
@require_POST
def record_verify(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    record = get_record_for_user(request.user, kind, record_id)
    subject = _subject_of(record)
    back = _next_url(request, _review_url(subject.pk, kind))
    if not may_verify(request.user):
        raise PermissionDenied(ONLY_MONITORS)
    try:
        loaded = int(request.POST.get("loaded_version", ""))
    except ValueError:
        messages.error(request, NO_LOADED_VERSION)
        return redirect(back)
    # The monitor verifies what the page showed; a newer version has not been looked at.
    if loaded != record.version:
        messages.error(
            request,
            CHANGED_SINCE_LOADED.format(record=describe_record(record), version=record.version),
        )
        return redirect(back)
    verification = source_verify(record=record, by=request.user)
    messages.success(
        request,
        VERIFIED.format(record=describe_record(record), version=verification.record_version),
    )
    return redirect(back)


# Locks


@login_required
@require_POST
def record_lock(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    """Lock one form, a visit (with its forms) or a whole subject."""
    record = get_record_for_user(request.user, kind, record_id)
    subject = _subject_of(record)
    back = _next_url(request, _review_url(subject.pk, kind))
    if not may_lock(request.user):
        raise PermissionDenied(ONLY_DATA_MANAGERS)
    try:
        lock = lock_data(target=record, by=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request, LOCKED.format(scope=lock.get_scope_display(), record=describe_record(record))
        )
    return redirect(back)


@login_required
def lock_release(request: HttpRequest, lock_id: UUID) -> HttpResponse:
    """Lift a lock, with a reason."""
    lock = get_lock_for_user(request.user, lock_id)
    if not may_lock(request.user):
        raise PermissionDenied(ONLY_DATA_MANAGERS)
    target = records_by_key([(lock.model, lock.object_id)]).get((lock.model, lock.object_id))
    description = describe_record(target) if target else lock.model
    form = UnlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            unlock_data(lock=lock, reason=form.cleaned_data["reason"], by=request.user)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(
                request, UNLOCKED.format(scope=lock.get_scope_display(), record=description)
            )
            return redirect(_next_url(request, _casebook(lock.subject_id)))
    return render(
        request,
        "ecrf/oversight/unlock.html",
        {
            "form": form,
            "lock": lock,
            "subject": lock.subject,
            "description": description,
            "next": _next_url(request, ""),
            "role_label": role_label(request.user),
        },
    )


# Sign-off


@login_required
def sign_off(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    """An investigator of the site signs a visit or the whole casebook."""
    if kind not in SIGNABLE_KINDS:
        raise Http404("Only a visit or a whole casebook is signed.")
    target = get_record_for_user(request.user, kind, record_id)
    subject = _subject_of(target)
    if not may_sign(request.user, subject):
        raise PermissionDenied(ONLY_INVESTIGATORS)
    form = SignOffForm(request.POST or None)
    what = "Casebook" if kind == "subject" else f"Visit {target.label}"
    if request.method == "POST" and form.is_valid():
        try:
            data_sign(
                target=target,
                by=request.user,
                password=form.cleaned_data["password"],
                printed_name=form.cleaned_data["printed_name"],
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, SIGNED.format(what=what, meaning=MEANING_REVIEWED))
            return redirect(_casebook(subject.pk))
    counts = _signed_counts(target)
    return render(
        request,
        "ecrf/oversight/sign_off.html",
        {
            "form": form,
            "subject": subject,
            "target": target,
            "what": what,
            "counts": counts,
            "meaning": MEANING_REVIEWED,
            "states": list(reversed(signature_states(target))),
            "open_queries": DataQuery.objects.filter(subject=subject)
            .exclude(state=QueryState.CLOSED)
            .count(),
            "role_label": role_label(request.user),
        },
    )


def _signed_counts(target: models.Model) -> list[tuple[str, int]]:
    """What the signature covers, as the investigator reads it before signing."""
    if isinstance(target, Visit):
        return [
            ("Doses", target.doses.filter(entered_in_error=False).count()),
            ("Lab results", target.lab_results.filter(entered_in_error=False).count()),
        ]
    return [
        ("Visits", target.visits.filter(entered_in_error=False).count()),
        ("Doses", target.doses.filter(entered_in_error=False).count()),
        ("Adverse events", target.adverse_events.filter(entered_in_error=False).count()),
        ("Lab results", target.lab_results.filter(entered_in_error=False).count()),
    ]


urlpatterns = [
    path("subjects/<uuid:subject_id>/review/", subject_review, name="subject_review"),
    path("records/<slug:kind>/<uuid:record_id>/query/", query_raise_view, name="query_raise"),
    path("records/<slug:kind>/<uuid:record_id>/verify/", record_verify, name="record_verify"),
    path("records/<slug:kind>/<uuid:record_id>/lock/", record_lock, name="record_lock"),
    path("records/<slug:kind>/<uuid:record_id>/sign/", sign_off, name="sign_off"),
    path("queries/", query_list, name="query_list"),
    path("queries/<uuid:query_id>/", query_detail, name="query_detail"),
    path("queries/<uuid:query_id>/answer/", query_answer_view, name="query_answer"),
    path("queries/<uuid:query_id>/close/", query_close_view, name="query_close"),
    path("queries/<uuid:query_id>/reopen/", query_reopen_view, name="query_reopen"),
    path("locks/<uuid:lock_id>/unlock/", lock_release, name="lock_release"),
]
