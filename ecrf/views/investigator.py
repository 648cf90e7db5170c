"""The investigator's day: what awaits an investigator's decision and signature, on the home page.

The lists are reads (`ecrf.selectors.investigator`, `ecrf.selectors.signatures`); the SAE
reporting clock is the adverse event pages' (`ecrf.safety.sae_clock`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import access
from ..models import AdverseEvent, Subject
from ..safety.sae_clock import SAE_REPORTING_HOURS, sae_report_due, sae_report_overdue
from ..selectors.investigator import awaiting_decisions, open_queries, serious_events
from ..selectors.memo import kept
from ..selectors.signatures import AwaitingSignature, awaiting_signature
from . import subjects

# A serious event stays on the home page until its reporting deadline is this long past.
SAE_SHOWN_AFTER_DEADLINE = dt.timedelta(days=7)
# The decisions and signatures lists show their oldest rows; the DLT dashboard and the subjects'
# casebooks have the rest.
HOME_ROWS = 20
# A subject's row of visits to sign links its oldest few; the next come up as those are signed.
VISITS_SHOWN = 5


@dataclass(frozen=True)
class SaeClock:
    """A serious adverse event and its reporting deadline, as seen at `now`."""

    event: AdverseEvent
    deadline: dt.datetime
    now: dt.datetime

    @property
    def overdue(self) -> bool:
        return sae_report_overdue(self.event.site_aware_at, self.now)

    @property
    def text(self) -> str:
        """ "5 h left", "under 1 h left", "overdue by 3 h", "overdue by 2 days"."""
        hours = int(abs(self.deadline - self.now).total_seconds() // 3600)
        if not self.overdue:
            return f"{hours} h left" if hours else "under 1 h left"
        if hours >= 48:
            return f"overdue by {hours // 24} days"
        return f"overdue by {hours} h" if hours else "overdue by under 1 h"


@dataclass(frozen=True)
class SignatureRow:
    """A subject's row of the signatures list: its oldest VISITS_SHOWN visits to sign, and how
    many more there are."""

    awaiting: AwaitingSignature

    @property
    def visits(self) -> list:
        return self.awaiting.visits[:VISITS_SHOWN]

    @property
    def more_visits(self) -> int:
        return max(len(self.awaiting.visits) - VISITS_SHOWN, 0)


def sae_clocks(events: list[AdverseEvent], now: dt.datetime) -> list[SaeClock]:
    """The events' reporting clocks, the nearest deadline first; an event whose deadline is
    more than SAE_SHOWN_AFTER_DEADLINE past is left out."""
    clocks = [SaeClock(event, sae_report_due(event.site_aware_at), now) for event in events]
    shown = [c for c in clocks if c.deadline >= now - SAE_SHOWN_AFTER_DEADLINE]
    return sorted(shown, key=lambda c: (c.deadline, c.event.subject.subject_code))


def _lists_kept(ids: frozenset) -> dict:
    """The lists that follow from the data alone (`memo.kept`): the decisions awaited over the
    studies of the subjects, the visits and casebooks awaiting signature, the open queries."""
    subjects = list(Subject.objects.filter(pk__in=ids).select_related("site", "study"))
    studies = sorted({s.study for s in subjects}, key=lambda study: study.code)
    queries, total = open_queries(list(ids))
    return {
        "decisions": awaiting_decisions(studies, ids),
        "signatures": awaiting_signature(subjects),
        "queries": queries,
        "query_total": total,
    }


def investigator_day(ids: frozenset) -> dict:
    """The investigator's lists, over the subjects of `ids` (those the user may see); the
    decisions and the signatures at most HOME_ROWS rows each, with their totals."""
    kept_lists = kept("investigator_day", ids, lambda: _lists_kept(ids))
    decisions, signatures = kept_lists["decisions"], kept_lists["signatures"]
    now = timezone.now()
    # Only the events whose deadline is not more than SAE_SHOWN_AFTER_DEADLINE past are read.
    aware_since = now - SAE_SHOWN_AFTER_DEADLINE - dt.timedelta(hours=SAE_REPORTING_HOURS)
    return {
        "decisions": decisions[:HOME_ROWS],
        "decision_total": len(decisions),
        "signatures": [SignatureRow(row) for row in signatures[:HOME_ROWS]],
        "signature_total": len(signatures),
        "sae_clocks": sae_clocks(serious_events(list(ids), aware_since=aware_since), now),
        "sae_shown_days": SAE_SHOWN_AFTER_DEADLINE.days,
        "queries": kept_lists["queries"],
        "query_total": kept_lists["query_total"],
    }


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The home page (`subjects.home`); an investigator's begins with what awaits them."""
    response = subjects.home(request)
    if access.can(request.user, access.Action.DECIDE_DLT):
        visible = frozenset(subjects.visible_subject_codes(request))
        response.context_data["investigator"] = investigator_day(visible)
    return response
