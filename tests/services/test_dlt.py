"""Potential DLTs are flagged by the protocol rules, decided by a site investigator with an
electronic signature, and shown in the admin and on the investigator dashboard.

Protocol DLT definition, default rule set: grade 3 non-haematological events are DLTs, except
fatigue lasting 7 days or less; only events at least possibly related, with onset in days 1-21.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from ecrf.models import AuditEvent, DltAssessment, DltStatus, Signature
from ecrf.selectors.dlt import dlt_overview
from ecrf.services import ae_record
from ecrf.services.adverse_events import ae_correct
from ecrf.services.dlt import MEANING_CONFIRM, dlt_decide
from ecrf.services.signatures import ONLY_SITE_INVESTIGATOR, WRONG_PASSWORD
from tests.factories import fatigue_grade_3

PASSWORD = "correct horse battery"


@pytest.fixture
def fatigue(subject, alice):
    """Fatigue grade 3 from day 12 (2026-03-13) for 10 days, possibly related to IL-2."""
    return fatigue_grade_3(subject, resolved_on=dt.date(2026, 3, 23), outcome="recovered", by=alice)


def test_recording_an_event_flags_a_potential_dlt_with_a_readable_reason(fatigue):
    assessment = DltAssessment.objects.get(adverse_event=fatigue)
    assert assessment.rule_flag and assessment.status == DltStatus.POTENTIAL
    assert assessment.onset_day == 12
    assert "Fatigue grade 3 for 10 days" in assessment.rule_reason
    assert "IL2" in assessment.rule_reason


def test_a_site_investigator_confirms_with_a_signature(fatigue, bob):
    assessment = fatigue.dlt_assessment
    decided = dlt_decide(
        assessment=assessment,
        decision="confirmed",
        reason="Fatigue prevented daily activities for 10 days",
        by=bob,
        password=PASSWORD,
    )
    assert decided.status == DltStatus.CONFIRMED
    signature = decided.signature
    assert (signature.signer, signature.printed_name, signature.meaning) == (
        bob,
        "Bob Baker",
        MEANING_CONFIRM,
    )
    assert len(signature.content_hash) == 64 and signature.signed_at.tzinfo is not None
    row = AuditEvent.objects.get(object_id=str(assessment.pk), field="decision")
    assert (row.new_value, row.actor, row.action) == (
        "confirmed",
        "bob",
        "ecrf.dltassessment.confirmed",
    )


def test_a_wrong_password_signs_nothing(fatigue, bob):
    with pytest.raises(ValidationError) as info:
        dlt_decide(
            assessment=fatigue.dlt_assessment,
            decision="ruled_out",
            reason="Not limiting",
            by=bob,
            password="guess",
        )
    assert info.value.message_dict["password"] == [WRONG_PASSWORD]
    assert Signature.objects.count() == 0
    assert DltAssessment.objects.get(adverse_event=fatigue).status == DltStatus.POTENTIAL


@pytest.mark.parametrize("person", ["alice", "charlie"])
def test_only_an_investigator_of_the_site_can_decide(fatigue, request, person):
    user = request.getfixturevalue(person)
    with pytest.raises(PermissionDenied, match=ONLY_SITE_INVESTIGATOR):
        dlt_decide(
            assessment=fatigue.dlt_assessment,
            decision="confirmed",
            reason="x",
            by=user,
            password=PASSWORD,
        )
    assert Signature.objects.count() == 0


def test_a_change_that_alters_the_flag_after_a_decision_marks_it_for_review(fatigue, bob):
    dlt_decide(
        assessment=fatigue.dlt_assessment,
        decision="confirmed",
        reason="Limiting",
        by=bob,
        password=PASSWORD,
    )
    il2 = fatigue.agent_assessments.get(agent__code="IL2")
    ae_correct(record=il2, changes={"attribution": "unlikely"}, reason="Re-assessed", by=bob)
    assessment = DltAssessment.objects.get(adverse_event=fatigue)
    assert not assessment.rule_flag
    assert assessment.status == DltStatus.CONFIRMED and assessment.needs_review


def test_until_decided_a_potential_dlt_counts_and_a_ruling_out_overrides_it(fatigue, bob):
    cutoff = dt.date(2026, 4, 30)
    overview = dlt_overview(fatigue.subject.study, cutoff)
    assert overview.levels[0].summary.with_dlt == 1
    assert [item.event for item in overview.queue] == [fatigue]
    dlt_decide(
        assessment=fatigue.dlt_assessment,
        decision="ruled_out",
        reason="Pre-existing fatigue",
        by=bob,
        password=PASSWORD,
    )
    overview = dlt_overview(fatigue.subject.study, cutoff)
    assert overview.levels[0].summary.with_dlt == 0 and overview.queue == []
    row = overview.subjects[0]
    assert row.events[0].flag.is_dlt and row.events[0].status == DltStatus.RULED_OUT


def test_the_admin_list_shows_badges_and_filters_by_dlt_status(client, data_manager, fatigue):
    client.force_login(data_manager)
    url = reverse("admin:ecrf_adverseevent_changelist")
    page = client.get(url).content.decode()
    assert "dlt-potential" in page and "Potential DLT" in page
    assert "Fatigue" in client.get(url, {"dlt_status": "potential"}).content.decode()
    assert "Fatigue" not in client.get(url, {"dlt_status": "confirmed"}).content.decode()
    assert "Fatigue" in client.get(url, {"grade3plus": "yes"}).content.decode()
    queue = client.get(reverse("admin:ecrf_dltreviewqueue_changelist")).content.decode()
    assert "Fatigue" in queue and "Decide and sign" in queue
    levels = client.get(reverse("admin:ecrf_doselevel_changelist")).content.decode()
    assert "With DLT" in levels and "Replacements needed" in levels
    subjects = client.get(reverse("admin:ecrf_subject_changelist")).content.decode()
    assert "DLT-evaluable" in subjects


def test_the_dashboard_shows_the_queue_and_the_decision_page_signs(client, bob, fatigue):
    client.force_login(bob)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "Design recommendation" in page and "Fatigue" in page
    decide = reverse("dlt_decide", args=[fatigue.dlt_assessment.pk])
    response = client.post(
        decide,
        {
            "decision": "confirmed",
            "reason": "Limiting",
            "password": "wrong",
        },
    )
    assert response.status_code == 200 and WRONG_PASSWORD in response.content.decode()
    response = client.post(
        decide,
        {
            "decision": "confirmed",
            "reason": "Limiting",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert DltAssessment.objects.get(adverse_event=fatigue).status == DltStatus.CONFIRMED


def test_another_sites_user_gets_404_and_a_nurse_cannot_sign(client, charlie, alice, fatigue):
    decide = reverse("dlt_decide", args=[fatigue.dlt_assessment.pk])
    client.force_login(charlie)
    assert client.get(decide).status_code == 404
    assert client.post(decide, {}).status_code == 404
    client.force_login(alice)
    assert client.get(decide).status_code == 200
    assert client.post(decide, {"decision": "confirmed"}).status_code == 403


def test_an_investigator_can_declare_a_dlt_the_rules_did_not_flag(subject, alice, bob):
    """Grade 3 fatigue lasting 5 days is not a DLT by the default rules (7 days or less)."""
    from ecrf.services.dlt import MEANING_DECLARE

    short = ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=3,
        onset_on=dt.date(2026, 3, 13),
        resolved_on=dt.date(2026, 3, 18),
        outcome="recovered",
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("probable", "none")),
        by=alice,
    )
    assessment = short.dlt_assessment
    assert assessment.status == DltStatus.NOT_DLT and assessment.rule == "short_fatigue"
    decided = dlt_decide(
        assessment=assessment,
        decision="confirmed",
        reason="Bed-bound; the protocol team judges it dose-limiting",
        by=bob,
        password=PASSWORD,
    )
    assert decided.status == DltStatus.CONFIRMED and not decided.rule_flag
    assert decided.signature.meaning == MEANING_DECLARE


def test_new_dlt_settings_on_the_study_reapply_the_rules(fatigue, data_manager):
    """With min_attribution "probable", an event only possibly related is not a DLT."""
    from ecrf.services.studies import study_correct

    study_correct(
        study=fatigue.subject.study,
        changes={"dlt_min_attribution": "probable"},
        reason="Protocol amendment 2",
        by=data_manager,
    )
    assessment = DltAssessment.objects.get(adverse_event=fatigue)
    assert assessment.status == DltStatus.NOT_DLT and assessment.rule == "not_related"
    assert AuditEvent.objects.filter(
        model="ecrf.Study", field="dlt_min_attribution", new_value="probable"
    ).exists()


def _ctx_doses(subject, alice, given_by_day):
    """Cyclophosphamide 50 mg planned daily; `given_by_day` maps study day to the dose given."""
    from ecrf.services import dose_record

    ctx = subject.study.agents.get(code="CTX")
    for day, given in given_by_day.items():
        offset = day - 1 if day > 0 else day
        dose_record(
            subject=subject,
            agent=ctx,
            given_on=subject.first_dose_on + dt.timedelta(days=offset),
            given_dose=Decimal(given),
            reason="" if given == 50 else "Held for nausea",
            by=alice,
        )


@pytest.mark.parametrize(
    ("given_by_day", "evaluable"),
    [
        # 16 full doses of 21 in the window: 800 / 1050 mg = 76.2 %, at least 75 %: evaluable.
        # A missed lead-in dose (day -1) and a missed dose on day 22 lie outside the window.
        (
            {**dict.fromkeys(range(1, 22), 50), **dict.fromkeys((16, 17, 18, 19, 20, -1, 22), 0)},
            True,
        ),
        # Day 21 is the window's last day: missing it too leaves 750 / 1050 mg = 71.4 %.
        ({**dict.fromkeys(range(1, 22), 50), **dict.fromkeys((16, 17, 18, 19, 20, 21), 0)}, False),
    ],
)
def test_exposure_counts_the_doses_of_window_days_1_to_21_only(
    subject, alice, given_by_day, evaluable
):
    """Protocol DLT window 21 days, minimum exposure 75 % of the planned dose (study settings):
    the doses before day 1 and after day 21 do not count, those of days 1 and 21 do."""
    _ctx_doses(subject, alice, given_by_day)
    overview = dlt_overview(subject.study, cutoff=dt.date(2026, 4, 30))
    (row,) = overview.subjects
    assert row.evaluability.evaluable is evaluable, row.evaluability.reason


def _il2_doses(subject, alice, given, category, event=None):
    """IL-2 3 MIU planned on days 10-14 (2026-03-11 to 15); `given` per day."""
    from ecrf.services import dose_record

    il2 = subject.study.agents.get(code="IL2")
    for day, dose in zip(range(10, 15), given, strict=True):
        changed = dose != 3
        dose_record(
            subject=subject,
            agent=il2,
            given_on=subject.first_dose_on + dt.timedelta(days=day - 1),
            given_dose=Decimal(dose),
            reason="Held" if changed else "",
            reason_category=category if changed else "",
            adverse_event=event if changed else None,
            by=alice,
        )


@pytest.mark.parametrize(
    ("category", "setting", "evaluable"),
    [
        ("adverse_event", True, True),
        ("logistics", True, False),
        ("adverse_event", False, False),
    ],
)
def test_two_of_five_il2_doses_for_toxicity_leave_the_subject_evaluable(
    subject, alice, category, setting, evaluable
):
    """Issue #12: a subject who received 2 of 5 IL-2 doses because of toxicity is evaluable
    (study setting dlt.underdosing_for_toxicity_evaluable, default true); for logistics, or
    with the setting off, 40% is under the protocol's 75%."""
    study = subject.study
    study.dlt_underdosing_for_toxicity_evaluable = setting
    study.save(update_fields=["dlt_underdosing_for_toxicity_evaluable"])
    _il2_doses(subject, alice, (3, 3, 0, 0, 0), category)
    (row,) = dlt_overview(study, cutoff=dt.date(2026, 4, 30)).subjects
    assert row.evaluability.evaluable is evaluable, row.evaluability.reason
    assert row.exposure_pct == {"IL2": 40.0}
    assert row.window_end == dt.date(2026, 3, 22)  # study day 21
    if evaluable:
        assert "(the shortfall for adverse events)" in row.evaluability.reason


