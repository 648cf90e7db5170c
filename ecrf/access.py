"""Who may see and change what: the one place that turns a user into visible records.

Every request-side lookup of a subject goes through `get_subject_for_user`, so a user never
reaches a subject of a site they are not assigned to (the answer is a 404, as for a missing id).
"""

from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Role, Site, Study, StudyAssignment, Subject

WRITE_ROLES = frozenset(
    {Role.RESEARCH_NURSE, Role.INVESTIGATOR, Role.DATA_MANAGER, Role.ADMINISTRATOR}
)
NO_WRITE_ROLE = "Your role does not allow changing clinical data."
NOT_ASSIGNED = "You are not assigned to this site."


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """Return the Role values the user holds through Django groups."""
    if not user.is_authenticated:
        return set()
    # Kept on the user object for the rest of the request: one save asks many times.
    cached = user.__dict__.get("_ecrf_roles")
    if cached is not None:
        return set(cached)
    names = {group.name for group in user.groups.all()}
    roles = {role.value for role in Role if role.value in names}
    if user.is_superuser:
        roles.add(Role.ADMINISTRATOR.value)
    user.__dict__["_ecrf_roles"] = frozenset(roles)
    return roles


def primary_role(user) -> str:
    """The role written into the audit trail: the first of the user's roles, by rank."""
    roles = user_roles(user)
    for role in Role:
        if role.value in roles:
            return role.value
    return ""


def _assignment_filter(user, prefix: str = "") -> Q:
    assignments = StudyAssignment.objects.filter(user=user)
    study_wide = assignments.filter(site__isnull=True).values("study_id")
    sites = assignments.filter(site__isnull=False).values("site_id")
    return Q(**{f"{prefix}study_id__in": study_wide}) | Q(**{f"{prefix}site_id__in": sites})


def studies_for_user(user) -> QuerySet[Study]:
    if not user.is_authenticated:
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    return Study.objects.filter(assignments__user=user).distinct()


def subjects_for_user(user) -> QuerySet[Subject]:
    """Every subject the user may see: their sites, or whole studies they are assigned to."""
    if not user.is_authenticated:
        return Subject.objects.none()
    if user.is_superuser:
        return Subject.objects.all()
    return Subject.objects.filter(_assignment_filter(user))


def is_assigned_to_site(user, site: Site) -> bool:
    """The user is assigned to this site, or to every site of its study."""
    return StudyAssignment.objects.filter(
        Q(site=site) | Q(site__isnull=True), user=user, study_id=site.study_id
    ).exists()


def can_write_site(user, site: Site) -> bool:
    if user.is_superuser:
        return True
    if not user_roles(user) & WRITE_ROLES:
        return False
    return is_assigned_to_site(user, site)


def is_site_investigator(user, site: Site) -> bool:
    """An investigator who may change this site's data: who decides DLTs and signs its data."""
    return Role.INVESTIGATOR in user_roles(user) and can_write_site(user, site)


def ensure_can_write_site(user, site: Site) -> None:
    """Raise PermissionDenied unless the user may change clinical data at this site."""
    if user.is_superuser:
        return
    if not user_roles(user) & WRITE_ROLES:
        raise PermissionDenied(NO_WRITE_ROLE)
    if not can_write_site(user, site):
        raise PermissionDenied(NOT_ASSIGNED)


def get_subject_for_user(user, subject_id: UUID, *, write: bool = False) -> Subject:
    """Return the subject if the user may see it (and change it, with write=True), else 404/403."""
    subject = (
        subjects_for_user(user)
        .select_related("study", "site", "dose_level")
        .filter(pk=subject_id)
        .first()
    )
    if subject is None:
        raise Http404("No such subject.")
    if write:
        ensure_can_write_site(user, subject.site)
    return subject


# What each role may do in the admin pages. Deleting is never granted: nothing is deleted.
ROLE_ADMIN_ACTIONS = {
    Role.DATA_MANAGER: ("view", "add", "change"),
    Role.MONITOR: ("view",),
    Role.ADMINISTRATOR: ("view", "add", "change"),
}


def ensure_role_groups() -> None:
    """Create one Django group per role, with the admin permissions the role needs."""
    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        actions = ROLE_ADMIN_ACTIONS.get(role, ())
        wanted = Permission.objects.filter(
            content_type__app_label="ecrf",
            codename__regex=rf"^({'|'.join(actions)})_" if actions else r"^$",
        )
        group.permissions.set(wanted)


