"""The research nurse's adverse event form: recording, correcting, CTCAE checks, conflicts,
access by site and role, and the CTCAE term search behind the type-ahead."""

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from ecrf.forms.adverse_event import SERIOUS_NEEDS_CRITERION
from ecrf.forms.base import REASON_FOR_CHANGE_REQUIRED
from ecrf.models import (
    AdverseEvent,
    AdverseEventAgent,
    AuditEvent,
    CtcaeTermDescription,
)
from ecrf.models.adverse_event import (
    AWARENESS_NEEDS_SERIOUS,
    AWARENESS_REQUIRED,
    OTHER_SPECIFY_NEEDS_VERBATIM,
)
from ecrf.services import STALE_RECORD
from ecrf.views.adverse_events import NOTHING_CHANGED, SAE_DEADLINE, SAE_OVERDUE
from tests.factories import ae_edit_data as edit_data
from tests.factories import aware_text, fatigue_grade_3, user_create


def event_data(**overrides):
    """A complete new-event form as the nurse submits it."""
    data = {
        "ctcae_term": "Fatigue",
        "verbatim": "Tired all day, naps twice",
        "grade": "3",
        "onset_on": "2026-03-12",
        "resolved_on": "",
        "outcome": "recovering",
        "death_on": "",
        "serious": "no",
        "attribution_CTX": "unlikely",
        "action_CTX": "none",
        "attribution_IM": "possible",
        "action_IM": "reduced",
        "attribution_IL2": "probable",
        "action_IL2": "interrupted",
    }
    data.update(overrides)
    return data


def field_block(response, name):
    """The HTML of one field's wrapper: its label, input(s), help text and errors."""
    page = response.content.decode()
    start = page.index(f'id="div_id_{name}"')
    following = page.find('id="div_id_', start + 1)
    return page[start : following if following != -1 else len(page)]


def create_url(subject):
    return reverse("ae_create", args=[subject.pk])


def edit_url(event):
    return reverse("ae_edit", args=[event.pk])


@pytest.fixture
def event(subject, alice):
    """A grade 3 fatigue at site A, recorded by Alice, possibly related to IL-2."""
    return fatigue_grade_3(subject, onset_on=dt.date(2026, 3, 12), by=alice)


@pytest.fixture
def monitor(study, site_a):
    return user_create("molly", "monitor", study, site_a)


def test_alice_records_a_grade_3_event_with_an_attribution_for_each_agent(client, alice, subject):
    client.force_login(alice)
    response = client.post(create_url(subject), event_data())

    assert response.status_code == 302
    assert response.url == reverse("subject_detail", args=[subject.pk]) + "#aes"
    event = AdverseEvent.objects.get(subject=subject)
    assert (event.ctcae_term, event.grade, event.meddra_code) == ("Fatigue", 3, "10016256")
    assert event.onset_on == dt.date(2026, 3, 12) and event.resolved_on is None
    assert event.serious is False and event.outcome == "recovering"
    assessments = {
        a.agent.code: (a.attribution, a.action_taken)
        for a in AdverseEventAgent.objects.filter(adverse_event=event).select_related("agent")
    }
    assert assessments == {
        "CTX": ("unlikely", "none"),
        "IM": ("possible", "reduced"),
        "IL2": ("probable", "interrupted"),
    }
    created = AuditEvent.objects.filter(action="ecrf.adverseevent.created", object_id=str(event.pk))
    assert set(created.values_list("actor", flat=True)) == {"alice"}
    assert created.get(field="grade").new_value == "3"
    agent_rows = AuditEvent.objects.filter(
        action="ecrf.adverseeventagent.created", field="attribution"
    )
    assert sorted(agent_rows.values_list("new_value", flat=True)) == [
        "possible",
        "probable",
        "unlikely",
    ]
    assert set(agent_rows.values_list("actor", flat=True)) == {"alice"}

    casebook = client.get(response.url).content.decode()
    assert "Adverse event recorded: Fatigue grade 3." in casebook
    assert f'data-clear-draft="ae-new-{subject.pk}"' in casebook


