"""A dose given far above the plan: a possible medication error.

Pure functions over plain values, no ORM (DESIGN.md, rule 1). The protocol plans a dose per
agent and dose level; a dose given above a study's percentage of it (the study file's
``dosing.above_plan_pct``; 110 % by default, as issue #21 asks) is not a change a reason
explains: it is a possible medication error ("an unintended failure in the drug treatment
process that leads to, or has the potential to lead to, harm to the patient", EU GVP Annex I),
and an overdose of IL-2, whose toxicity rises with the dose, must be seen by whoever judges the
DLTs. It is saved only with an explicit confirmation of the dose, and it keeps a data query
open while it stands.

"Above" is strictly above: a dose of exactly the limit (6.6 MIU of a planned 6 at 110 %) is
not flagged; a dose given where none is planned (a planned 0) is always above the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

DEFAULT_ABOVE_PLAN_PCT = 110


@dataclass(frozen=True)
class DoseAbovePlan:
    """A dose above the plan: the dose given, the dose planned and the percentage."""

    given: Decimal
    planned: Decimal
    unit: str
    # None when no dose was planned (a planned 0): no percentage of nothing.
    pct: Decimal | None

    def describe(self) -> str:
        """e.g. '60 MIU given, 6 planned (1000 %)'."""
        share = f" ({number_text(self.pct)} %)" if self.pct is not None else " (none planned)"
        return (
            f"{number_text(self.given)} {self.unit} given, "
            f"{number_text(self.planned)} planned{share}"
        )


def number_text(value: Decimal) -> str:
    """A number as a person writes it: 60, 6.6, 111.7 (not 60.000)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def dose_pct(given: Decimal, planned: Decimal) -> Decimal:
    """The dose given as a percentage of the dose planned, to one decimal (half up)."""
    return (Decimal(given) * 100 / Decimal(planned)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )


def dose_above_plan(
    *, given: Decimal, planned: Decimal, unit: str, limit_pct: int
) -> DoseAbovePlan | None:
    """The dose as a `DoseAbovePlan` when it is more than `limit_pct` % of the plan, else None.

    The comparison is exact (given * 100 > planned * limit), not on the rounded percentage: a
    dose a hair above the limit is flagged even where its percentage reads as the limit.
    """
    given, planned = Decimal(given), Decimal(planned)
    if planned <= 0:
        return DoseAbovePlan(given, planned, unit, None) if given > 0 else None
    if given * 100 <= planned * limit_pct:
        return None
    return DoseAbovePlan(given, planned, unit, dose_pct(given, planned))
