"""Who may download a study's exports: `ecrf.access.CAPABILITIES[Action.EXPORT]`.

Built only on the access helpers of `ecrf.access`: a study the user is not assigned to is a 404,
as for a missing id; a study they see without an export role is a 403. A data manager assigned
to some sites only gets the subjects of those sites.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from .. import access
from ..models import Study

NO_EXPORT_ROLE = "Only data managers and administrators may download exports."


def can_export(user) -> bool:
    return access.can(user, access.Action.EXPORT)


def studies_for_export(user) -> QuerySet[Study]:
    """The studies whose exports the user may download."""
    if not can_export(user):
        return Study.objects.none()
    return access.studies_for_user(user).order_by("code")


def get_study_for_export(user, study_id: UUID) -> Study:
    """The study if the user may download its exports; 404 if they cannot see it, else 403."""
    study = access.get_study_for_user(user, study_id)
    access.ensure_can(user, access.Action.EXPORT, study=study, message=NO_EXPORT_ROLE)
    return study


def export_subjects(user, study: Study) -> QuerySet:
    """The subjects of the study that the user may see: what their export contains."""
    return access.subjects_for_user(user).filter(study=study)