def test_the_new_event_form_offers_every_study_agent_and_the_type_ahead(client, alice, subject):
    client.force_login(alice)
    page = client.get(create_url(subject)).content.decode()
    for label in ("Cyclophosphamide (CTX)", "Imatinib (IM)", "Interleukin-2 (IL2)"):
        assert f"{label}: attribution" in page and f"{label}: action taken" in page
    assert f'data-term-search="{reverse("ctcae_term_search")}"' in page
    assert f'data-draft-key="ae-new-{subject.pk}"' in page
    assert 'type="date" name="onset_on"' in page
    assert 'for="id_onset_on"' in page and 'for="id_attribution_IL2"' in page
    assert "/static/ecrf/term-search.js" in page


@pytest.mark.parametrize(
    ("term", "grade", "allowed"),
    [("Fatigue", 4, "1, 2, 3"), ("Eosinophilia", 2, "1, 3")],
)
def test_a_grade_the_term_does_not_define_is_refused_next_to_the_grade_field(
    client, alice, subject, term, grade, allowed
):
    """CTCAE v5.0 defines Fatigue only at grades 1-3 and Eosinophilia only at grades 1 and 3."""
    client.force_login(alice)
    response = client.post(
        create_url(subject),
        event_data(ctcae_term=term, grade=str(grade), verbatim="Typed by Alice"),
    )

    assert response.status_code == 200
    message = f"Grade {grade} is not allowed for {term} in CTCAE v5.0; allowed grades: {allowed}."
    assert message in field_block(response, "grade")
    assert not AdverseEvent.objects.exists() and not AdverseEventAgent.objects.exists()
    page = response.content.decode()
    assert 'value="Typed by Alice"' in page
    assert 'value="2026-03-12"' in page
    assert re.search(rf'value="{grade}"[^>]*checked', field_block(response, "grade"))
    assert re.search(
        r'<option value="probable" selected>', field_block(response, "attribution_IL2")
    )


def test_an_unknown_term_is_refused_with_the_closest_matches(client, alice, subject):
    client.force_login(alice)
    response = client.post(create_url(subject), event_data(ctcae_term="Fatigued"))

    block = html.unescape(field_block(response, "ctcae_term"))
    assert "Unknown CTCAE v5.0 term 'Fatigued'. Closest matches: Fatigue" in block
    assert 'value="Fatigued"' in block
    assert not AdverseEvent.objects.exists()


def test_a_term_can_be_typed_as_its_meddra_code_without_the_type_ahead(client, alice, subject):
    client.force_login(alice)
    client.post(create_url(subject), event_data(ctcae_term="10016256"))
    assert AdverseEvent.objects.get().ctcae_term == "Fatigue"


def test_an_other_specify_term_needs_the_verbatim_description(client, alice, subject):
    """CTCAE v5.0's per-SOC "Other, specify" terms are graded 1-5 but need the event's words."""
    client.force_login(alice)
    response = client.post(
        create_url(subject),
        event_data(
            ctcae_term="General disorders and administration site conditions - Other, specify",
            grade="2",
            verbatim="  ",
        ),
    )

    assert html.escape(OTHER_SPECIFY_NEEDS_VERBATIM) in field_block(response, "verbatim")
    assert not AdverseEvent.objects.exists()


def test_a_serious_event_needs_a_seriousness_criterion(client, alice, subject):
    client.force_login(alice)
    response = client.post(create_url(subject), event_data(serious="yes"))

    assert SERIOUS_NEEDS_CRITERION in html.unescape(field_block(response, "serious_criteria"))
    assert not AdverseEvent.objects.exists()


def test_a_resolution_before_the_onset_is_refused(client, alice, subject):
    client.force_login(alice)
    response = client.post(
        create_url(subject), event_data(onset_on="2026-03-12", resolved_on="2026-03-10")
    )

    block = field_block(response, "resolved_on")
    assert "The resolution date cannot come before the onset date." in block
    assert 'value="2026-03-10"' in block
    assert not AdverseEvent.objects.exists()


def test_a_grade_5_event_needs_a_fatal_outcome_and_a_date_of_death(client, alice, subject):
    """CTCAE v5.0 grade 5 is death related to the adverse event."""
    client.force_login(alice)
    response = client.post(
        create_url(subject), event_data(ctcae_term="Death NOS", grade="5", outcome="fatal")
    )
    assert "A fatal outcome needs the date of death." in field_block(response, "death_on")

    response = client.post(
        create_url(subject), event_data(ctcae_term="Death NOS", grade="5", outcome="unknown")
    )
    assert "A grade 5 event needs a fatal outcome" in field_block(response, "outcome")
    assert not AdverseEvent.objects.exists()