def _get_for_user(user, queryset: QuerySet, record_id: UUID, subject_path: str, write: bool):
    """One lookup shape for every record that belongs to a subject: visible, else 404."""
    record = (
        queryset.filter(pk=record_id, **{f"{subject_path}__in": subjects_for_user(user)})
        .select_related(subject_path, f"{subject_path}__site", f"{subject_path}__study")
        .first()
    )
    if record is None:
        raise Http404("No such record.")
    if write:
        ensure_can_write_site(user, getattr(record, subject_path).site)
    return record


def get_visit_for_user(user, visit_id: UUID, *, write: bool = False):
    return _get_for_user(user, Visit.objects.all(), visit_id, "subject", write)


def get_adverse_event_for_user(user, event_id: UUID, *, write: bool = False):
    return _get_for_user(user, AdverseEvent.objects.all(), event_id, "subject", write)


def get_dose_for_user(user, dose_id: UUID, *, write: bool = False):
    return _get_for_user(user, DoseAdministration.objects.all(), dose_id, "subject", write)


def get_lab_result_for_user(user, result_id: UUID, *, write: bool = False):
    return _get_for_user(user, LabResult.objects.all(), result_id, "subject", write)


# Records of the oversight pages (queries, verification, locks, sign-off), addressed by
# `<kind>/<uuid>` in their URLs, and the lookups of queries and locks. Imported here, below the
# rest, so that the capability table above stays one block.
from dataclasses import dataclass  # noqa: E402

from django.db import models  # noqa: E402

from .models import (  # noqa: E402
    AdverseEvent,
    DataLock,
    DataQuery,
    DoseAdministration,
    LabResult,
    QueryOrigin,
    Visit,
)


@dataclass(frozen=True)
class RecordKind:
    """One kind of record the oversight pages address by `<kind>/<uuid>` in their URLs."""

    slug: str
    model: type[models.Model]
    lookup: object  # one of the helpers above: (user, id, *, write=False) -> record
    label: str
    order_by: tuple[str, ...]


RECORD_KINDS = {
    kind.slug: kind
    for kind in (
        RecordKind("subject", Subject, get_subject_for_user, "Subject", ("pk",)),
        RecordKind("visit", Visit, get_visit_for_user, "Visit", ("planned_on", "label", "pk")),
        RecordKind(
            "ae",
            AdverseEvent,
            get_adverse_event_for_user,
            "Adverse event",
            ("-onset_on", "ctcae_term", "pk"),
        ),
        RecordKind(
            "dose",
            DoseAdministration,
            get_dose_for_user,
            "Dose",
            ("-given_on", "agent__code", "pk"),
        ),
        RecordKind(
            "lab",
            LabResult,
            get_lab_result_for_user,
            "Lab result",
            ("-collected_at", "test_code", "pk"),
        ),
    )
}
KIND_OF_MODEL = {kind.model._meta.label: kind for kind in RECORD_KINDS.values()}


def record_kind(slug: str) -> RecordKind:
    """The kind of record a URL names, else 404."""
    kind = RECORD_KINDS.get(slug)
    if kind is None:
        raise Http404("No such kind of record.")
    return kind


def get_record_for_user(user, slug: str, record_id: UUID) -> models.Model:
    """A visible, current record of one of the kinds above, else 404."""
    record = record_kind(slug).lookup(user, record_id)
    if record.entered_in_error:
        raise Http404("This record was marked as entered in error.")
    return record


def get_query_for_user(user, query_id: UUID) -> DataQuery:
    """A query on a subject the user may see, else 404."""
    query = DataQuery.objects.select_related("raised_by").filter(pk=query_id).first()
    if query is None:
        raise Http404("No such query.")
    query.subject = get_subject_for_user(user, query.subject_id)
    return query


def get_lock_for_user(user, lock_id: UUID) -> DataLock:
    """A lock on a subject the user may see, else 404."""
    lock = DataLock.objects.select_related("locked_by").filter(pk=lock_id).first()
    if lock is None:
        raise Http404("No such lock.")
    lock.subject = get_subject_for_user(user, lock.subject_id)
    return lock


# Who sees which oversight buttons; the services check the same rules again on every POST.
REVIEWER_ROLES = frozenset({Role.MONITOR, Role.DATA_MANAGER})


def may_raise_queries(user) -> bool:
    return bool(user_roles(user) & REVIEWER_ROLES)


def may_verify(user) -> bool:
    return Role.MONITOR in user_roles(user) or user.is_superuser


def may_lock(user) -> bool:
    return Role.DATA_MANAGER in user_roles(user) or user.is_superuser


def may_sign(user, subject: Subject) -> bool:
    return is_site_investigator(user, subject.site)


def may_answer(user, query: DataQuery) -> bool:
    return can_write_site(user, query.subject.site)


def may_close(user, query: DataQuery) -> bool:
    if query.origin == QueryOrigin.MANUAL:
        return user.pk == query.raised_by_id
    return may_raise_queries(user)