def test_dlt_report_json_lists_window_end_and_exposure_per_agent(subject, alice):
    import json
    from io import StringIO

    from django.core.management import call_command

    _il2_doses(subject, alice, (3, 3, 3, 3, 0), "logistics")
    out = StringIO()
    call_command("dlt_report", "--study", subject.study.code, "--cutoff", "2026-04-30",
                 "--format", "json", stdout=out)  # fmt: skip
    (row,) = json.loads(out.getvalue())["subjects"]
    assert (row["window_end"], row["exposure_pct"]) == ("2026-03-22", {"IL2": 80.0})
    assert row["evaluable"] is True
    text = StringIO()
    call_command("dlt_report", "--study", subject.study.code, "--cutoff", "2026-04-30",
                 stdout=text)  # fmt: skip
    assert "window ends 2026-03-22; exposure: IL2 80%" in text.getvalue()


def test_the_grade_history_decides_the_time_at_grade_3_and_an_edit_of_it_reflags(subject, alice):
    """Default rule set, short_fatigue: CTCAE v5.0 "Fatigue" grade 3 that comes down within
    7 days is not a DLT. An event of 9 days (2026-03-13 to 03-22, the day before cycle 2 is due) recorded at
    grade 3 only is a DLT; another, from 03-14 with its history (grade 3, then grade 1 from
    03-19), spent 5 days at grade 3, so it is not; an edit of the history moving the step down
    to 03-22 (8 days at grade 3) flags it again, with its audit line."""
    from ecrf.services.adverse_events import ae_update

    plain = fatigue_grade_3(
        subject, resolved_on=dt.date(2026, 3, 22), outcome="recovered", by=alice
    )
    assert DltAssessment.objects.get(adverse_event=plain).rule_flag
    stepped = fatigue_grade_3(
        subject, resolved_on=dt.date(2026, 3, 22), outcome="recovered", by=alice,
        onset_on=dt.date(2026, 3, 14),
        grade_changes=[(dt.date(2026, 3, 14), 3), (dt.date(2026, 3, 19), 1)],
    )  # fmt: skip
    assessment = DltAssessment.objects.get(adverse_event=stepped)
    assert (assessment.rule_flag, assessment.rule) == (False, "short_fatigue")
    ae_update(
        event=stepped, changes={}, agent_changes={}, reason="Source: fatigue lasted longer",
        by=alice, grade_changes=[(dt.date(2026, 3, 14), 3), (dt.date(2026, 3, 22), 1)],
    )  # fmt: skip
    assessment.refresh_from_db()
    assert (assessment.rule_flag, assessment.rule) == (True, "grade_3_non_haematological")
    assert AuditEvent.objects.filter(
        object_id=str(assessment.pk), field="rule_flag", new_value="True"
    ).exists()