@pytest.mark.parametrize(
    ("onset", "message"),
    [
        (
            "2026-01-15",
            "The onset date (2026-01-15) is before the informed consent date (2026-02-01).",
        ),
        ("tomorrow", "is in the future."),
    ],
)
def test_an_onset_before_consent_or_in_the_future_is_refused_at_the_onset_date(
    client, alice, subject, onset, message
):
    if onset == "tomorrow":
        onset = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    client.force_login(alice)
    response = client.post(create_url(subject), event_data(onset_on=onset))

    assert response.status_code == 200
    block = field_block(response, "onset_on")
    assert message in block and f'value="{onset}"' in block
    assert not AdverseEvent.objects.exists()


def test_one_save_shows_every_error_at_once_and_writes_nothing(client, alice, subject):
    """Issue #21 item 7: a future onset, a grade CTCAE v5.0 does not define for Fatigue (1-3),
    a missing attribution and a serious event without the time the site became aware are all
    named after the first save, not one after another."""
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    before = AuditEvent.objects.count()
    client.force_login(alice)
    response = client.post(
        create_url(subject),
        _serious(onset_on=tomorrow, grade="4", attribution_IL2="", site_aware_at=""),
    )

    assert response.status_code == 200
    assert f"The onset date ({tomorrow}) is in the future." in field_block(response, "onset_on")
    assert "Grade 4 is not allowed for Fatigue" in field_block(response, "grade")
    assert "This field is required." in field_block(response, "attribution_IL2")
    assert AWARENESS_REQUIRED in html.unescape(field_block(response, "site_aware_at"))
    assert not AdverseEvent.objects.exists() and not AdverseEventAgent.objects.exists()
    assert AuditEvent.objects.count() == before


def test_a_correction_names_the_missing_reason_with_the_other_errors(client, alice, event):
    """Issue #21 item 7: the reason for change is asked for on the same save as the rest."""
    before = AuditEvent.objects.count()
    client.force_login(alice)
    response = client.post(
        edit_url(event), edit_data(event, ctcae_term="Fatigued", attribution_IL2="probable")
    )

    assert "Unknown CTCAE v5.0 term 'Fatigued'" in html.unescape(
        field_block(response, "ctcae_term")
    )
    assert REASON_FOR_CHANGE_REQUIRED in field_block(response, "change_reason")
    event.refresh_from_db()
    assert (event.grade, event.version) == (3, 1) and AuditEvent.objects.count() == before


def test_the_edit_form_shows_the_saved_event_and_its_attributions(client, alice, event):
    client.force_login(alice)
    response = client.get(edit_url(event))

    assert response.status_code == 200
    assert 'value="Fatigue"' in field_block(response, "ctcae_term")
    assert re.search(r'value="3"[^>]*checked', field_block(response, "grade"))
    assert '<option value="possible" selected>' in field_block(response, "attribution_IL2")
    assert f'data-draft-key="ae-edit-{event.pk}"' in response.content.decode()
    assert "Reason for change" in response.content.decode()


def test_a_correction_needs_a_reason(client, alice, event):
    client.force_login(alice)
    response = client.post(edit_url(event), edit_data(event, grade="2"))

    assert REASON_FOR_CHANGE_REQUIRED in field_block(response, "change_reason")
    event.refresh_from_db()
    assert (event.grade, event.version) == (3, 1)


def test_bob_corrects_the_grade_and_an_attribution_with_old_and_new_values_audited(
    client, bob, event
):
    client.force_login(bob)
    response = client.post(
        edit_url(event),
        edit_data(
            event,
            grade="2",
            attribution_IL2="definite",
            change_reason="Source notes: able to self-care",
        ),
    )

    assert response.status_code == 302
    assert response.url.endswith("#aes")
    event.refresh_from_db()
    assert (event.grade, event.version) == (2, 2)
    il2 = event.agent_assessments.get(agent__code="IL2")
    assert il2.attribution == "definite" and il2.version == 2
    assert event.agent_assessments.get(agent__code="IM").version == 1
    grade = AuditEvent.objects.get(action="ecrf.adverseevent.updated", field="grade")
    assert (grade.actor, grade.old_value, grade.new_value) == ("bob", "3", "2")
    assert grade.reason == "Source notes: able to self-care"
    attribution = AuditEvent.objects.get(action="ecrf.adverseeventagent.updated")
    assert (attribution.field, attribution.old_value, attribution.new_value) == (
        "attribution",
        "possible",
        "definite",
    )
    assert attribution.object_id == str(il2.pk) and attribution.actor == "bob"


