"""Who may see and change what: the one table of rights, and the lookups that apply it.

`CAPABILITIES` says, for each `Action`, which roles hold it and where (the README's "Who may do
what" table is its mirror; tests/test_capabilities.py keeps the two equal). `can` and
`ensure_can` are the only questions the rest of the code asks of it.

Every request-side lookup of a record goes through a `get_<record>_for_user` helper below, so a
user never reaches a subject of a site they are not assigned to (the answer is a 404, as for a
missing id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import (
    AdverseEvent,
    DataLock,
    DataQuery,
    DltAssessment,
    DoseAdministration,
    LabResult,
    QueryOrigin,
    Role,
    Site,
    Study,
    StudyAssignment,
    Subject,
    Visit,
)

NO_WRITE_ROLE = "Your role does not allow changing clinical data."
NOT_ASSIGNED = "You are not assigned to this site."
NOT_ALLOWED = "Your role does not allow this."


class Action(models.TextChoices):
    """What a user may be allowed to do: one row of the table below."""

    SEE_SUBJECTS = "see_subjects", "See subjects, casebooks, the DLT dashboard and queries"
    ENTER_DATA = "enter_data", "Register and enrol subjects, record and correct clinical data"
    DECIDE_DLT = "decide_dlt", "Confirm or rule out a DLT"
    SIGN_DATA = "sign_data", "Sign a visit or a casebook"
    RAISE_QUERY = "raise_query", "Raise a query"
    ANSWER_QUERY = "answer_query", "Answer a query"
    CLOSE_QUERY = "close_query", "Close or re-open a query one raised"
    CLOSE_AUTOMATIC_QUERY = "close_automatic_query", "Close or re-open an automatic query"
    VERIFY_SOURCE = "verify_source", "Mark a record source-verified"
    LOCK_DATA = "lock_data", "Lock and unlock data"
    READ_AUDIT = "read_audit", "Read the audit trail"
    SAFETY_REPORT = "safety_report", "Download the safety summary"
    EXPORT = "export", "Download the analysis exports"
    SET_UP_STUDY = "set_up_study", "Change the study definition"
    ADMIN_VIEW = "admin_view", "View the admin pages"
    ADMIN_ADD = "admin_add", "Add in the admin pages"
    ADMIN_CHANGE = "admin_change", "Change in the admin pages"


class Scope(models.TextChoices):
    """Where a role holds a right, in the README's words.

    The check is the same for every scope: the user is assigned to the site (or to every site of
    its study), or to the study for a study-level action. What differs is how each role is
    assigned: site staff to their sites, data managers and sponsor viewers to the whole study.
    """

    OWN_SITES = "own sites"
    ASSIGNED_SITES = "assigned sites"
    STUDY = "study"
    OWN_STUDIES = "own studies"
    EVERY_STUDY = "every study"


@dataclass(frozen=True)
class Capability:
    """Who holds one action, and where.

    `holders`: each role that holds it, with its scope. `superusers`: superusers (the installation's
    administrators) hold it at every site and study whatever their groups; without it a superuser
    holds it only through the roles of their groups. `within`: held only where the user may also
    do that other action (an investigator decides for a site whose data they may change).
    `raiser`: no role gives it; only the person who raised the query holds it. `readme_row`: the
    README row it mirrors ("" when the README does not list it); `rule`: its part of a row written
    in words rather than by role.
    """

    readme_row: str
    holders: Mapping[str, Scope] = field(default_factory=dict)
    superusers: bool = True
    within: Action | None = None
    raiser: bool = False
    rule: str = ""


NURSE, INVESTIGATOR, MONITOR = Role.RESEARCH_NURSE, Role.INVESTIGATOR, Role.MONITOR
DATA_MANAGER, SPONSOR, ADMIN = Role.DATA_MANAGER, Role.SPONSOR_VIEWER, Role.ADMINISTRATOR
OWN, ASSIGNED, STUDY, EVERY = Scope.OWN_SITES, Scope.ASSIGNED_SITES, Scope.STUDY, Scope.EVERY_STUDY
SITE_STAFF = {NURSE: OWN, INVESTIGATOR: OWN, DATA_MANAGER: STUDY, ADMIN: EVERY}
ADMIN_ROW = "admin pages"

CAPABILITIES: dict[Action, Capability] = {
    Action.SEE_SUBJECTS: Capability(
        "see subjects, casebooks, the DLT dashboard, queries; casebook PDF",
        {
            NURSE: OWN,
            INVESTIGATOR: OWN,
            MONITOR: ASSIGNED,
            DATA_MANAGER: STUDY,
            SPONSOR: STUDY,
            ADMIN: EVERY,
        },
    ),
    Action.ENTER_DATA: Capability(
        "register, enrol, record visits, doses, adverse events, labs; correct with a reason",
        SITE_STAFF,
    ),
    # Signed acts of the investigator only: a superuser signs only when also an investigator.
    Action.DECIDE_DLT: Capability(
        "confirm or rule out a DLT (signed)",
        {INVESTIGATOR: OWN},
        superusers=False,
        within=Action.ENTER_DATA,
    ),
    Action.SIGN_DATA: Capability(
        "sign a visit or a casebook",
        {INVESTIGATOR: OWN},
        superusers=False,
        within=Action.ENTER_DATA,
    ),
    # The reviewers' acts: the administrator role does not raise queries (README disagrees).
    Action.RAISE_QUERY: Capability(
        "raise a query", {MONITOR: ASSIGNED, DATA_MANAGER: STUDY}, superusers=False
    ),
    Action.ANSWER_QUERY: Capability("answer a query", SITE_STAFF),
    Action.CLOSE_QUERY: Capability(
        "close or re-open a query",
        superusers=False,
        raiser=True,
        rule="the person who raised it",
    ),
    Action.CLOSE_AUTOMATIC_QUERY: Capability(
        "close or re-open a query",
        {MONITOR: ASSIGNED, DATA_MANAGER: STUDY},
        superusers=False,
        rule="automatic queries: monitors and data managers",
    ),
    Action.VERIFY_SOURCE: Capability("mark a record source-verified", {MONITOR: ASSIGNED}),
    Action.LOCK_DATA: Capability(
        "lock and unlock (with a reason) a form, visit or subject", {DATA_MANAGER: STUDY}
    ),
    # Sponsor viewers see summaries, not the record-level history.
    Action.READ_AUDIT: Capability(
        "read the audit trail, download it as CSV",
        {NURSE: OWN, INVESTIGATOR: OWN, MONITOR: ASSIGNED, DATA_MANAGER: STUDY, ADMIN: EVERY},
    ),
    # The study-wide document of the safety review (every site's subjects): not for research
    # nurses and monitors.
    Action.SAFETY_REPORT: Capability(
        "safety summary PDF",
        {INVESTIGATOR: Scope.OWN_STUDIES, DATA_MANAGER: STUDY, SPONSOR: STUDY, ADMIN: EVERY},
    ),
    Action.EXPORT: Capability("analysis exports", {DATA_MANAGER: STUDY, ADMIN: EVERY}),
    # Records that belong to no subject (the study, its sites, agents, dose levels, schedule).
    Action.SET_UP_STUDY: Capability("", {DATA_MANAGER: STUDY, ADMIN: EVERY}),
    # Django's admin permissions, given to each role's group by ensure_role_groups. Deleting is
    # never granted: nothing is deleted.
    Action.ADMIN_VIEW: Capability(
        ADMIN_ROW, {MONITOR: ASSIGNED, DATA_MANAGER: STUDY, ADMIN: EVERY}
    ),
    Action.ADMIN_ADD: Capability(ADMIN_ROW, {DATA_MANAGER: STUDY, ADMIN: EVERY}),
    Action.ADMIN_CHANGE: Capability(ADMIN_ROW, {DATA_MANAGER: STUDY, ADMIN: EVERY}),
}
# The admin permission (Django codename prefix) each admin action stands for; also its word in
# the README's admin row.
ADMIN_PERMISSIONS = {
    Action.ADMIN_VIEW: "view",
    Action.ADMIN_ADD: "add",
    Action.ADMIN_CHANGE: "change",
}

# A security policy rather than a right: the roles whose signature or lock carries weight sign in
# with a second factor when settings.REQUIRE_TWO_FACTOR is on (views/two_factor.py).
TWO_FACTOR_ROLES = frozenset({Role.INVESTIGATOR, Role.DATA_MANAGER})


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """Return the Role values the user holds through Django groups (superusers: administrator)."""
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


def holders(action: Action) -> frozenset[str]:
    """The roles that hold `action` somewhere."""
    return frozenset(CAPABILITIES[action].holders)


def _pk(user_or_id):
    return getattr(user_or_id, "pk", user_or_id)


def can(
    user, action: Action, *, site: Site | None = None, study: Study | None = None, raised_by=None
) -> bool:
    """Whether the user may do `action` at `site` (or in `study`); with neither, anywhere.

    `raised_by` (a user or its id) names who raised the query, for CLOSE_QUERY.
    """
    if not user.is_authenticated:
        return False
    capability = CAPABILITIES[action]
    if capability.raiser:
        return raised_by is not None and _pk(raised_by) == user.pk
    if capability.superusers and user.is_superuser:
        return True
    if not user_roles(user) & capability.holders.keys():
        return False
    if capability.within is not None:
        return can(user, capability.within, site=site, study=study)
    if site is not None:
        return is_assigned_to_site(user, site)
    if study is not None:
        return StudyAssignment.objects.filter(user=user, study=study).exists()
    return True


def ensure_can(
    user,
    action: Action,
    *,
    site: Site | None = None,
    study: Study | None = None,
    raised_by=None,
    message: str = NOT_ALLOWED,
) -> None:
    """Raise PermissionDenied(message) unless `can(user, action, ...)`."""
    if not can(user, action, site=site, study=study, raised_by=raised_by):
        raise PermissionDenied(message)


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


def sites_for_user(user, study: Study) -> QuerySet[Site]:
    """The sites of `study` the user is assigned to: all of them for a study-wide assignment."""
    sites = study.sites.all()
    if user.is_superuser:
        return sites
    assigned = StudyAssignment.objects.filter(user=user, study=study)
    if assigned.filter(site__isnull=True).exists():
        return sites
    return sites.filter(pk__in=assigned.values("site_id"))


def assigned_sites(user) -> QuerySet[Site]:
    """Every site the user is assigned to, in any study, or whose whole study they are."""
    assignments = StudyAssignment.objects.filter(user=user)
    return Site.objects.filter(
        Q(study_id__in=assignments.filter(site__isnull=True).values("study_id"))
        | Q(pk__in=assignments.filter(site__isnull=False).values("site_id"))
    )


def subjects_for_user(user) -> QuerySet[Subject]:
    """Every subject the user may see: their sites, or whole studies they are assigned to."""
    if not user.is_authenticated:
        return Subject.objects.none()
    if user.is_superuser:
        return Subject.objects.all()
    return Subject.objects.filter(_assignment_filter(user))


def may_see_subject(user, subject: Subject) -> bool:
    """Whether `subject` is one of `subjects_for_user(user)`: checked on a subject already read,
    with the user's site assignments kept for the request (`is_assigned_to_site`), so that a
    page's lookup of its record is one plain query."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or is_assigned_to_site(user, subject.site)


