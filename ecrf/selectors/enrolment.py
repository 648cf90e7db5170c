"""Which dose levels of a study a new subject may be enrolled at today, and why the others not.

The escalation design decides, from the same DLT overview and recommendation the DLT dashboard
shows (`ecrf.selectors.dlt.dlt_overview`, `ecrf.escalation.highest_open_dose`); a dose level the
study settings close to enrolment stays closed whatever the design says.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..escalation import dose_closed_reason, highest_open_dose
from ..models import DoseLevel, Study
from .dlt import dlt_overview

CLOSED_IN_SETTINGS = "it is closed to enrolment in the study settings"


@dataclass(frozen=True)
class EnrolmentDoseLevel:
    dose_level: DoseLevel
    # Why a new subject may not be enrolled at it; empty when it is open.
    why_closed: str

    @property
    def is_open(self) -> bool:
        return not self.why_closed


@dataclass(frozen=True)
class EnrolmentDoseLevels:
    levels: list[EnrolmentDoseLevel]
    # The design's recommendation as the DLT dashboard words it (marked provisional while a
    # potential DLT is undecided or a lab toxicity unreconciled).
    advice: str

    @property
    def open_levels(self) -> list[DoseLevel]:
        return [item.dose_level for item in self.levels if item.is_open]

    @property
    def closed(self) -> list[EnrolmentDoseLevel]:
        return [item for item in self.levels if not item.is_open]

    def why_closed(self, dose_level: DoseLevel) -> str:
        """Why `dose_level` is not open; empty when it is."""
        for item in self.levels:
            if item.dose_level.pk == dose_level.pk:
                return item.why_closed
        return CLOSED_IN_SETTINGS


def enrolment_dose_levels(study: Study, cutoff: dt.date | None = None) -> EnrolmentDoseLevels:
    """The study's dose levels, each open or closed to a new subject at the cutoff (today).

    The design counts dose levels from 1 in the order of their numbers, as the dashboard does.
    """
    overview = dlt_overview(study, cutoff)
    levels = list(study.dose_levels.order_by("level"))
    recommendation = overview.recommendation
    highest = highest_open_dose(recommendation, overview.outcomes, max(len(levels), 1))
    items = []
    for index, level in enumerate(levels, start=1):
        why = dose_closed_reason(study.design_method, recommendation, highest, index)
        if not why and not level.open_for_enrolment:
            why = CLOSED_IN_SETTINGS
        items.append(EnrolmentDoseLevel(level, why))
    return EnrolmentDoseLevels(items, overview.advice)