def test_a_refused_correction_writes_none_of_its_parts(client, alice, event):
    client.force_login(alice)
    before = AuditEvent.objects.count()
    response = client.post(
        edit_url(event),
        edit_data(event, onset_on="2026-01-20", attribution_IL2="definite", change_reason="Source"),
    )

    assert "is before the informed consent date (2026-02-01)" in field_block(response, "onset_on")
    assert '<option value="definite" selected>' in field_block(response, "attribution_IL2")
    event.refresh_from_db()
    assert (event.onset_on, event.version) == (dt.date(2026, 3, 12), 1)
    assert event.agent_assessments.get(agent__code="IL2").attribution == "possible"
    assert AuditEvent.objects.count() == before


def test_an_unchanged_form_saves_nothing(client, alice, event):
    client.force_login(alice)
    before = AuditEvent.objects.count()
    response = client.post(edit_url(event), edit_data(event, change_reason="Checked"), follow=True)

    assert NOTHING_CHANGED in response.content.decode()
    event.refresh_from_db()
    assert event.version == 1 and AuditEvent.objects.count() == before


def test_the_second_of_two_concurrent_edits_is_refused_with_the_first_change_listed(
    client, alice, bob, event
):
    alice_form = edit_data(event, grade="2", change_reason="Investigator re-graded")
    bob_form = edit_data(event, grade="1", verbatim="Mild tiredness", change_reason="Per diary")

    client.force_login(alice)
    assert client.post(edit_url(event), alice_form).status_code == 302
    client.force_login(bob)
    response = client.post(edit_url(event), bob_form)

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert STALE_RECORD in page
    assert re.search(
        r"alice changed grade from 3 to 2 at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(Investigator re-graded\)",
        page,
    )
    assert 'value="Mild tiredness"' in page
    assert re.search(r'value="1"[^>]*checked', field_block(response, "grade"))
    event.refresh_from_db()
    assert (event.grade, event.verbatim, event.version) == (2, "", 2)


def test_a_concurrent_attribution_change_also_refuses_the_second_edit(client, alice, bob, event):
    alice_form = edit_data(event, attribution_IL2="probable", change_reason="PI review")
    bob_form = edit_data(event, grade="2", change_reason="Per diary")

    client.force_login(alice)
    assert client.post(edit_url(event), alice_form).status_code == 302
    client.force_login(bob)
    response = client.post(edit_url(event), bob_form)

    page = html.unescape(response.content.decode())
    assert STALE_RECORD in page
    assert "alice changed IL2 attribution from possible to probable" in page
    event.refresh_from_db()
    assert (event.grade, event.version) == (3, 1)


def test_charlie_gets_404_for_site_a_subjects_and_events(client, charlie, subject, event):
    client.force_login(charlie)
    assert client.get(create_url(subject)).status_code == 404
    assert client.post(create_url(subject), event_data()).status_code == 404
    assert client.get(edit_url(event)).status_code == 404
    response = client.post(edit_url(event), edit_data(event, grade="2", change_reason="x"))
    assert response.status_code == 404
    assert AdverseEvent.objects.count() == 1
    event.refresh_from_db()
    assert event.grade == 3


def test_a_monitor_may_read_the_form_but_gets_403_on_saving(client, monitor, subject, event):
    client.force_login(monitor)
    page = client.get(edit_url(event)).content.decode()
    assert "Your role does not allow changing clinical data" in page

    assert client.post(create_url(subject), event_data()).status_code == 403
    response = client.post(edit_url(event), edit_data(event, grade="2", change_reason="x"))
    assert response.status_code == 403
    assert AdverseEvent.objects.count() == 1
    event.refresh_from_db()
    assert event.grade == 3


