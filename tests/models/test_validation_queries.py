"""The records' validation (AuditedModel: clean_fields, validate_unique, validate_constraints)
gives Django's own answer in fewer queries: the check constraints of a record in one SELECT,
no look-up of a foreign key already loaded nor of a new record's random key."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from ecrf.models import AdverseEvent, DoseAdministration, LabResult, Subject

GOOD = {"ctcae_term": "Fatigue", "grade": 2, "onset_on": dt.date(2026, 3, 13)}
# Each breaks another check constraint of AdverseEvent (and some break two at once).
BROKEN = [
    {"resolved_on": dt.date(2026, 3, 1)},  # resolved before its onset
    {"entered_in_error": True},  # in error with no reason
    {"serious": True},  # serious with no criterion
    {"outcome": "fatal"},  # fatal with no date of death
    {"grade": 5, "resolved_on": dt.date(2026, 3, 1), "entered_in_error": True},
]


def _django_answer(record) -> dict:
    """What Django's own Model.validate_constraints says: the second route."""
    try:
        models.Model.validate_constraints(record)
    except ValidationError as error:
        return {
            name: sorted(str(m) for m in messages) for name, messages in error.message_dict.items()
        }
    return {}


def _our_answer(record) -> dict:
    try:
        record.validate_constraints()
    except ValidationError as error:
        return {
            name: sorted(str(m) for m in messages) for name, messages in error.message_dict.items()
        }
    return {}


@pytest.mark.parametrize("changes", BROKEN)
def test_the_same_errors_as_djangos_own_validation(subject, changes):
    event = AdverseEvent(subject=subject, **{**GOOD, **changes})
    ours = _our_answer(event)
    assert ours, "the constraint was not found broken"
    assert ours == _django_answer(event)


def test_a_good_record_passes_both(subject):
    event = AdverseEvent(subject=subject, **GOOD)
    assert _our_answer(event) == _django_answer(event) == {}


def test_plain_check_constraints_are_worked_out_without_a_query(subject):
    event = AdverseEvent(subject=subject, **GOOD)
    checks = [
        c for _m, cs in event.get_constraints() for c in cs if isinstance(c, models.CheckConstraint)
    ]
    assert len(checks) >= 4
    with CaptureQueriesContext(connection) as queries:
        event.validate_constraints()
    assert len(queries) == 0


def test_other_check_constraints_are_tested_in_one_query(subject):
    event = AdverseEvent(subject=subject, **GOOD)
    # An expression: the database works it out.
    event.grade = models.ExpressionWrapper(models.Value(2), output_field=models.IntegerField())
    with CaptureQueriesContext(connection) as queries:
        event.validate_constraints()
    assert len(queries) == 1


def _checks(record) -> list:
    return [
        c
        for _m, cs in record.get_constraints()
        for c in cs
        if isinstance(c, models.CheckConstraint)
    ]


# Values around each constraint's edges, NULLs and other fields (F) included.
DOSES = [
    {"planned_dose": Decimal(400), "given_dose": Decimal(400)},
    {"planned_dose": Decimal(400), "given_dose": Decimal("399.999")},
    {"planned_dose": Decimal(0), "given_dose": Decimal(0), "reason": "missed"},
    {"planned_dose": Decimal(-1), "given_dose": Decimal(-1)},
    {
        "planned_dose": Decimal(400),
        "given_dose": Decimal(200),
        "reason": "toxicity",
        "reason_category": "adverse_event",
    },  # fmt: skip
    {"planned_dose": Decimal(400), "given_dose": Decimal(200), "reason_category": "other"},
    {"planned_dose": Decimal(400), "given_dose": Decimal(400), "adverse_event_id": uuid.uuid4()},
    {"planned_dose": Decimal(400), "given_dose": Decimal(400), "entered_in_error": True},
    {
        "planned_dose": Decimal(400),
        "given_dose": Decimal(400),
        "entered_in_error": True,
        "entered_in_error_reason": "wrong subject",
    },  # fmt: skip
]
LABS = [
    {"value": Decimal(30), "lln": None, "uln": None, "ctcae_grade": None},
    {"value": Decimal(-0.1), "lln": Decimal(10), "uln": Decimal(40), "ctcae_grade": 0},
    {"value": Decimal(30), "lln": Decimal(41), "uln": Decimal(40), "ctcae_grade": 4},
    {"value": Decimal(30), "lln": Decimal(40), "uln": Decimal(40), "ctcae_grade": 5},
    {"value": Decimal(30), "lln": Decimal(50), "uln": None, "ctcae_grade": None},
]
EVENTS = [
    {**GOOD, **changes}
    for changes in [
        *BROKEN,
        {"grade": 0},
        {"grade": 6},
        {"grade": 5, "outcome": "fatal", "death_on": dt.date(2026, 3, 14)},
        {"resolved_on": dt.date(2026, 3, 13)},
        {"serious": True, "sae_hospitalisation": True},
        {
            "serious": True,
            "sae_hospitalisation": True,
            "site_aware_at": dt.datetime(2026, 3, 13, tzinfo=dt.UTC),
        },
        {"onset_on": None, "resolved_on": dt.date(2026, 3, 1)},
    ]
]


@pytest.mark.parametrize(
    ("model", "values"),
    [(DoseAdministration, v) for v in DOSES]
    + [(LabResult, v) for v in LABS]
    + [(AdverseEvent, v) for v in EVENTS],
)
def test_the_plain_answer_is_the_databases(subject, model, values):
    record = model(subject=subject, **values)
    checks = _checks(record)
    fields = record._get_field_expression_map(meta=record._meta)
    in_database = record._failed_in_database(checks, fields)
    assert [c.name for c in record._failed_checks(checks, None)] == [c.name for c in in_database]


def test_full_clean_looks_up_neither_a_loaded_subject_nor_the_new_key(subject):
    event = AdverseEvent(subject=Subject.objects.get(pk=subject.pk), **GOOD)
    with CaptureQueriesContext(connection) as queries:
        event.full_clean()
    assert [
        q["sql"] for q in queries if "ecrf_subject" in q["sql"] or "ecrf_adverseevent" in q["sql"]
    ] == []


def test_a_subject_given_by_its_id_alone_is_still_looked_up(subject):
    event = AdverseEvent(subject_id=uuid.uuid4(), **GOOD)
    with pytest.raises(ValidationError) as refused:
        event.clean_fields()
    assert "is not a valid choice" in str(refused.value.message_dict["subject"])
