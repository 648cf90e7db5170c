"""The nurse's pages: home, subject list, screening and enrolment, visits and the casebook."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ecrf.models import (
    AdverseEvent,
    AdverseEventAgent,
    AuditEvent,
    LabResult,
    Subject,
    SubjectStatus,
    Visit,
)
from ecrf.services import dose_record, lab_record, system_actor
from ecrf.services.subjects import subject_correct
from ecrf.views import subjects as subjects_views
from tests.factories import user_create
from tests.html_forms import page_form_data


def test_screening_gives_the_next_subject_id_of_the_study_pattern(client, alice, study, subject):
    client.force_login(alice)
    url = reverse("subject_register", args=[study.pk])
    response = client.post(url, {"site": study.sites.get(code="A").pk, "consent_on": "2026-10-01",
                                 "sex": "M", "birth_year": "1960"})  # fmt: skip
    assert response.status_code == 302
    created = Subject.objects.get(consent_on=dt.date(2026, 10, 1))
    assert created.subject_code == "A-002"  # "{site}-{number:03d}", the second subject
    assert created.status == SubjectStatus.SCREENING
    assert AuditEvent.objects.filter(object_id=str(created.pk), actor="alice").exists()


def test_screening_refuses_a_consent_date_in_the_future(client, alice, study):
    client.force_login(alice)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    response = client.post(
        reverse("subject_register", args=[study.pk]),
        {"site": study.sites.get(code="A").pk, "consent_on": tomorrow.isoformat(), "sex": "F"},
    )
    assert response.status_code == 200
    assert "cannot be in the future" in response.content.decode()
    assert Subject.objects.count() == 0


def test_enrolment_needs_eligibility_and_an_open_dose_level(client, alice, study, site_a):
    from ecrf.services import record_update, subject_screen

    screened = subject_screen(study=study, site=site_a, subject_code="A-050",
                              consent_on=dt.date(2026, 9, 1), by=alice)  # fmt: skip
    closed = study.dose_levels.get(level=2)
    record_update(
        record=closed,
        changes={"open_for_enrolment": False},
        reason="Cohort full",
        by=system_actor("test"),
    )
    client.force_login(alice)
    url = reverse("subject_enrol", args=[screened.pk])
    form = client.get(url).context["form"]
    assert list(form.fields["dose_level"].queryset.values_list("level", flat=True)) == [1]
    refused = client.post(url, {"enrolled_on": "2026-09-05", "dose_level": closed.pk})
    assert refused.status_code == 200
    body = refused.content.decode()
    assert "This field is required" in body  # eligibility date
    response = client.post(
        url,
        {
            "eligibility_confirmed_on": "2026-09-04",
            "enrolled_on": "2026-09-05",
            "dose_level": study.dose_levels.get(level=1).pk,
            "first_dose_on": "2026-09-07",
        },
    )
    assert response.status_code == 302
    screened.refresh_from_db()
    assert screened.status == SubjectStatus.ON_TREATMENT
    assert screened.visits.filter(label="C1D1", planned_on=dt.date(2026, 9, 7)).exists()
    # Two 21-day cycles: end of treatment on day 43, follow-up 30 days later.
    assert screened.visits.filter(label="EOT", planned_on=dt.date(2026, 10, 19)).exists()
    assert screened.visits.filter(label="Follow-up", planned_on=dt.date(2026, 11, 18)).exists()


def test_enrolment_offers_only_the_dose_levels_the_design_opens_and_says_why_not_the_others(
    client, alice, study, site_a, subject
):
    """3+3 (Storer 1989): with 1 of 3 evaluable patients at dose level 1 the cohort is not
    complete, so dose level 2 is neither offered nor accepted."""
    from ecrf.services import subject_screen

    screened = subject_screen(study=study, site=site_a, subject_code="A-050",
                              consent_on=dt.date(2026, 9, 1), by=alice)  # fmt: skip
    client.force_login(alice)
    url = reverse("subject_enrol", args=[screened.pk])
    response = client.get(url)
    form = response.context["form"]
    assert list(form.fields["dose_level"].queryset.values_list("level", flat=True)) == [1]
    page = response.content.decode()
    assert 'id="enrolment-dose-levels"' in page
    assert (
        "DL2 IL-2 6 MIU/day: the escalation to it has not been cleared (only dose level 1 is "
        "open)." in page
    )
    assert "complete the cohort of 3 at dose level 1" in page
    refused = client.post(url, {"eligibility_confirmed_on": "2026-09-04",
                                "enrolled_on": "2026-09-05",
                                "dose_level": study.dose_levels.get(level=2).pk})  # fmt: skip
    assert refused.status_code == 200
    assert "That dose level is not open today" in refused.content.decode()
    screened.refresh_from_db()
    assert screened.status == SubjectStatus.SCREENING


def test_enrolment_refuses_eligibility_and_enrolment_dates_after_today_on_their_fields(
    client, alice, study, site_a
):
    from django.utils import timezone

    from ecrf.services import subject_screen

    screened = subject_screen(study=study, site=site_a, subject_code="A-050",
                              consent_on=dt.date(2026, 9, 1), by=alice)  # fmt: skip
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    client.force_login(alice)
    response = client.post(
        reverse("subject_enrol", args=[screened.pk]),
        {"eligibility_confirmed_on": tomorrow.isoformat(), "enrolled_on": tomorrow.isoformat(),
         "dose_level": study.dose_levels.get(level=1).pk},
    )  # fmt: skip
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["eligibility_confirmed_on"] == [
        f"The eligibility date ({tomorrow}) cannot be in the future: today is "
        f"{timezone.localdate()}."
    ]
    assert errors["enrolled_on"][0].startswith(f"The enrolment date ({tomorrow}) cannot be")
    screened.refresh_from_db()
    assert screened.status == SubjectStatus.SCREENING


def test_the_subject_list_searches_and_filters(client, alice, subject, study, site_a):
    from ecrf.services import subject_screen

    subject_screen(study=study, site=site_a, subject_code="A-777", consent_on=dt.date(2026, 9, 1),
                   by=alice)  # fmt: skip
    client.force_login(alice)
    url = reverse("subject_list")
    assert "A-777" in client.get(url, {"q": "777"}).content.decode()
    assert "A-001" not in client.get(url, {"q": "777"}).content.decode()
    on_treatment = client.get(url, {"status": "on_treatment"}).content.decode()
    assert "A-001" in on_treatment and "A-777" not in on_treatment


def test_a_visit_outside_its_window_needs_an_override_reason(client, alice, subject):
    visit = subject.visits.get(label="C1D8")  # planned 2026-03-09, window -1/+1
    client.force_login(alice)
    url = reverse("visit_edit", args=[visit.pk])
    response = client.post(url, {"status": "done", "done_on": "2026-03-12"})
    assert response.status_code == 200
    assert "outside its window (2026-03-08 to 2026-03-10)" in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == "planned"
    response = client.post(
        url, {"status": "done", "done_on": "2026-03-12", "override_reason": "Public holiday"}
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert (visit.status, visit.done_on) == ("done", dt.date(2026, 3, 12))
    row = AuditEvent.objects.get(object_id=str(visit.pk), field="done_on")
    assert "Public holiday" in row.reason and "outside its window" in row.reason


def test_a_missed_visit_needs_a_reason(client, alice, subject):
    visit = subject.visits.get(label="C1D8")
    client.force_login(alice)
    response = client.post(reverse("visit_edit", args=[visit.pk]), {"status": "missed"})
    assert "Give the reason the visit was missed" in response.content.decode()
    response = client.post(
        reverse("visit_edit", args=[visit.pk]), {"status": "missed", "missed_reason": "In hospital"}
    )
    assert response.status_code == 302
    assert Visit.objects.get(pk=visit.pk).missed_reason == "In hospital"


def test_delaying_a_cycle_moves_its_visits_and_later_ones_with_the_reason(client, alice, subject):
    client.force_login(alice)
    before = dict(subject.visits.values_list("label", "planned_on"))
    response = client.post(
        reverse("cycle_delay", args=[subject.pk]),
        {"cycle": 2, "days": 7, "reason": "Grade 3 fatigue not resolved"},
    )
    assert response.status_code == 302
    after = dict(subject.visits.values_list("label", "planned_on"))
    assert after["C1D8"] == before["C1D8"]
    assert after["C2D1"] == before["C2D1"] + dt.timedelta(days=7)
    assert after["EOT"] == before["EOT"] + dt.timedelta(days=7)
    assert after["Follow-up"] == before["Follow-up"] + dt.timedelta(days=7)
    row = AuditEvent.objects.filter(action="ecrf.visit.cycle_delayed").first()
    assert row.reason == "Cycle 2 delayed by 7 days: Grade 3 fatigue not resolved"


def test_an_unscheduled_visit_is_added(client, alice, subject):
    client.force_login(alice)
    response = client.post(
        reverse("visit_unscheduled", args=[subject.pk]),
        {"label": "Unscheduled: fever", "done_on": "2026-03-05"},
    )
    assert response.status_code == 302
    assert subject.visits.filter(kind="unscheduled", label="Unscheduled: fever").exists()


def test_home_lists_overdue_visits_and_reconciliation_items(client, alice, subject):
    lab_record(subject=subject, test_code="ALT", value=Decimal(250), unit="U/L", uln=Decimal(40),
               collected_at=dt.datetime(2026, 3, 9, 8, tzinfo=dt.UTC), by=alice)  # fmt: skip
    client.force_login(alice)
    page = client.get(reverse("home")).content.decode()
    assert "C1D8" in page  # planned 2026-03-09, long past
    assert "1 lab result of grade 3 or more without a matching adverse event" in page


def test_home_shows_the_first_rows_of_a_long_list_and_counts_the_rest(
    client, alice, subject, monkeypatch
):
    """Every visit of the schedule planned before today is overdue; the list shows the first
    HOME_LIST_ROWS of them, oldest planned first, and says how many there are."""
    monkeypatch.setattr(subjects_views, "HOME_LIST_ROWS", 2)
    today = timezone.localdate()
    late = subject.visits.filter(planned_on__lt=today - dt.timedelta(days=7)).order_by("planned_on")
    assert late.count() > 2
    client.force_login(alice)
    page = client.get(reverse("home")).content.decode()
    overdue = page.split('id="overdue"')[1].split("</table>")[0]
    assert overdue.count("<tr>") == 1 + 2  # the header and two rows
    assert [v.label for v in late[:2]] == [v.label for v in late if f">{v.label}</a>" in overdue]
    assert f"The first 2 of {late.count()}, by planned date" in page


def test_the_end_of_treatment_is_recorded_with_its_date_and_reason(client, alice, subject):
    """A dated fact with a reason (issue #12): the subject moves to follow-up, the audit line
    gives the reason and the detail, and a second end is refused with the field named."""
    dose_record(subject=subject, agent=subject.study.agents.get(code="IM"),
                given_on=subject.first_dose_on, given_dose=Decimal(400), by=alice)  # fmt: skip
    client.force_login(alice)
    url = reverse("treatment_end", args=[subject.pk])
    before = client.post(url, {"ended_on": "2026-03-01", "reason": "adverse_event"})
    assert "before the first dose (2026-03-02)" in before.content.decode()
    assert Subject.objects.get(pk=subject.pk).treatment_end_on is None
    response = client.post(
        url, {"ended_on": "2026-03-12", "reason": "adverse_event", "detail": "Grade 3 fatigue"}
    )
    assert response.status_code == 302
    saved = Subject.objects.get(pk=subject.pk)
    assert (saved.treatment_end_on, saved.treatment_end_reason, saved.status) == (
        dt.date(2026, 3, 12),
        "adverse_event",
        "off_treatment",
    )
    row = AuditEvent.objects.get(action="ecrf.subject.treatment_ended", field="treatment_end_on")
    assert row.reason == "End of treatment: Adverse event: Grade 3 fatigue"
    assert row.old_value in ("", None) and "2026-03-12" in row.new_value
    again = client.post(url, {"ended_on": "2026-03-13", "reason": "completed"})
    assert "Treatment already ended on 2026-03-12" in again.content.decode()
    assert Subject.objects.get(pk=subject.pk).treatment_end_reason == "adverse_event"


def test_the_end_of_treatment_needs_a_reason_from_the_list(client, alice, subject):
    client.force_login(alice)
    response = client.post(
        reverse("treatment_end", args=[subject.pk]), {"ended_on": "2026-03-12", "reason": "bored"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert Subject.objects.get(pk=subject.pk).treatment_end_on is None


@pytest.mark.parametrize(
    "url_name", ["subject_enrol", "visit_unscheduled", "cycle_delay", "treatment_end"]
)
def test_another_sites_nurse_gets_404(client, charlie, subject, url_name):
    client.force_login(charlie)
    url = reverse(url_name, args=[subject.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {}).status_code == 404


def _bulk_records(subject, events: int, labs: int):
    """Adverse events and lab results written straight to the tables: this test measures the
    casebook's reads, not the services' writes."""
    agents = list(subject.study.agents.all())
    rows = AdverseEvent.objects.bulk_create(
        AdverseEvent(subject=subject, ctcae_term="Fatigue", meddra_code="10016256", grade=1,
                     onset_on=dt.date(2026, 3, 5) + dt.timedelta(days=i % 60))
        for i in range(events)
    )  # fmt: skip
    AdverseEventAgent.objects.bulk_create(
        AdverseEventAgent(adverse_event=row, agent=agent, attribution="possible")
        for row in rows
        for agent in agents
    )
    visits = list(subject.visits.all())
    LabResult.objects.bulk_create(
        LabResult(subject=subject, visit=visits[i % len(visits)], test_code="ALT",
                  value=Decimal(30 + i % 50), unit="U/L", uln=Decimal(40), ctcae_grade=0,
                  collected_at=dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC) + dt.timedelta(hours=i))
        for i in range(labs)
    )  # fmt: skip


def _casebook_queries(client, subject) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("subject_detail", args=[subject.pk]))
    assert response.status_code == 200
    return len(queries)


def test_the_casebook_query_count_does_not_grow_with_the_data(client, alice, subject):
    """2 adverse events and 20 results against 200 events and 2,000 results: same queries."""
    client.force_login(alice)
    _bulk_records(subject, 2, 20)
    small = _casebook_queries(client, subject)
    _bulk_records(subject, 198, 1980)
    assert AdverseEvent.objects.count() == 200 and LabResult.objects.count() == 2000
    assert _casebook_queries(client, subject) == small


def _corrected(subject, alice):
    subject_correct(subject=subject, changes={"birth_year": 1958}, reason="From the ID card",
                    by=alice)  # fmt: skip


def test_a_sponsor_viewer_is_refused_the_casebooks_audit_tab_and_not_offered_it(
    client, study, subject, alice
):
    """The capability table (Action.READ_AUDIT) denies sponsor viewers the record-level trail."""
    _corrected(subject, alice)
    client.force_login(user_create("sam", "sponsor_viewer", study, None))
    url = reverse("subject_detail", args=[subject.pk])
    assert client.get(url, {"tab": "audit"}).status_code == 403
    page = client.get(url).content.decode()
    assert "?tab=audit" not in page
    assert "Audit trail" not in page
    assert client.get(url, {"tab": "labs"}).status_code == 200


def test_a_nurse_reads_the_casebooks_audit_tab(client, subject, alice):
    _corrected(subject, alice)
    client.force_login(alice)
    url = reverse("subject_detail", args=[subject.pk])
    assert "?tab=audit" in client.get(url).content.decode()
    page = client.get(url, {"tab": "audit"})
    assert page.status_code == 200
    assert "From the ID card" in page.content.decode()


def _stepped_fatigue(subject, by, onset_on):
    from ecrf.services import ae_record

    return ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=3,
        onset_on=onset_on,
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")),
        by=by,
        grade_changes=[(onset_on, 2), (onset_on + dt.timedelta(days=3), 3)],
    )


def test_the_casebook_shows_the_grade_history_next_to_the_event(client, alice, subject):
    _stepped_fatigue(subject, alice, dt.date(2026, 3, 1))
    client.force_login(alice)
    page = client.get(reverse("subject_detail", args=[subject.pk]), {"tab": "aes"})
    assert (
        '<div class="small text-muted grade-history">grade 2 from 2026-03-01, '
        "grade 3 from 2026-03-04</div>" in page.content.decode()
    )


def test_the_grade_histories_cost_the_casebook_no_query_per_event(client, alice, subject):
    url = reverse("subject_detail", args=[subject.pk]) + "?tab=aes"
    client.force_login(alice)

    def queries():
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    for day in (1, 2):
        _stepped_fatigue(subject, alice, dt.date(2026, 3, day))
    small = queries()
    for day in range(3, 13):
        _stepped_fatigue(subject, alice, dt.date(2026, 3, day))
    assert queries() == small


def test_a_saved_visit_reopens_with_its_date_and_saves_unchanged_without_a_reason(
    client, alice, subject
):
    """A date input shows only an ISO date: the saved visit date must come back as 2026-03-09, not
    in the en-gb display format (09/03/2026), or the field reopens empty and an unchanged save asks
    for a reason and a date."""
    visit = subject.visits.get(label="C1D8")  # planned 2026-03-09, window -1/+1
    client.force_login(alice)
    url = reverse("visit_edit", args=[visit.pk])
    assert client.post(url, {"status": "done", "done_on": "2026-03-09"}).status_code == 302

    page = client.get(url).content.decode()
    assert 'name="done_on" value="2026-03-09"' in page
    audited = AuditEvent.objects.filter(object_id=str(visit.pk)).count()
    response = client.post(url, page_form_data(client, url))
    assert response.status_code == 302, response.content.decode()
    visit.refresh_from_db()
    assert (visit.status, visit.done_on, visit.version) == ("done", dt.date(2026, 3, 9), 2)
    assert AuditEvent.objects.filter(object_id=str(visit.pk)).count() == audited


def test_every_date_field_of_the_entry_forms_renders_an_iso_date():
    """Screening, enrolment, visits, dosing, adverse events and the audit filter: each date
    field's widget renders a saved date the way a date input reads it (YYYY-MM-DD)."""
    import inspect

    from django import forms

    import ecrf.forms as package
    from ecrf.forms import adverse_event, audit, dosing, labs, oversight, subjects

    checked = []
    for module in (adverse_event, audit, dosing, labs, oversight, subjects, package):
        for name, form in inspect.getmembers(module, inspect.isclass):
            if not issubclass(form, forms.BaseForm) or not hasattr(form, "base_fields"):
                continue
            for field_name, field in form.base_fields.items():
                if type(field) is forms.DateField:
                    rendered = field.widget.format_value(dt.date(2026, 11, 28))
                    checked.append((name, field_name, rendered))
    assert checked
    assert [row for row in checked if row[2] != "2026-11-28"] == []
    assert {("ScreeningForm", "consent_on"), ("EnrolmentForm", "enrolled_on"),
            ("VisitForm", "done_on")} <= {row[:2] for row in checked}  # fmt: skip


def test_an_overdue_visit_says_how_many_days_overdue_it_is(client, alice, subject):
    """Overdue counts from the day the window closed (planned date + window after): a visit whose
    window closed yesterday is 1 day overdue; one whose window closes today is still due."""
    from ecrf.services import record_update

    today = timezone.localdate()
    labels = ["C1D8", "C2D8", "C2D1"]  # windows -1/+1, -1/+1 and 0/0
    visits = [subject.visits.get(label=label) for label in labels]
    # The windows close 3 days ago, yesterday and today.
    for visit, closed_days_ago in zip(visits, (3, 1, 0), strict=True):
        planned_on = today - dt.timedelta(days=closed_days_ago + visit.window_after)
        record_update(record=visit, changes={"planned_on": planned_on}, reason="Test schedule",
                      by=alice)  # fmt: skip
    others = subject.visits.exclude(label__in=labels)
    for visit in others.filter(planned_on__lt=today):
        record_update(record=visit, changes={"status": "missed", "missed_reason": "Not here"},
                      reason="Test schedule", by=alice)  # fmt: skip
    client.force_login(alice)
    page = client.get(reverse("home")).content.decode()
    overdue = page.split('id="overdue"')[1].split("</table>")[0]
    due = page.split('id="due"')[1].split("</table>")[0]
    assert "C1D8" in overdue and "3 days overdue" in overdue
    assert "C2D8" in overdue and "1 day overdue" in overdue
    closed = f'window closed <span class="text-nowrap">{today - dt.timedelta(days=1):%Y-%m-%d}'
    assert closed in overdue
    assert "C2D1" in due and "C2D1" not in overdue
    assert "+1 d" not in overdue