def test_an_anonymous_visitor_is_sent_to_sign_in(client, subject, event):
    for url in (create_url(subject), edit_url(event), reverse("ctcae_term_search") + "?q=fat"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_term_search_finds_terms_by_word_prefixes(client, alice):
    client.force_login(alice)
    results = client.get(reverse("ctcae_term_search"), {"q": "alan amin"}).json()

    assert results[0] == {
        "term": "Alanine aminotransferase increased",
        "meddra_code": "10001551",
        "soc": "Investigations",
        "grades": [1, 2, 3, 4],
        "other_specify": False,
    }


def test_the_term_search_finds_a_term_by_its_meddra_code(client, alice):
    client.force_login(alice)
    results = client.get(reverse("ctcae_term_search"), {"q": "10016256"}).json()
    assert [item["term"] for item in results] == ["Fatigue"]
    assert results[0]["grades"] == [1, 2, 3]


def test_the_term_search_returns_at_most_20_terms_and_marks_other_specify(client, alice):
    client.force_login(alice)
    results = client.get(reverse("ctcae_term_search"), {"q": "other specify"}).json()
    assert len(results) == 20 and all(item["other_specify"] for item in results)
    assert client.get(reverse("ctcae_term_search"), {"q": ""}).json() == []


def test_the_term_search_includes_grade_descriptions_once_loaded(client, alice):
    """Only the grades CTCAE v5.0 defines for the term are described."""
    CtcaeTermDescription.objects.create(
        ctcae_version="5.0",
        meddra_code="10016256",
        term="Fatigue",
        grade_1="Fatigue relieved by rest",
        grade_2="Fatigue not relieved by rest",
        grade_3="Fatigue not relieved by rest, limiting self care ADL",
    )
    client.force_login(alice)
    results = client.get(reverse("ctcae_term_search"), {"q": "fatig"}).json()
    fatigue = next(item for item in results if item["term"] == "Fatigue")
    assert fatigue["descriptions"] == {
        "1": "Fatigue relieved by rest",
        "2": "Fatigue not relieved by rest",
        "3": "Fatigue not relieved by rest, limiting self care ADL",
    }


def _clock(aware_at):
    """The reporting clock the page shows, counted from `aware_at` (in the site's time zone)."""
    due = timezone.localtime(aware_at + dt.timedelta(hours=24))
    zone = timezone.get_current_timezone_name()
    return f"{due:%Y-%m-%d %H:%M} {zone}", f"{timezone.localtime(aware_at):%Y-%m-%d %H:%M} {zone}"


def _serious(**overrides):
    return event_data(serious="yes", serious_criteria=["sae_hospitalisation"], **overrides)


def test_a_serious_event_shows_its_24_hour_clock_from_when_the_site_became_aware(
    client, alice, subject
):
    """ICH E2A: the investigator reports a serious event within 24 hours of becoming aware of
    it. The site learnt of it five hours before the nurse entered it: the report is due 19
    hours after entry, not 24."""
    aware = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=5)
    client.force_login(alice)
    response = client.post(create_url(subject), _serious(site_aware_at=aware_text(aware)))
    assert response.status_code == 302

    event = AdverseEvent.objects.get()
    assert event.serious and event.sae_hospitalisation and not event.sae_death
    assert event.site_aware_at == aware
    created = AuditEvent.objects.get(
        action="ecrf.adverseevent.created", object_id=str(event.pk), field="site_aware_at"
    )
    assert created.new_value == aware.astimezone(dt.UTC).isoformat()
    due, aware_shown = _clock(aware)
    expected = SAE_DEADLINE.format(due=due, aware=aware_shown)
    assert expected in html.unescape(client.get(response.url).content.decode())
    page = client.get(edit_url(event)).content.decode()
    assert expected in html.unescape(page)
    assert f'value="{aware_text(aware)}"' in field_block(
        client.get(edit_url(event)), "site_aware_at"
    )


def _serious_event(subject, by, *, aware_ago, entered_ago):
    """A serious event the site became aware of `aware_ago`, entered `entered_ago`."""
    now = timezone.now()
    event = fatigue_grade_3(
        subject,
        by=by,
        serious_criteria=("sae_hospitalisation",),
        site_aware_at=now - aware_ago,
    )
    AdverseEvent.objects.filter(pk=event.pk).update(created_at=now - entered_ago)
    return event


