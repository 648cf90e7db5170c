"""Loading CTCAE grade descriptions from the workbook a user provides."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from ..ctcae.dictionary import CTCAE_VERSION
from ..ctcae.workbook import TermDescription
from ..models import CtcaeTermDescription

DESCRIPTION_FIELDS = ["term", "definition", "grade_1", "grade_2", "grade_3", "grade_4", "grade_5"]


def ctcae_descriptions_load(*, descriptions: Sequence[TermDescription]) -> int:
    """Store (or refresh) the grade descriptions of every term, all or nothing."""
    rows = [
        CtcaeTermDescription(
            ctcae_version=CTCAE_VERSION,
            meddra_code=item.meddra_code,
            term=item.term,
            definition=item.definition,
            **{f"grade_{g}": item.grade_descriptions.get(g, "") for g in range(1, 6)},
        )
        for item in descriptions
    ]
    # Durable: the load_ctcae command's one transaction.
    with transaction.atomic(durable=True):
        CtcaeTermDescription.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["ctcae_version", "meddra_code"],
            update_fields=DESCRIPTION_FIELDS,
            batch_size=500,
        )
    return len(rows)


def ctcae_grade_descriptions(term: str, version: str = CTCAE_VERSION) -> dict[int, str]:
    """The loaded grade descriptions of a term; empty when no workbook has been loaded."""
    row = CtcaeTermDescription.objects.filter(ctcae_version=version, term=term).first()
    return row.grade_descriptions() if row else {}
