"""Giving a user access to a study: one site, or every site of the study."""

from __future__ import annotations

from ..models import Site, Study, StudyAssignment
from .records import record_create


def study_assignment_create(*, user, study: Study, site: Site | None, by) -> StudyAssignment:
    """Assign `user` to one site of `study`, or to every site when `site` is None.

    Only data managers and administrators may do it (the study-setup check of `record_create`);
    the assignment is audited like any other record.
    """
    return record_create(record=StudyAssignment(user=user, study=study, site=site), by=by)