@pytest.mark.parametrize(
    ("aware_ago", "entered_ago", "overdue"),
    [
        # Entered two days ago, but the site became aware of its seriousness 23 h 59 ago.
        (dt.timedelta(hours=23, minutes=59), dt.timedelta(hours=48), False),
        # Aware 24 h 01 ago, entered only just now.
        (dt.timedelta(hours=24, minutes=1), dt.timedelta(0), True),
    ],
)
def test_the_sae_clock_is_overdue_24_hours_after_awareness_not_after_entry(
    client, alice, subject, aware_ago, entered_ago, overdue
):
    """ICH E2A / ICH E6(R2) 4.11.1: to the sponsor within 24 hours of the site becoming aware.
    The entry time would give the other answer in both cases."""
    event = _serious_event(subject, alice, aware_ago=aware_ago, entered_ago=entered_ago)
    client.force_login(alice)
    page = html.unescape(client.get(edit_url(event)).content.decode())

    due, aware_shown = _clock(event.site_aware_at)
    assert (SAE_DEADLINE.format(due=due, aware=aware_shown) in page) is not overdue
    assert (SAE_OVERDUE.format(due=due, aware=aware_shown) in page) is overdue
    assert ("it is overdue" in page) is overdue


def test_a_serious_event_needs_the_time_the_site_became_aware(client, alice, subject):
    client.force_login(alice)
    response = client.post(create_url(subject), _serious(site_aware_at=""))

    assert response.status_code == 200
    assert AWARENESS_REQUIRED in html.unescape(field_block(response, "site_aware_at"))
    block = field_block(response, "site_aware_at")
    assert "Site became aware" in block and "when the site first learnt of it, UTC time" in block
    assert not AdverseEvent.objects.exists()


@pytest.mark.parametrize(
    ("aware", "message"),
    [
        (
            "2026-03-11T23:59",
            "The time the site became aware (2026-03-11 23:59) cannot come before the onset "
            "date (2026-03-12).",
        ),
        ("in an hour", "is in the future."),
    ],
)
def test_an_awareness_before_onset_or_in_the_future_is_refused(
    client, alice, subject, aware, message
):
    if aware == "in an hour":
        aware = aware_text(timezone.now() + dt.timedelta(hours=1))
    client.force_login(alice)
    response = client.post(
        create_url(subject), _serious(onset_on="2026-03-12", site_aware_at=aware)
    )

    block = html.unescape(field_block(response, "site_aware_at"))
    assert message in block and f'value="{aware}"' in block
    assert not AdverseEvent.objects.exists()


def test_the_awareness_on_the_onset_day_is_accepted(client, alice, subject):
    client.force_login(alice)
    response = client.post(
        create_url(subject), _serious(onset_on="2026-03-12", site_aware_at="2026-03-12T00:00")
    )
    assert response.status_code == 302
    assert AdverseEvent.objects.get().site_aware_at == timezone.make_aware(
        dt.datetime(2026, 3, 12, 0, 0)
    )


def test_an_awareness_is_refused_on_an_event_that_is_not_serious(client, alice, subject):
    client.force_login(alice)
    response = client.post(create_url(subject), event_data(site_aware_at="2026-03-12T10:00"))

    assert AWARENESS_NEEDS_SERIOUS in html.unescape(field_block(response, "site_aware_at"))
    assert not AdverseEvent.objects.exists()


def test_a_corrected_awareness_moves_the_clock_and_is_audited(client, alice, subject):
    event = _serious_event(
        subject, alice, aware_ago=dt.timedelta(hours=2), entered_ago=dt.timedelta(hours=2)
    )
    before = event.site_aware_at
    corrected = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=30)
    client.force_login(alice)
    response = client.post(
        edit_url(event),
        edit_data(
            event,
            site_aware_at=aware_text(corrected),
            change_reason="Phone call from the ward was the day before",
        ),
        follow=True,
    )

    event.refresh_from_db()
    assert event.site_aware_at == corrected and event.version == 2
    line = AuditEvent.objects.get(action="ecrf.adverseevent.updated", field="site_aware_at")
    assert line.old_value == before.astimezone(dt.UTC).isoformat()
    assert line.new_value == corrected.astimezone(dt.UTC).isoformat()
    assert line.reason == "Phone call from the ward was the day before"
    due, aware_shown = _clock(corrected)
    assert SAE_OVERDUE.format(due=due, aware=aware_shown) in html.unescape(
        response.content.decode()
    )


