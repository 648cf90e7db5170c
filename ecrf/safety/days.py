"""The one time base (DESIGN.md rule 7): study day 1 is the first dose of cycle 1, the days
before it count back from -1 with no day 0, as SDTM --DY does (the SDTMIG study day: date minus
the reference start date, plus 1 on or after it).

Pure Python; ``ecrf.safety.tables.study_day`` is the same rule over pandas columns.
"""

from __future__ import annotations

import datetime as dt


def study_day(on: dt.date, day1: dt.date) -> int:
    """The study day of `on` when day 1 is `day1`: the day before day 1 is day -1."""
    offset = (on - day1).days
    return offset if offset < 0 else offset + 1
