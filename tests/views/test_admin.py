"""The admin saves through the domain services: every page that adds or changes data writes the
audit trail with the reason for change, a service's refusal shows on the form, and the pages
with no service are read-only.
"""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from ecrf import admin as ecrf_admin
from ecrf.models import (
    AdverseEvent,
    AdverseEventAgent,
    AuditEvent,
    DoseAdministration,
    DoseLevel,
    LabResult,
    ReferenceRange,
    Study,
    StudyAssignment,
    Subject,
    Visit,
)
from ecrf.models.adverse_event import AWARENESS_REQUIRED
from ecrf.services import STALE_RECORD, dose_record, lab_record
from tests.html_forms import admin_form, page_form_data

REASON = "Source document says otherwise"


def page_data(client, url) -> dict:
    """GET an admin add or change page and return what its form would send, as a dict."""
    return page_form_data(client, url, admin_form)


def saved(response) -> None:
    """The admin accepted the form: a redirect, not the form again with its errors."""
    if response.status_code == 200:
        context = response.context
        errors = [context["adminform"].form.errors] + [
            formset.formset.errors for formset in context.get("inline_admin_formsets", [])
        ]
        raise AssertionError(f"form refused: {errors}")
    assert response.status_code == 302, response.status_code


def refused(response, message: str) -> None:
    """The page was shown again with `message` (as text: the escaping is the renderer's)."""
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())


def audit_lines(record, **filters):
    return AuditEvent.objects.filter(
        model=record._meta.label, object_id=str(record.pk), **filters
    ).order_by("at", "id")


def change_url(record) -> str:
    return reverse(f"admin:ecrf_{record._meta.model_name}_change", args=[record.pk])


def add_url(model) -> str:
    return reverse(f"admin:ecrf_{model._meta.model_name}_add")


def change(client, record, reason=REASON, **values):
    """Post the record's change page with `values` changed and a reason."""
    data = page_data(client, change_url(record))
    data.update({name: str(value) for name, value in values.items()})
    data["change_reason"] = reason
    return client.post(change_url(record), data)


def assert_changed(record, field, old, new, actor="dana"):
    """One audit line for `field` of `record`, with the old and new value, reason and actor."""
    lines = [
        (a.old_value, a.new_value, a.reason, a.actor) for a in audit_lines(record, field=field)
    ]
    assert (old, new, REASON, actor) in lines, lines


@pytest.fixture
def dm(client, data_manager):
    client.force_login(data_manager)
    return client


# Each registered model has a test below, named in these sets; a new model needs one too.
SAVED_THROUGH_SERVICES = {
    "Study",
    "DoseLevel",
    "StudyAssignment",
    "Subject",
    "Visit",
    "DoseAdministration",
    "AdverseEvent",
    "AdverseEventAgent",
    "LabResult",
    "ReferenceRange",
}
READ_ONLY = {
    "Site",
    "Agent",
    "AgentSchedule",
    "DoseLevelDose",
    "ScheduledVisit",
    "DltReviewQueue",
    "DltRuleSet",
    "AuditEvent",
}


def test_every_registered_model_has_an_admin_test():
    registered = {m.__name__ for m in admin.site._registry if m._meta.app_label == "ecrf"}
    assert registered == SAVED_THROUGH_SERVICES | READ_ONLY


def test_the_admin_calls_no_generic_record_service():
    with open(ecrf_admin.__file__) as file:
        source = file.read()
    assert "record_create" not in source and "record_update" not in source


# Adverse events ------------------------------------------------------------------------------


def test_an_adverse_event_and_its_attributions_change_in_one_admin_save(dm, fatigue_event):
    data = page_data(dm, change_url(fatigue_event))
    assert data["agent_assessments-MAX_NUM_FORMS"] == "0"  # rows are not added to a saved event
    rows = {
        data[f"agent_assessments-{i}-id"]: i for i in range(3)
    }  # the inline rows, by assessment id
    il2 = fatigue_event.agent_assessments.get(agent__code="IL2")
    data.update(
        {
            "grade": "2",
            f"agent_assessments-{rows[str(il2.pk)]}-attribution": "probable",
            "change_reason": REASON,
        }
    )
    saved(dm.post(change_url(fatigue_event), data))
    fatigue_event.refresh_from_db()
    il2.refresh_from_db()
    assert (fatigue_event.grade, fatigue_event.version) == (2, 2)
    assert (il2.attribution, il2.version) == ("probable", 2)
    assert_changed(fatigue_event, "grade", "3", "2")
    assert_changed(il2, "attribution", "possible", "probable")