def test_an_awareness_kept_to_the_second_is_not_changed_by_an_unchanged_form(
    client, alice, subject
):
    """Serious events saved before the field existed have their entry time, to the second."""
    event = _serious_event(
        subject, alice, aware_ago=dt.timedelta(hours=3), entered_ago=dt.timedelta(hours=3)
    )
    assert event.site_aware_at.second or event.site_aware_at.microsecond
    client.force_login(alice)
    response = client.post(
        edit_url(event), edit_data(event, grade="2", change_reason="Re-graded"), follow=True
    )

    assert response.status_code == 200
    saved = AdverseEvent.objects.get(pk=event.pk)
    assert saved.grade == 2 and saved.site_aware_at == event.site_aware_at
    assert not AuditEvent.objects.filter(field="site_aware_at", action__endswith="updated").exists()


def test_a_non_serious_event_shows_no_reporting_deadline(client, alice, event):
    client.force_login(alice)
    page = client.get(edit_url(event)).content.decode()
    assert 'id="sae-deadline"' not in page and "Serious: " not in page


# Grade history and supportive care


def history_data(*rows, initial=0, empty=3):
    """The grade history rows as the page posts them: the filled rows, then empty ones."""
    data = {
        "grade_history-TOTAL_FORMS": str(len(rows) + empty),
        "grade_history-INITIAL_FORMS": str(initial),
        "grade_history-MIN_NUM_FORMS": "0",
        "grade_history-MAX_NUM_FORMS": "1000",
    }
    for index, (from_on, grade) in enumerate([*rows, *[("", "")] * empty]):
        data[f"grade_history-{index}-from_on"] = from_on
        data[f"grade_history-{index}-grade"] = grade
    return data


def _history(event):
    return list(event.grade_changes.filter(entered_in_error=False).values_list("from_on", "grade"))


def test_the_form_offers_the_grade_history_rows_and_the_supportive_care_box(client, alice, subject):
    client.force_login(alice)
    page = client.get(create_url(subject)).content.decode()
    assert "Persisted despite optimal supportive care" in page
    assert 'name="despite_supportive_care"' in page
    assert "Leave empty if the event stayed at one grade" in page
    assert 'name="grade_history-TOTAL_FORMS" value="3"' in page
    assert 'type="date" name="grade_history-2-from_on"' in page


def test_alice_records_an_event_with_a_two_step_history(client, alice, subject):
    client.force_login(alice)
    response = client.post(
        create_url(subject),
        event_data(
            despite_supportive_care="on",
            **history_data(("2026-03-12", "2"), ("2026-03-15", "3")),
        ),
    )
    assert response.status_code == 302
    event = AdverseEvent.objects.get(subject=subject)
    assert event.despite_supportive_care is True
    assert _history(event) == [(dt.date(2026, 3, 12), 2), (dt.date(2026, 3, 15), 3)]
    assert (
        AuditEvent.objects.filter(
            action="ecrf.adverseeventgrade.created", actor="alice", field="grade"
        ).count()
        == 2
    )


def test_rows_entered_out_of_order_are_saved_by_date(client, alice, subject):
    client.force_login(alice)
    client.post(
        create_url(subject),
        event_data(**history_data(("2026-03-15", "3"), ("2026-03-12", "1"))),
    )
    event = AdverseEvent.objects.get(subject=subject)
    assert _history(event) == [(dt.date(2026, 3, 12), 1), (dt.date(2026, 3, 15), 3)]


def test_a_history_that_does_not_fit_the_event_is_refused_next_to_the_rows(client, alice, subject):
    client.force_login(alice)
    response = client.post(
        create_url(subject),
        event_data(grade="2", **history_data(("2026-03-12", "2"), ("2026-03-15", "3"))),
    )
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    rows = page[page.index('id="grade-history"') : page.index('id="grade-step-0"')]
    assert "grade_changes: the worst grade of the history (3) is not the event's grade (2)." in rows
    assert 'id="form-errors"' in page
    assert 'value="2026-03-15"' in page
    assert not AdverseEvent.objects.exists()


def test_a_row_with_a_date_and_no_grade_is_refused_on_its_row(client, alice, subject):
    client.force_login(alice)
    response = client.post(
        create_url(subject),
        event_data(**history_data(("2026-03-12", "3"), ("2026-03-15", ""))),
    )
    page = response.content.decode()
    row = page[page.index('id="grade-step-1"') : page.index('id="grade-step-2"')]
    assert "Give both the date and the grade of this step" in html.unescape(row)
    assert not AdverseEvent.objects.exists()