def is_assigned_to_site(user, site: Site) -> bool:
    """The user is assigned to this site, or to every site of its study.

    Kept on the user object for the rest of the request, as the roles are: a save checks the
    site of each record it writes."""
    known = user.__dict__.setdefault("_ecrf_sites", {})
    if site.pk not in known:
        known[site.pk] = StudyAssignment.objects.filter(
            Q(site=site) | Q(site__isnull=True), user=user, study_id=site.study_id
        ).exists()
    return known[site.pk]


def can_write_site(user, site: Site) -> bool:
    """The user may change clinical data at this site."""
    return can(user, Action.ENTER_DATA, site=site)


def is_site_investigator(user, site: Site) -> bool:
    """An investigator who may change this site's data: who decides DLTs and signs its data."""
    return can(user, Action.DECIDE_DLT, site=site)


def ensure_can_write_site(user, site: Site) -> None:
    """Raise PermissionDenied unless the user may change clinical data at this site."""
    # Two messages: a role that never enters data is told so, not sent to look for a site.
    ensure_can(user, Action.ENTER_DATA, message=NO_WRITE_ROLE)
    ensure_can(user, Action.ENTER_DATA, site=site, message=NOT_ASSIGNED)


def get_study_for_user(user, study_id: UUID) -> Study:
    """Return the study if the user is assigned to it (superusers: any), else 404."""
    study = studies_for_user(user).filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study.")
    return study