def test_an_adverse_event_is_added_in_the_admin_with_an_attribution_per_agent(dm, subject):
    data = page_data(dm, add_url(AdverseEvent))
    agents = {data[f"agent_assessments-{i}-agent"]: i for i in range(3)}
    assert len(agents) == 3  # one row per study agent, ready to fill in
    assert data["agent_assessments-MAX_NUM_FORMS"] == "3"
    # A new event is not entered in error: the add page does not ask.
    assert "entered_in_error" not in dm.get(add_url(AdverseEvent)).context["adminform"].form.fields
    data.update(
        {
            "subject": str(subject.pk),
            "ctcae_term": "Nausea",
            "grade": "2",
            "onset_on": "2026-03-05",
            "outcome": "not_recovered",
        }
    )
    for i in agents.values():
        data[f"agent_assessments-{i}-attribution"] = "unrelated"
    saved(dm.post(add_url(AdverseEvent), data))
    event = AdverseEvent.objects.get(subject=subject, ctcae_term="Nausea")
    assert event.agent_assessments.count() == 3
    assert audit_lines(event, field="grade", new_value="2").get().actor == "dana"
    # The service ran its follow-up rules: the event has its DLT assessment.
    assert hasattr(event, "dlt_assessment")


def _serious_in_admin(dm, subject, **values) -> dict:
    data = page_data(dm, add_url(AdverseEvent))
    data.update(
        {
            "subject": str(subject.pk),
            "ctcae_term": "Febrile neutropenia",
            "grade": "3",
            "onset_on": "2026-03-05",
            "outcome": "not_recovered",
            "sae_hospitalisation": "on",
            **values,
        }
    )
    for i in range(3):
        data[f"agent_assessments-{i}-attribution"] = "unrelated"
    return data


def test_a_serious_event_is_added_in_the_admin_with_the_time_the_site_became_aware(dm, subject):
    """ICH E2A: the 24-hour reporting clock counts from when the site became aware."""
    data = _serious_in_admin(dm, subject, site_aware_at_0="2026-03-05", site_aware_at_1="22:15")
    saved(dm.post(add_url(AdverseEvent), data))
    event = AdverseEvent.objects.get(subject=subject, ctcae_term="Febrile neutropenia")
    aware = timezone.make_aware(dt.datetime(2026, 3, 5, 22, 15))
    assert event.serious and event.site_aware_at == aware
    line = audit_lines(event, field="site_aware_at").get()
    assert (line.actor, line.new_value) == ("dana", aware.astimezone(dt.UTC).isoformat())


def test_a_serious_event_without_the_awareness_is_refused_in_the_admin(dm, subject):
    response = dm.post(add_url(AdverseEvent), _serious_in_admin(dm, subject))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["site_aware_at"] == [AWARENESS_REQUIRED]
    assert not AdverseEvent.objects.filter(subject=subject).exists()


def test_an_adverse_event_without_every_attribution_is_refused_on_the_form(dm, subject):
    data = page_data(dm, add_url(AdverseEvent))
    data.update(
        {
            "subject": str(subject.pk),
            "ctcae_term": "Nausea",
            "grade": "2",
            "onset_on": "2026-03-05",
            "agent_assessments-0-attribution": "unrelated",
        }
    )
    refused(dm.post(add_url(AdverseEvent), data), "Give the attribution for every study agent")
    assert not AdverseEvent.objects.filter(subject=subject).exists()


def test_a_grade_the_term_does_not_allow_shows_next_to_the_grade(dm, event):
    before = AuditEvent.objects.count()
    response = change(dm, event, grade=5)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["grade"]
    event.refresh_from_db()
    assert event.grade == 1 and AuditEvent.objects.count() == before


def test_a_locked_subject_s_adverse_event_is_refused_at_the_top_of_the_form(
    dm, data_manager, event, subject
):
    from ecrf.services.locking import lock_place

    lock_place(target=subject, by=data_manager)
    before = AuditEvent.objects.count()
    response = change(dm, event, grade=2)
    refused(response, "is locked by dana")
    assert response.context["adminform"].form.non_field_errors()
    event.refresh_from_db()
    assert event.grade == 1 and AuditEvent.objects.count() == before


