"""Adverse events are graded with CTCAE v5.0: the grade must be one the term allows.

Allowed grades are those of the NCI CTCAE v5.0 clean copy (a grade cell "-" means the grade does
not exist for the term): Fatigue 1-3, Nausea 1-3, Chills 1-3, Alanine aminotransferase increased
1-4, Febrile neutropenia 3-5, Eosinophilia 1 and 3 only, Death NOS 5 only.
"""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ecrf.models import AdverseEvent, AuditEvent
from ecrf.models.adverse_event import AWARENESS_NEEDS_SERIOUS, AWARENESS_REQUIRED
from ecrf.services import ae_record, record_update
from ecrf.services.adverse_events import ae_correct

ALLOWED = {
    "Fatigue": (1, 2, 3),
    "Nausea": (1, 2, 3),
    "Chills": (1, 2, 3),
    "Alanine aminotransferase increased": (1, 2, 3, 4),
    "Febrile neutropenia": (3, 4, 5),
    "Eosinophilia": (1, 3),
    "Death NOS": (5,),
}
CASES = [
    (term, grade, grade in allowed)
    for term, allowed in ALLOWED.items()
    for grade in (1, 2, 3, 4, 5)
]


def _record(subject, by, agents, term, grade, **extra):
    if grade == 5:
        extra.setdefault("outcome", "fatal")
        extra.setdefault("death_on", dt.date(2026, 3, 20))
    return ae_record(
        subject=subject,
        ctcae_term=term,
        grade=grade,
        onset_on=dt.date(2026, 3, 12),
        assessments=agents,
        by=by,
        **extra,
    )


@pytest.mark.parametrize(("term", "grade", "allowed"), CASES)
def test_the_service_accepts_exactly_the_grades_the_term_allows(
    subject, alice, all_agents_unrelated, term, grade, allowed
):
    """CTCAE v5.0 allowed grades, checked at every grade 1-5 of each term."""
    before = (AdverseEvent.objects.count(), AuditEvent.objects.count())
    if allowed:
        event = _record(subject, alice, all_agents_unrelated, term, grade)
        assert event.grade == grade
        return
    with pytest.raises(ValidationError) as info:
        _record(subject, alice, all_agents_unrelated, term, grade)
    message = info.value.message_dict["grade"][0]
    assert f"Grade {grade} is not allowed for {term}" in message
    assert ", ".join(str(g) for g in ALLOWED[term]) in message
    assert (AdverseEvent.objects.count(), AuditEvent.objects.count()) == before


def test_the_term_fills_in_its_meddra_code_soc_and_version(subject, alice, all_agents_unrelated):
    """CTCAE v5.0: Fatigue is MedDRA 10016256 in General disorders and administration site
    conditions."""
    event = _record(subject, alice, all_agents_unrelated, "fatigue", 2)
    assert event.ctcae_term == "Fatigue"
    assert event.meddra_code == "10016256"
    assert event.soc == "General disorders and administration site conditions"
    assert event.ctcae_version == "5.0" == subject.study.ctcae_version


def test_an_unknown_term_is_refused_with_the_closest_matches(subject, alice, all_agents_unrelated):
    with pytest.raises(ValidationError) as info:
        _record(subject, alice, all_agents_unrelated, "Fatige", 1)
    message = info.value.message_dict["ctcae_term"][0]
    assert "Unknown CTCAE v5.0 term 'Fatige'" in message and "Fatigue" in message
    assert AdverseEvent.objects.count() == 0


def test_an_other_specify_term_needs_a_verbatim(subject, alice, all_agents_unrelated):
    term = "General disorders and administration site conditions - Other, specify"
    with pytest.raises(ValidationError) as info:
        _record(subject, alice, all_agents_unrelated, term, 2)
    assert "verbatim" in info.value.message_dict
    event = _record(subject, alice, all_agents_unrelated, term, 2, verbatim="Flu-like syndrome")
    assert event.verbatim == "Flu-like syndrome"


def test_grade_5_needs_a_fatal_outcome_and_a_date_of_death(subject, alice, all_agents_unrelated):
    """CTCAE v5.0: grade 5 is death related to the adverse event."""
    with pytest.raises(ValidationError, match="fatal outcome and a date of death"):
        _record(subject, alice, all_agents_unrelated, "Febrile neutropenia", 5, death_on=None)
    with pytest.raises(ValidationError, match="fatal outcome and a date of death"):
        _record(subject, alice, all_agents_unrelated, "Febrile neutropenia", 5, outcome="recovered")
    event = _record(subject, alice, all_agents_unrelated, "Febrile neutropenia", 5)
    assert event.outcome == "fatal"


def test_a_correction_to_a_disallowed_grade_is_refused(subject, bob, all_agents_unrelated):
    event = _record(subject, bob, all_agents_unrelated, "Fatigue", 3)
    with pytest.raises(ValidationError, match="Grade 4 is not allowed for Fatigue"):
        record_update(record=event, changes={"grade": 4}, reason="Worse", by=bob)
    event.refresh_from_db()
    assert event.grade == 3


