"""Who may download a study's exports: its data managers and administrators.

Built only on the access helpers of `ecrf.access`: a study the user is not assigned to is a 404,
as for a missing id; a study they see without an export role is a 403. A data manager assigned
to some sites only gets the subjects of those sites.
"""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .. import access
from ..models import Role, Study

EXPORT_ROLES = frozenset({Role.DATA_MANAGER, Role.ADMINISTRATOR})
NO_EXPORT_ROLE = "Only data managers and administrators may download exports."


def can_export(user) -> bool:
    return bool(access.user_roles(user) & EXPORT_ROLES)


def studies_for_export(user) -> QuerySet[Study]:
    """The studies whose exports the user may download."""
    if not can_export(user):
        return Study.objects.none()
    return access.studies_for_user(user).order_by("code")


def get_study_for_export(user, study_id: UUID) -> Study:
    """The study if the user may download its exports; 404 if they cannot see it, else 403."""
    study = access.studies_for_user(user).filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study.")
    if not can_export(user):
        raise PermissionDenied(NO_EXPORT_ROLE)
    return study


def export_subjects(user, study: Study) -> QuerySet:
    """The subjects of the study that the user may see: what their export contains."""
    return access.subjects_for_user(user).filter(study=study)
