"""Every state change of clinical data: `<entity>_<action>(*, ..., by)`, atomic and audited."""

from .adverse_events import ae_record
from .audit import Actor, as_actor, system_actor
from .dosing import dose_record
from .labs import lab_record
from .records import (
    REASON_REQUIRED,
    STALE,
    STALE_RECORD,
    StaleRecord,
    record_create,
    record_mark_entered_in_error,
    record_update,
)
from .studies import study_load
from .subjects import subject_enrol, subject_screen, visits_schedule

__all__ = [
    "REASON_REQUIRED",
    "STALE",
    "STALE_RECORD",
    "Actor",
    "StaleRecord",
    "ae_record",
    "as_actor",
    "dose_record",
    "lab_record",
    "record_create",
    "record_mark_entered_in_error",
    "record_update",
    "study_load",
    "subject_enrol",
    "subject_screen",
    "system_actor",
    "visits_schedule",
]