def test_an_attribution_someone_changed_meanwhile_refuses_the_whole_admin_save(dm, alice, event):
    from ecrf.services.adverse_events import ae_update

    data = page_data(dm, change_url(event))
    ae_update(
        event=event,
        changes={},
        agent_changes={"IM": {"attribution": "unlikely"}},
        reason="Investigator's assessment",
        by=alice,
    )
    before = AuditEvent.objects.count()
    data.update({"grade": "2", "change_reason": REASON})
    refused(dm.post(change_url(event), data), STALE_RECORD)
    event.refresh_from_db()
    assert event.grade == 1 and AuditEvent.objects.count() == before


def test_an_event_saved_by_someone_else_meanwhile_is_refused_as_stale(dm, alice, event):
    from ecrf.services.adverse_events import ae_update

    data = page_data(dm, change_url(event))
    ae_update(event=event, changes={"grade": 2}, agent_changes={}, reason="Per source", by=alice)
    data.update({"verbatim": "queasy", "change_reason": REASON})
    refused(dm.post(change_url(event), data), STALE_RECORD)
    event.refresh_from_db()
    assert event.verbatim == ""


def test_a_change_of_attributions_alone_still_needs_a_reason(dm, event):
    data = page_data(dm, change_url(event))
    data["agent_assessments-0-attribution"] = "possible"
    refused(dm.post(change_url(event), data), "Give a reason")
    assert not event.agent_assessments.filter(attribution="possible").exists()


def test_one_agent_s_attribution_is_corrected_on_its_own_admin_page(dm, event):
    il2 = event.agent_assessments.get(agent__code="IL2")
    saved(change(dm, il2, attribution="possible"))
    il2.refresh_from_db()
    assert (il2.attribution, il2.version) == ("possible", 2)
    assert_changed(il2, "attribution", "unrelated", "possible")
    assert dm.get(add_url(AdverseEventAgent)).status_code == 403


def test_the_admin_opens_no_transaction_around_a_service(dm, event, monkeypatch):
    """The services' transactions are the outermost ones (durable), so the admin opens none."""
    depths = []
    real = ecrf_admin.ae_update

    def spy(**kwargs):
        # Only the test's own transaction is open.
        depths.append(len(connection.atomic_blocks))
        return real(**kwargs)

    monkeypatch.setattr(ecrf_admin, "ae_update", spy)
    saved(change(dm, event, grade=2))
    assert depths == [1]


# Dose levels and the study ------------------------------------------------------------------


def test_a_data_manager_closes_a_dose_level_for_enrolment_in_the_admin(dm, study):
    level = study.dose_levels.get(level=2)
    data = page_data(dm, change_url(level))
    data.pop("open_for_enrolment")  # unticked
    data["change_reason"] = REASON
    saved(dm.post(change_url(level), data))
    level.refresh_from_db()
    assert not level.open_for_enrolment and level.version == 2
    assert_changed(level, "open_for_enrolment", "True", "False")
    assert dm.get(add_url(DoseLevel)).status_code == 403


def test_a_dose_level_s_number_is_not_changed_by_its_service(study, data_manager):
    from django.core.exceptions import ValidationError

    from ecrf.services.studies import dose_level_correct

    level = study.dose_levels.get(level=2)
    with pytest.raises(ValidationError) as refusal:
        dose_level_correct(dose_level=level, changes={"level": 3}, reason=REASON, by=data_manager)
    assert "level" in refusal.value.message_dict


def test_a_study_setting_is_corrected_in_the_admin(dm, study):
    saved(change(dm, study, dlt_window_days=28))
    study.refresh_from_db()
    assert study.dlt_window_days == 28
    assert_changed(study, "dlt_window_days", "21", "28")
    assert dm.get(add_url(Study)).status_code == 403


def test_a_service_s_permission_refusal_shows_at_the_top_of_the_form(client, alice, study):
    """A nurse given the admin's change permission still may not change the study's settings."""
    from django.contrib.auth.models import Permission

    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    alice.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_study", "change_study"])
    )
    client.force_login(alice)
    before = AuditEvent.objects.count()
    response = change(client, study, dlt_window_days=28)
    refused(response, "Only data managers and administrators may change the study definition.")
    study.refresh_from_db()
    assert study.dlt_window_days == 21 and AuditEvent.objects.count() == before


