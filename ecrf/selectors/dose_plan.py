"""Doses given far above the plan (possible medication errors), for the automatic data queries
and the DLT pages. The rule is `ecrf.safety.dose_plan`; each study states its limit."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.db.models import F

from ..models import DoseAdministration, Subject
from ..safety.dose_plan import DoseAbovePlan, dose_above_plan


@dataclass(frozen=True)
class DoseAbovePlanRow:
    dose_id: UUID
    subject_id: UUID
    agent: str
    given_on: dt.date
    cycle: int
    day: int
    limit_pct: int
    above: DoseAbovePlan

    def describe(self) -> str:
        """e.g. 'dose above plan: 60 MIU given, 6 planned (1000 %)'."""
        return f"dose above plan: {self.above.describe()}"


def doses_above_plan(subjects: Iterable[Subject]) -> dict[UUID, list[DoseAbovePlanRow]]:
    """Per subject id, its current doses above its study's limit, by date then agent.

    One query whatever the number of subjects: only doses above the plan are read (a dose
    given where none is planned is one), and each carries its study's limit.
    """
    ids = [subject.pk for subject in subjects]
    found: dict[UUID, list[DoseAbovePlanRow]] = defaultdict(list)
    if not ids:
        return {}
    rows = (
        DoseAdministration.objects.filter(
            subject_id__in=ids, entered_in_error=False, given_dose__gt=F("planned_dose")
        )
        .annotate(limit_pct=F("subject__study__dose_above_plan_pct"))
        .order_by("given_on", "agent__code")
        .values_list(
            "pk", "subject_id", "agent__code", "given_on", "cycle", "day", "planned_dose",
            "given_dose", "unit", "limit_pct",
        )
    )  # fmt: skip
    for pk, subject_id, agent, given_on, cycle, day, planned, given, unit, limit in rows:
        above = dose_above_plan(given=given, planned=planned, unit=unit, limit_pct=limit)
        if above is not None:
            found[subject_id].append(
                DoseAbovePlanRow(pk, subject_id, agent, given_on, cycle, day, limit, above)
            )
    return dict(found)


def subject_doses_above_plan(subject: Subject) -> list[DoseAbovePlanRow]:
    """One subject's doses above its study's limit. One query."""
    return doses_above_plan([subject]).get(subject.pk, [])