def test_the_edit_form_shows_the_saved_history_and_replaces_it(client, alice, subject):
    event = fatigue_grade_3(
        subject,
        onset_on=dt.date(2026, 3, 12),
        by=alice,
        grade_changes=[(dt.date(2026, 3, 12), 2), (dt.date(2026, 3, 15), 3)],
    )
    client.force_login(alice)
    page = client.get(edit_url(event)).content.decode()
    assert 'name="grade_history-0-from_on" value="2026-03-12"' in page
    assert 'name="grade_history-TOTAL_FORMS" value="5"' in page
    assert 'name="loaded_grade_changes" value="2026-03-12:2;2026-03-15:3"' in page

    response = client.post(
        edit_url(event),
        edit_data(
            event,
            change_reason="Grade 3 from day 17 per notes",
            loaded_grade_changes="2026-03-12:2;2026-03-15:3",
            **history_data(("2026-03-12", "2"), ("2026-03-17", "3"), initial=2),
        ),
    )
    assert response.status_code == 302
    assert _history(event) == [(dt.date(2026, 3, 12), 2), (dt.date(2026, 3, 17), 3)]
    retired = event.grade_changes.get(from_on=dt.date(2026, 3, 15))
    assert retired.entered_in_error_reason == "Grade 3 from day 17 per notes"


def test_saving_the_same_history_again_changes_nothing(client, alice, subject):
    event = fatigue_grade_3(
        subject,
        onset_on=dt.date(2026, 3, 12),
        by=alice,
        grade_changes=[(dt.date(2026, 3, 12), 2), (dt.date(2026, 3, 15), 3)],
    )
    before = AuditEvent.objects.count()
    client.force_login(alice)
    response = client.post(
        edit_url(event),
        edit_data(
            event,
            loaded_grade_changes="2026-03-12:2;2026-03-15:3",
            **history_data(("2026-03-12", "2"), ("2026-03-15", "3"), initial=2),
        ),
        follow=True,
    )
    assert NOTHING_CHANGED in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_a_history_someone_else_changed_is_not_overwritten(client, alice, bob, subject):
    from ecrf.services.adverse_events import ae_update

    event = fatigue_grade_3(
        subject,
        onset_on=dt.date(2026, 3, 12),
        by=alice,
        grade_changes=[(dt.date(2026, 3, 12), 2), (dt.date(2026, 3, 15), 3)],
    )
    ae_update(
        event=event,
        changes={},
        agent_changes={},
        reason="Per source",
        by=bob,
        grade_changes=[(dt.date(2026, 3, 12), 1), (dt.date(2026, 3, 15), 3)],
    )
    client.force_login(alice)
    response = client.post(
        edit_url(event),
        edit_data(
            event,
            change_reason="Grade 3 from day 17",
            loaded_grade_changes="2026-03-12:2;2026-03-15:3",
            **history_data(("2026-03-12", "2"), ("2026-03-17", "3"), initial=2),
        ),
    )
    assert response.status_code == 200
    assert 'id="conflict"' in response.content.decode()
    assert _history(event) == [(dt.date(2026, 3, 12), 1), (dt.date(2026, 3, 15), 3)]


def test_a_grade_change_the_saved_history_does_not_fit_is_refused_next_to_the_rows(
    client, alice, subject
):
    event = fatigue_grade_3(
        subject,
        onset_on=dt.date(2026, 3, 12),
        by=alice,
        grade_changes=[(dt.date(2026, 3, 12), 2), (dt.date(2026, 3, 15), 3)],
    )
    client.force_login(alice)
    # An older page posts no history rows: the saved history is checked by the service.
    response = client.post(edit_url(event), edit_data(event, grade="2", change_reason="Milder"))
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    rows = page[page.index('id="grade-history"') : page.index('id="grade-step-0"')]
    assert "the worst grade of the history (3) is not the event's grade (2)" in rows
    event.refresh_from_db()
    assert event.grade == 3


def test_the_supportive_care_box_is_corrected_with_a_reason(client, alice, event):
    client.force_login(alice)
    response = client.post(
        edit_url(event),
        edit_data(event, despite_supportive_care="on", change_reason="Per investigator"),
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.despite_supportive_care is True
    audit = AuditEvent.objects.get(
        field="despite_supportive_care", action="ecrf.adverseevent.updated"
    )
    assert (audit.old_value, audit.new_value, audit.reason) == ("False", "True", "Per investigator")