def test_the_admin_offers_only_the_subjects_the_user_may_see(client, study, site_b, subject):
    from ecrf.services import subject_screen

    other = subject_screen(
        study=study,
        site=site_b,
        subject_code="B-001",
        consent_on=dt.date(2026, 2, 1),
        by=system_user(),
    )
    manager_b = _site_data_manager(study, site_b)
    client.force_login(manager_b)
    page = client.get(add_url(DoseAdministration))
    choices = {
        str(pk)
        for pk in page.context["adminform"]
        .form.fields["subject"]
        .queryset.values_list("pk", flat=True)
    }
    assert choices == {str(other.pk)}


def system_user():
    from ecrf.services import system_actor

    return system_actor("test")


def _site_data_manager(study, site):
    from django.contrib.auth import get_user_model

    from ecrf.access import ensure_role_groups

    ensure_role_groups()
    user = get_user_model().objects.create_user("site-dm", password="x", is_staff=True)
    user.groups.add(user.groups.model.objects.get(name="data_manager"))
    StudyAssignment.objects.create(user=user, study=study, site=site)
    return user


def test_a_superuser_assigns_a_user_to_a_site_in_the_admin(client, study, site_b, alice):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(root)
    data = page_data(client, add_url(StudyAssignment))
    data.update({"user": str(alice.pk), "study": str(study.pk), "site": str(site_b.pk)})
    saved(client.post(add_url(StudyAssignment), data))
    assignment = StudyAssignment.objects.get(user=alice, site=site_b)
    assert audit_lines(assignment, field="site").get().actor == "root"
    response = client.post(change_url(assignment), {**data, "change_reason": REASON})
    assert response.status_code == 403


# Subjects, visits, doses, labs --------------------------------------------------------------


def test_a_subject_is_screened_in_the_admin_with_the_next_subject_id(dm, study, site_a):
    data = page_data(dm, add_url(Subject))
    data.update(
        {"study": str(study.pk), "site": str(site_a.pk), "consent_on": "2026-02-01", "sex": "M"}
    )
    saved(dm.post(add_url(Subject), data))
    subject = Subject.objects.get(study=study)
    assert (subject.subject_code, subject.status) == ("A-001", "screening")
    assert audit_lines(subject, field="subject_code").get().new_value == "A-001"


def test_a_subject_is_corrected_in_the_admin(dm, subject):
    saved(change(dm, subject, birth_year=1960))
    subject.refresh_from_db()
    assert subject.birth_year == 1960
    assert_changed(subject, "birth_year", None, "1960")


def test_a_visit_is_corrected_in_the_admin_and_its_queries_follow(dm, subject):
    visit = subject.visits.get(label="C1D8")
    saved(change(dm, visit, planned_on="2026-03-10"))
    visit.refresh_from_db()
    assert visit.planned_on == dt.date(2026, 3, 10)
    assert_changed(visit, "planned_on", "2026-03-09", "2026-03-10")
    assert dm.get(add_url(Visit)).status_code == 403


def test_a_dose_is_recorded_in_the_admin_with_its_cycle_and_day(dm, subject):
    data = page_data(dm, add_url(DoseAdministration))
    agent = subject.study.agents.get(code="IM")
    data.update(
        {
            "subject": str(subject.pk),
            "agent": str(agent.pk),
            "given_on": "2026-03-03",
            "given_dose": "400",
        }
    )
    saved(dm.post(add_url(DoseAdministration), data))
    dose = DoseAdministration.objects.get(subject=subject)
    assert (dose.cycle, dose.day, dose.planned_dose, dose.unit) == (1, 2, 400, "mg")
    assert audit_lines(dose, field="given_dose").get().new_value == "400"


def test_a_dose_far_above_the_plan_needs_the_confirmation_in_the_admin_too(dm, subject):
    """The rule is the service's (issue #21 item 4): IL-2 30 MIU at dose level 1 (3 planned)."""
    data = page_data(dm, add_url(DoseAdministration))
    agent = subject.study.agents.get(code="IL2")
    data.update(
        {
            "subject": str(subject.pk),
            "agent": str(agent.pk),
            "given_on": "2026-03-11",
            "given_dose": "30",
            "reason_category": "other",
            "reason": "Pharmacy prepared the dose",
        }
    )
    refused(
        dm.post(add_url(DoseAdministration), data),
        "IL2: 30 MIU given, 3 planned (1000 %) is more than 110 % of the planned dose.",
    )
    assert not DoseAdministration.objects.exists()
    data["confirm_above_plan"] = "on"
    saved(dm.post(add_url(DoseAdministration), data))
    dose = DoseAdministration.objects.get(subject=subject)
    assert dose.given_dose == 30
    assert "Dose above plan confirmed" in audit_lines(dose, field="given_dose").get().reason


