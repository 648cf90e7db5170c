"""The reporting clock of a serious adverse event.

ICH E2A (section III.A) and ICH E6(R2) 4.11.1: the investigator reports a serious adverse event
to the sponsor immediately, at the latest within 24 hours of becoming aware of it. The clock
therefore starts when the site became aware of the event, not when the event was typed into
the eCRF. The report is due 24 hours after awareness and overdue only after that moment.

Pure Python over plain values, no Django: the pages and the investigator's lists share it.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["SAE_REPORTING_HOURS", "sae_report_due", "sae_report_overdue"]

SAE_REPORTING_HOURS = 24


def sae_report_due(aware_at: dt.datetime) -> dt.datetime:
    """When the report to the sponsor is due: 24 hours after the site became aware."""
    return aware_at + dt.timedelta(hours=SAE_REPORTING_HOURS)


def sae_report_overdue(aware_at: dt.datetime, now: dt.datetime) -> bool:
    """True once more than 24 hours have passed since the site became aware."""
    return now > sae_report_due(aware_at)