def test_changing_the_term_updates_its_meddra_code_and_soc_in_the_audit_trail(
    subject, bob, all_agents_unrelated
):
    event = _record(subject, bob, all_agents_unrelated, "Fatigue", 2)
    record_update(record=event, changes={"ctcae_term": "Nausea"}, reason="Recoded", by=bob)
    event.refresh_from_db()
    assert event.meddra_code == "10028813"
    fields = set(
        AuditEvent.objects.filter(
            object_id=str(event.pk), action="ecrf.adverseevent.updated"
        ).values_list("field", flat=True)
    )
    assert fields == {"ctcae_term", "meddra_code", "soc"}


def test_a_record_of_another_ctcae_version_is_refused(subject, alice, all_agents_unrelated):
    event = _record(subject, alice, all_agents_unrelated, "Fatigue", 1)
    with pytest.raises(ValidationError, match="versions are never mixed"):
        record_update(record=event, changes={"ctcae_version": "4.03"}, reason="x", by=alice)


def test_the_admin_form_names_the_allowed_grades(
    client, data_manager, subject, all_agents_unrelated
):
    from django.urls import reverse

    event = _record(subject, data_manager, all_agents_unrelated, "Eosinophilia", 1)
    client.force_login(data_manager)
    url = reverse("admin:ecrf_adverseevent_change", args=[event.pk])
    form = client.get(url).context["adminform"].form
    data = {n: form[n].value() for n in form.fields if form[n].value() not in (None, False)}
    data.update({"grade": "2", "change_reason": "Re-graded"})
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Grade 2 is not allowed for Eosinophilia in CTCAE v5.0; allowed grades: 1, 3." in (
        response.content.decode()
    )
    event.refresh_from_db()
    assert event.grade == 1


# The time the site became aware of a serious event (ICH E2A: the 24-hour reporting clock)


def _serious(subject, by, agents, **extra):
    return _record(
        subject, by, agents, "Fatigue", 3, serious_criteria=("sae_hospitalisation",), **extra
    )


def test_a_serious_event_is_refused_without_the_time_the_site_became_aware(
    subject, alice, all_agents_unrelated
):
    with pytest.raises(ValidationError) as info:
        _serious(subject, alice, all_agents_unrelated)
    assert info.value.message_dict["site_aware_at"] == [AWARENESS_REQUIRED]
    assert not AdverseEvent.objects.exists()


@pytest.mark.parametrize(
    ("aware_at", "message"),
    [
        (
            dt.datetime(2026, 3, 11, 23, 59),
            "The time the site became aware (2026-03-11 23:59) cannot come before the onset "
            "date (2026-03-12).",
        ),
        ("in a minute", "is in the future."),
    ],
)
def test_an_awareness_before_onset_or_in_the_future_is_refused(
    subject, alice, all_agents_unrelated, aware_at, message
):
    if aware_at == "in a minute":
        aware_at = timezone.now() + dt.timedelta(minutes=1)
    else:
        # The dates are the site's: the time is compared in its time zone.
        aware_at = timezone.make_aware(aware_at)
    with pytest.raises(ValidationError) as info:
        _serious(subject, alice, all_agents_unrelated, site_aware_at=aware_at)
    assert message in info.value.message_dict["site_aware_at"][0]
    assert not AdverseEvent.objects.exists()


def test_an_event_that_is_not_serious_has_no_awareness(subject, alice, all_agents_unrelated):
    with pytest.raises(ValidationError) as info:
        _record(
            subject,
            alice,
            all_agents_unrelated,
            "Fatigue",
            2,
            site_aware_at=dt.datetime(2026, 3, 12, 10, 0, tzinfo=dt.UTC),
        )
    assert info.value.message_dict["site_aware_at"] == [AWARENESS_NEEDS_SERIOUS]


def test_the_awareness_is_kept_and_audited(subject, alice, all_agents_unrelated):
    aware = timezone.make_aware(dt.datetime(2026, 3, 12, 0, 0))
    event = _serious(subject, alice, all_agents_unrelated, site_aware_at=aware)
    event.refresh_from_db()
    assert event.site_aware_at == aware
    line = AuditEvent.objects.get(object_id=str(event.pk), field="site_aware_at")
    assert (line.actor, line.old_value) == ("alice", None)
    assert line.new_value == aware.astimezone(dt.UTC).isoformat()


def test_an_event_made_serious_by_a_correction_needs_the_awareness(
    subject, bob, all_agents_unrelated
):
    event = _record(subject, bob, all_agents_unrelated, "Fatigue", 3)
    with pytest.raises(ValidationError) as info:
        ae_correct(
            record=event,
            changes={"serious": True, "sae_hospitalisation": True},
            reason="Admitted overnight",
            by=bob,
        )
    assert info.value.message_dict["site_aware_at"] == [AWARENESS_REQUIRED]
    event.refresh_from_db()
    assert not event.serious and event.version == 1