def test_a_dose_is_corrected_in_the_admin_and_moves_to_its_new_day(dm, subject, alice):
    dose = dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=dt.date(2026, 3, 2),
        given_dose=Decimal("400"),
        by=alice,
    )
    saved(change(dm, dose, given_on="2026-03-04"))
    dose.refresh_from_db()
    assert (dose.given_on, dose.day) == (dt.date(2026, 3, 4), 3)
    assert_changed(dose, "given_on", "2026-03-02", "2026-03-04")


def test_a_dose_on_a_locked_visit_is_refused_on_the_form(dm, subject, alice, data_manager):
    from ecrf.services.locking import lock_place

    dose = dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=dt.date(2026, 3, 2),
        given_dose=Decimal("400"),
        visit=subject.visits.get(label="C1D1"),
        by=alice,
    )
    lock_place(target=subject.visits.get(label="C1D1"), by=data_manager)
    before = AuditEvent.objects.count()
    refused(change(dm, dose, given_dose="300", reason="Pharmacy log"), "is locked")
    assert AuditEvent.objects.count() == before


def _lab(subject, by, value="30"):
    return lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal(value),
        unit="U/L",
        lln=Decimal("0"),
        uln=Decimal("40"),
        collected_at=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC),
        by=by,
    )


def test_a_lab_result_is_recorded_in_the_admin_and_graded(dm, subject):
    data = page_data(dm, add_url(LabResult))
    data.update(
        {
            "subject": str(subject.pk),
            "test_code": "ALT",
            "value": "250",
            "unit": "U/L",
            "lln": "0",
            "uln": "40",
            "collected_at_0": "2026-03-03",
            "collected_at_1": "09:00:00",
        }
    )
    saved(dm.post(add_url(LabResult), data))
    result = LabResult.objects.get(subject=subject)
    assert result.ctcae_grade == 3
    assert audit_lines(result, field="value").get().actor == "dana"


def test_a_lab_result_is_corrected_in_the_admin_and_regraded(dm, subject, alice):
    result = _lab(subject, alice)
    saved(change(dm, result, value="250"))
    result.refresh_from_db()
    assert (result.value, result.ctcae_grade) == (250, 3)
    assert_changed(result, "value", "30", "250")


def test_a_reference_range_is_corrected_in_the_admin(dm, site_a, data_manager):
    from ecrf.services import system_actor
    from ecrf.services.records import record_create

    reference = record_create(
        record=ReferenceRange(
            site=site_a,
            test_code="ALT",
            unit="U/L",
            lln=Decimal("0"),
            uln=Decimal("40"),
            effective_from=dt.date(2026, 1, 1),
        ),
        by=system_actor("test"),
    )
    saved(change(dm, reference, uln="45"))
    reference.refresh_from_db()
    assert reference.uln == 45
    assert_changed(reference, "uln", "40", "45")
    assert dm.get(add_url(ReferenceRange)).status_code == 403


# Read-only pages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_name", ["Site", "Agent", "AgentSchedule", "DoseLevelDose", "ScheduledVisit"]
)
def test_the_study_definition_is_read_only_in_the_admin(dm, study, model_name):
    model = next(m for m in admin.site._registry if m.__name__ == model_name)
    record = model.objects.filter(pk__in=model.objects.values("pk")).first()
    assert record is not None
    before = AuditEvent.objects.count()
    assert dm.get(add_url(model)).status_code == 403
    assert dm.post(add_url(model), {}).status_code == 403
    assert dm.get(change_url(record)).status_code == 200  # shown
    assert dm.post(change_url(record), {"change_reason": REASON}).status_code == 403
    assert AuditEvent.objects.count() == before


def test_the_dlt_review_queue_and_the_audit_trail_are_read_only(dm, fatigue_event):
    from ecrf.models import DltReviewQueue

    before = AuditEvent.objects.count()
    for record in (DltReviewQueue.objects.first(), AuditEvent.objects.first()):
        assert dm.get(add_url(type(record))).status_code == 403
        assert dm.post(change_url(record), {"change_reason": REASON}).status_code == 403
    assert AuditEvent.objects.count() == before