def get_subject_for_user(user, subject_id: UUID, *, write: bool = False) -> Subject:
    """Return the subject if the user may see it (and change it, with write=True), else 404/403."""
    subject = Subject.objects.select_related("study", "site", "dose_level").filter(pk=subject_id)
    subject = subject.first()
    if subject is None or not may_see_subject(user, subject):
        raise Http404("No such subject.")
    if write:
        ensure_can_write_site(user, subject.site)
    return subject


def get_assessment_for_user(user, assessment_id: UUID) -> DltAssessment:
    """The DLT assessment of an event whose subject the user may see, else 404."""
    assessment = (
        DltAssessment.objects.select_related(
            "adverse_event__subject__site", "adverse_event__subject__study", "signature"
        )
        .filter(pk=assessment_id)
        .first()
    )
    if assessment is None or not may_see_subject(user, assessment.adverse_event.subject):
        raise Http404("No such DLT assessment.")
    return assessment


def role_admin_permissions(role: str) -> tuple[str, ...]:
    """The admin permissions (view, add, change) the table gives `role`."""
    return tuple(
        permission
        for action, permission in ADMIN_PERMISSIONS.items()
        if role in CAPABILITIES[action].holders
    )


def ensure_role_groups() -> None:
    """Create one Django group per role, with the admin permissions the role needs."""
    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        actions = role_admin_permissions(role)
        wanted = Permission.objects.filter(
            content_type__app_label="ecrf",
            codename__regex=rf"^({'|'.join(actions)})_" if actions else r"^$",
        )
        group.permissions.set(wanted)


def _get_for_user(user, queryset: QuerySet, record_id: UUID, subject_path: str, write: bool):
    """One lookup shape for every record that belongs to a subject: visible, else 404."""
    record = (
        queryset.filter(pk=record_id)
        .select_related(subject_path, f"{subject_path}__site", f"{subject_path}__study")
        .first()
    )
    if record is None or not may_see_subject(user, getattr(record, subject_path)):
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
def may_raise_queries(user) -> bool:
    return can(user, Action.RAISE_QUERY)


def may_verify(user) -> bool:
    return can(user, Action.VERIFY_SOURCE)


def may_lock(user) -> bool:
    return can(user, Action.LOCK_DATA)


def may_sign(user, subject: Subject) -> bool:
    return can(user, Action.SIGN_DATA, site=subject.site)


def may_answer(user, query: DataQuery) -> bool:
    return can(user, Action.ANSWER_QUERY, site=query.subject.site)


def may_close(user, query: DataQuery) -> bool:
    if query.origin == QueryOrigin.MANUAL:
        return can(user, Action.CLOSE_QUERY, raised_by=query.raised_by_id)
    return can(user, Action.CLOSE_AUTOMATIC_QUERY)