def test_a_dose_level_s_doses_show_read_only_on_its_page(dm, study):
    level = study.dose_levels.get(level=1)
    page = dm.get(change_url(level))
    assert page.status_code == 200
    formset = page.context["inline_admin_formsets"][0]
    assert not formset.has_change_permission and not formset.has_add_permission


def test_saving_an_unchanged_admin_page_needs_no_reason_and_writes_nothing(dm, fatigue_event):
    before = AuditEvent.objects.count()
    saved(dm.post(change_url(fatigue_event), page_data(dm, change_url(fatigue_event))))
    fatigue_event.refresh_from_db()
    assert fatigue_event.version == 1 and AuditEvent.objects.count() == before


# Grade history of an adverse event ----------------------------------------------------------


@pytest.fixture
def stepped(subject, alice):
    """Fatigue grade 3 on 2026-03-13 with a history: grade 2 from onset, grade 3 from 03-16."""
    from tests.factories import fatigue_grade_3

    return fatigue_grade_3(
        subject,
        by=alice,
        grade_changes=[(dt.date(2026, 3, 13), 2), (dt.date(2026, 3, 16), 3)],
    )


def _current_history(event):
    return list(event.grade_changes.filter(entered_in_error=False).values_list("from_on", "grade"))


def test_the_grade_history_is_shown_read_only_on_the_event_page(dm, stepped):
    page = dm.get(change_url(stepped))
    content = page.content.decode()
    assert "grade history (changed on the adverse event page)" in content.lower()
    assert "March 16, 2026" in content or "2026-03-16" in content
    # Nothing of the history can be typed or added here.
    assert 'name="grade_changes-0-grade"' not in content
    assert 'name="grade_changes-0-from_on"' not in content
    formsets = {f.formset.prefix: f for f in page.context["inline_admin_formsets"]}
    history = formsets["grade_changes"]
    assert not history.has_add_permission and not history.has_change_permission
    assert not history.has_delete_permission


def test_a_new_event_page_has_no_history_inline(dm):
    page = dm.get(add_url(AdverseEvent))
    prefixes = {f.formset.prefix for f in page.context["inline_admin_formsets"]}
    assert "grade_changes" not in prefixes


def test_an_admin_save_of_an_event_keeps_its_history(dm, stepped):
    saved(change(dm, stepped, verbatim="Exhausted", despite_supportive_care="on"))
    stepped.refresh_from_db()
    assert stepped.verbatim == "Exhausted" and stepped.despite_supportive_care is True
    assert_changed(stepped, "despite_supportive_care", "False", "True")
    assert _current_history(stepped) == [(dt.date(2026, 3, 13), 2), (dt.date(2026, 3, 16), 3)]


def test_an_admin_grade_change_the_history_does_not_fit_is_refused(dm, stepped):
    before = AuditEvent.objects.count()
    refused(
        change(dm, stepped, grade=2),
        "the worst grade of the history (3) is not the event's grade (2)",
    )
    stepped.refresh_from_db()
    assert stepped.grade == 3 and AuditEvent.objects.count() == before


def test_an_event_marked_entered_in_error_in_the_admin_takes_its_history_along(dm, stepped):
    saved(
        change(
            dm,
            stepped,
            entered_in_error="on",
            entered_in_error_reason="Recorded on the wrong subject",
        )
    )
    stepped.refresh_from_db()
    assert stepped.entered_in_error
    assert _current_history(stepped) == []
    reasons = set(stepped.grade_changes.values_list("entered_in_error_reason", flat=True))
    assert reasons == {"Recorded on the wrong subject"}


def test_the_admin_records_a_new_event_s_supportive_care_through_the_service(dm, subject):
    data = page_data(dm, add_url(AdverseEvent))
    data.update(
        {
            "subject": str(subject.pk),
            "ctcae_term": "Nausea",
            "grade": "2",
            "onset_on": "2026-03-14",
            "outcome": "not_recovered",
            "despite_supportive_care": "on",
        }
    )
    for index in range(3):
        data[f"agent_assessments-{index}-attribution"] = "unrelated"
        data[f"agent_assessments-{index}-action_taken"] = "none"
    saved(dm.post(add_url(AdverseEvent), data))
    event = AdverseEvent.objects.get(ctcae_term="Nausea")
    assert event.despite_supportive_care is True
    assert AuditEvent.objects.filter(
        object_id=str(event.pk), field="despite_supportive_care", actor="dana"
    ).exists()
