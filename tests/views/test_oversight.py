"""The oversight pages (issue #7): queries, source data verification, locks and sign-off.

Alice is a research nurse and Bob an investigator at site A, Morgan a monitor at site A, Dana a
study-wide data manager, Charlie a research nurse at site B who must see none of it (404).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ecrf.auth.lockout import SIGNATURE_PASSWORD_FAILED
from ecrf.models import (
    AuditEvent,
    DataLock,
    DataQuery,
    DataQueryMessage,
    QueryState,
    Signature,
    SourceVerification,
)
from ecrf.services import dose_record, lab_record, record_update
from ecrf.services.locking import UNLOCK_REASON_REQUIRED, lock_place, verification_record
from ecrf.services.queries import MESSAGE_REQUIRED, STALE_QUERY, query_answer, query_raise
from ecrf.services.signatures import WRONG_PASSWORD
from ecrf.services.signoff import MEANING_REVIEWED, signoff_sign
from ecrf.views.verification import CHANGED_SINCE_LOADED
from tests.factories import ae_edit_data, dose_edit_data
from tests.factories import user_create as _user

PASSWORD = "correct horse battery"


@pytest.fixture
def query(event, monitor):
    return query_raise(record=event, field="grade", message="Grade 1 per source?", by=monitor)


def _written():
    """Everything the oversight pages could write, to show that a refusal wrote nothing."""
    return (
        DataQuery.objects.count(),
        DataQueryMessage.objects.count(),
        SourceVerification.objects.count(),
        DataLock.objects.filter(locked=True).count(),
        Signature.objects.count(),
        AuditEvent.objects.count(),
    )


def _casebook(client, subject) -> str:
    response = client.get(reverse("subject_detail", args=[subject.pk]))
    assert response.status_code == 200
    return response.content.decode()


# Queries


def test_a_monitor_raises_a_query_on_an_adverse_event_grade(client, monitor, event):
    client.force_login(monitor)
    url = reverse("query_raise", args=["ae", event.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert '<option value="grade">Grade</option>' in page.content.decode()

    response = client.post(url, {"field": "grade", "message": "Source note says grade 2."})
    query = DataQuery.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("query_detail", args=[query.pk])
    assert (query.field, query.state, query.raised_by) == ("grade", QueryState.OPEN, monitor)
    body = _casebook(client, event.subject)
    assert "Source note says grade 2." in body
    assert 'id="query-count-open" title="Open queries">1 open' in body


def test_a_query_without_a_message_or_on_no_field_names_the_field_and_writes_nothing(
    client, monitor, event
):
    client.force_login(monitor)
    before = _written()
    response = client.post(
        reverse("query_raise", args=["ae", event.pk]), {"field": "colour", "message": "  "}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"field", "message"}
    assert "colour is not one of the available choices" in errors["field"][0]
    assert errors["message"] == [MESSAGE_REQUIRED]
    assert _written() == before


@pytest.mark.parametrize("persona", ["alice", "bob", "dana"])
def test_only_monitors_and_data_managers_open_the_raise_page(
    client, persona, event, alice, bob, data_manager
):
    user = {"alice": alice, "bob": bob, "dana": data_manager}[persona]
    client.force_login(user)
    url = reverse("query_raise", args=["ae", event.pk])
    expected = 200 if persona == "dana" else 403
    assert client.get(url).status_code == expected
    if expected == 403:
        before = _written()
        assert client.post(url, {"field": "grade", "message": "?"}).status_code == 403
        assert _written() == before


def test_the_nurse_answers_with_a_link_to_the_form_and_the_monitor_closes(
    client, alice, monitor, query, event
):
    client.force_login(alice)
    page = client.get(reverse("query_detail", args=[query.pk])).content.decode()
    assert reverse("ae_edit", args=[event.pk]) in page
    assert "Grade 1 per source?" in page
    response = client.post(
        reverse("query_answer", args=[query.pk]),
        {"message": "Corrected to grade 2 per the clinic note.", "loaded_version": query.version},
    )
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.state == QueryState.ANSWERED
    # The nurse may not close what the monitor raised.
    assert client.post(
        reverse("query_close", args=[query.pk]), {"loaded_version": query.version}
    ).status_code == 403  # fmt: skip

    client.force_login(monitor)
    response = client.post(
        reverse("query_close", args=[query.pk]),
        {"message": "Thank you.", "loaded_version": query.version},
    )
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.state == QueryState.CLOSED
    assert [m.kind for m in query.messages.all()] == ["raised", "answered", "closed"]


def test_an_empty_answer_names_the_message_field_and_writes_nothing(client, alice, query):
    client.force_login(alice)
    before = _written()
    response = client.post(
        reverse("query_answer", args=[query.pk]), {"message": "", "loaded_version": query.version}
    )
    assert response.status_code == 200
    assert response.context["answer_form"].errors["message"] == [MESSAGE_REQUIRED]
    assert _written() == before


def test_an_answer_over_a_newer_step_is_refused(client, alice, monitor, query):
    loaded = query.version
    query_answer(query=query, message="First answer", by=alice)
    client.force_login(alice)
    before = _written()
    response = client.post(
        reverse("query_answer", args=[query.pk]), {"message": "Again", "loaded_version": loaded}
    )
    assert response.status_code == 200
    # The query is answered now, so the page refuses it (as answered, or as stale).
    assert response.context["answer_form"].non_field_errors()
    assert _written() == before


def test_a_stale_close_is_refused_with_the_stale_message(client, alice, monitor, query):
    loaded = query.version
    query_answer(query=query, message="Done", by=alice)
    client.force_login(monitor)
    response = client.post(reverse("query_close", args=[query.pk]), {"loaded_version": loaded})
    assert STALE_QUERY in response.context["close_form"].non_field_errors()
    query.refresh_from_db()
    assert query.state == QueryState.ANSWERED


def test_the_monitor_reopens_an_answer_only_with_a_message(client, alice, monitor, query):
    query = query_answer(query=query, message="Done", by=alice)
    client.force_login(monitor)
    url = reverse("query_reopen", args=[query.pk])
    response = client.post(url, {"message": " ", "loaded_version": query.version})
    assert response.context["reopen_form"].errors["message"] == [MESSAGE_REQUIRED]
    response = client.post(url, {"message": "Which source?", "loaded_version": query.version})
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.state == QueryState.OPEN


def test_a_monitor_may_not_answer(client, monitor, query):
    client.force_login(monitor)
    before = _written()
    response = client.post(
        reverse("query_answer", args=[query.pk]), {"message": "x", "loaded_version": query.version}
    )
    assert response.status_code == 403
    assert _written() == before


def test_query_counts_on_home_subject_list_and_query_list(client, alice, query, subject):
    client.force_login(alice)
    home = client.get(reverse("home")).content.decode()
    assert 'id="query-overview"' in home
    assert 'state=open&amp;study=TEST-IL2&amp;site=A">1</a>' in home
    with CaptureQueriesContext(connection) as captured:
        listing = client.get(reverse("subject_list"))
    assert 'title="1 open, 0 answered">1</span>' in listing.content.decode()
    on_queries = [q for q in captured.captured_queries if "ecrf_dataquery" in q["sql"]]
    assert len(on_queries) == 1
    queries = client.get(reverse("query_list")).content.decode()
    assert "Grade 1 per source?" in queries


def test_the_query_list_filters_by_study_and_site(client, data_manager, query, subject_b):
    query_raise(record=subject_b, field="sex", message="Sex per source?", by=data_manager)
    client.force_login(data_manager)
    everything = client.get(reverse("query_list")).content.decode()
    assert "Grade 1 per source?" in everything and "Sex per source?" in everything
    site_a = client.get(reverse("query_list") + "?study=TEST-IL2&site=A").content.decode()
    assert "Grade 1 per source?" in site_a and "Sex per source?" not in site_a


def test_the_subject_list_counts_queries_in_one_query_for_many_subjects(
    client, alice, monitor, study, site_a, all_agents_unrelated
):
    from ecrf.services import subject_screen

    for number in range(2, 8):
        screened = subject_screen(
            study=study, site=site_a, subject_code=f"A-{number:03d}",
            consent_on=dt.date(2026, 2, 1), by=alice,
        )  # fmt: skip
        query_raise(record=screened, field="", message="Consent form signed?", by=monitor)
    client.force_login(alice)
    with CaptureQueriesContext(connection) as captured:
        listing = client.get(reverse("subject_list")).content.decode()
    assert listing.count('title="1 open, 0 answered"') == 6
    assert len([q for q in captured.captured_queries if "ecrf_dataquery" in q["sql"]]) == 1


# Source data verification


def test_a_monitor_verifies_and_a_later_change_clears_it_on_the_casebook(
    client, monitor, alice, event
):
    client.force_login(monitor)
    response = client.post(
        reverse("record_verify", args=["ae", event.pk]), {"loaded_version": event.version}
    )
    assert response.status_code == 302
    assert SourceVerification.objects.get().record_version == event.version
    body = _casebook(client, event.subject)
    assert "Verified</span> Adverse event Nausea grade 1" in body
    assert "by morgan" in body

    record_update(record=event, changes={"grade": 2}, reason="Per clinic note", by=alice)
    body = _casebook(client, event.subject)
    assert "Verification cleared" in body
    assert "verification cleared by a change on" in body
    assert "by alice (Per clinic note)" in body


def test_a_sponsor_viewer_sees_a_verification_cleared_but_not_who_changed_it_nor_why(
    client, study, monitor, alice, event
):
    """Who changed a record and why is the audit trail's, which sponsor viewers do not read."""
    verification_record(record=event, by=monitor)
    record_update(record=event, changes={"grade": 2}, reason="Per clinic note", by=alice)
    client.force_login(_user("sam", "sponsor_viewer", study, None))
    review = reverse("subject_review", args=[event.subject.pk]) + "?kind=ae"
    for body in (_casebook(client, event.subject), client.get(review).content.decode()):
        assert "Verification cleared" in body
        assert "Per clinic note" not in body
        assert "(alice)" not in body and "by alice" not in body
    client.force_login(alice)
    assert "(alice)" in client.get(review).content.decode()


def test_verifying_a_record_changed_since_the_page_was_loaded_is_refused(
    client, monitor, alice, event
):
    loaded = event.version
    changed = record_update(record=event, changes={"grade": 2}, reason="Per note", by=alice)
    client.force_login(monitor)
    before = _written()
    response = client.post(
        reverse("record_verify", args=["ae", event.pk]), {"loaded_version": loaded}, follow=True
    )
    assert response.status_code == 200
    assert (
        CHANGED_SINCE_LOADED.format(
            record="Adverse event Nausea grade 2, onset 2026-03-05", version=changed.version
        )
        in response.content.decode()
    )
    assert _written() == before


@pytest.mark.parametrize("persona", ["alice", "bob", "dana"])
def test_only_monitors_verify(client, persona, event, alice, bob, data_manager):
    client.force_login({"alice": alice, "bob": bob, "dana": data_manager}[persona])
    before = _written()
    response = client.post(
        reverse("record_verify", args=["ae", event.pk]), {"loaded_version": event.version}
    )
    assert response.status_code == 403
    assert _written() == before


def test_verification_needs_the_csrf_token(monitor, event):
    client = Client(enforce_csrf_checks=True)
    client.force_login(monitor)
    response = client.post(
        reverse("record_verify", args=["ae", event.pk]), {"loaded_version": event.version}
    )
    assert response.status_code == 403
    assert SourceVerification.objects.count() == 0


def test_the_review_page_lists_each_kind_with_the_buttons_of_the_role(
    client, monitor, data_manager, alice, event, subject
):
    client.force_login(monitor)
    body = client.get(reverse("subject_review", args=[subject.pk]) + "?kind=ae").content.decode()
    assert "Adverse event Nausea grade 1" in body
    assert "Raise query" in body and "Mark verified" in body and "Lock form" not in body
    visits = client.get(reverse("subject_review", args=[subject.pk]) + "?kind=visit")
    assert "Visit C1D8" in visits.content.decode()
    client.force_login(data_manager)
    body = client.get(reverse("subject_review", args=[subject.pk]) + "?kind=ae").content.decode()
    assert "Lock form" in body and "Mark verified" not in body
    client.force_login(alice)
    body = client.get(reverse("subject_review", args=[subject.pk]) + "?kind=ae").content.decode()
    assert "Raise query" not in body and "Lock form" not in body and "Mark verified" not in body


# Locks


def test_a_data_manager_locks_a_form_and_the_edit_page_shows_why_it_cannot_save(
    client, data_manager, alice, event
):
    client.force_login(data_manager)
    response = client.post(reverse("record_lock", args=["ae", event.pk]))
    assert response.status_code == 302
    lock = DataLock.objects.get(locked=True)
    assert "Locked form</span> Adverse event Nausea grade 1" in _casebook(client, event.subject)

    client.force_login(alice)
    before = _written()
    response = client.post(
        reverse("ae_edit", args=[event.pk]), ae_edit_data(event, grade="2", change_reason="Note")
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert any("This form is locked by dana since" in error for error in errors)
    event.refresh_from_db()
    assert event.grade == 1
    assert _written() == before
    assert lock.locked


def test_locking_twice_says_so_and_writes_nothing(client, data_manager, event):
    lock_place(target=event, by=data_manager)
    client.force_login(data_manager)
    before = _written()
    response = client.post(reverse("record_lock", args=["ae", event.pk]), follow=True)
    assert "This form is already locked." in response.content.decode()
    assert _written() == before


@pytest.mark.parametrize("persona", ["alice", "morgan", "bob"])
def test_only_data_managers_lock(client, persona, event, alice, monitor, bob):
    client.force_login({"alice": alice, "morgan": monitor, "bob": bob}[persona])
    before = _written()
    assert (
        client.post(reverse("record_lock", args=["subject", event.subject.pk])).status_code == 403
    )
    assert _written() == before


def test_a_locked_casebook_refuses_edits_of_visits_doses_and_labs_with_the_message(
    client, data_manager, alice, subject
):
    dose = dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=dt.date(2026, 3, 2),
        given_dose=Decimal(400),
        by=alice,
    )
    visit = subject.visits.get(label="C1D8")
    lab = lab_record(
        subject=subject,
        visit=visit,
        test_code="ALT",
        value=Decimal("30"),
        unit="U/L",
        lln=Decimal("0"),
        uln=Decimal("40"),
        collected_at=dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC),
        by=alice,
    )
    client.force_login(data_manager)
    client.post(reverse("record_lock", args=["subject", subject.pk]))
    assert "the whole casebook is locked by dana" in _casebook(client, subject)
    client.force_login(alice)
    before = _written()

    response = client.post(
        reverse("dose_edit", args=[dose.pk]),
        dose_edit_data(
            dose,
            given_dose=300,
            change_reason="Weight loss",
            reason="Weight loss",
            reason_category="other",
        ),  # fmt: skip
    )
    assert any("subject is locked" in e for e in response.context["form"].non_field_errors())

    response = client.post(
        reverse("visit_edit", args=[visit.pk]),
        {"status": "done", "done_on": "2026-03-09", "missed_reason": ""},
    )
    assert any("subject is locked" in e for e in response.context["form"].non_field_errors())

    grid_url = reverse("lab_grid", args=[visit.pk, "chemistry"])
    grid = client.get(grid_url)
    data = {"override_reason": ""}
    for row in grid.context["rows"]:
        for field in row:
            value = field.value()
            if isinstance(value, dt.datetime):
                value = value.strftime("%Y-%m-%dT%H:%M")
            data[field.html_name] = "" if value is None else str(value)
    data["ALT-value"] = "35"
    data["ALT-change_reason"] = "Transcription error"
    response = client.post(grid_url, data)
    assert response.status_code == 200
    assert "subject is locked" in response.content.decode()

    lab.refresh_from_db()
    dose.refresh_from_db()
    assert (lab.value, dose.given_dose) == (Decimal(30), Decimal(400))
    assert _written() == before


def test_unlocking_needs_a_reason(client, data_manager, alice, event):
    lock = lock_place(target=event.subject, by=data_manager)
    client.force_login(data_manager)
    url = reverse("lock_release", args=[lock.pk])
    assert client.get(url).status_code == 200
    before = _written()
    response = client.post(url, {"reason": " "})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == [UNLOCK_REASON_REQUIRED]
    assert _written() == before
    response = client.post(url, {"reason": "Query answered after the lock"})
    assert response.status_code == 302
    lock.refresh_from_db()
    assert (lock.locked, lock.unlock_reason) == (False, "Query answered after the lock")


@pytest.mark.parametrize("persona", ["alice", "morgan"])
def test_only_data_managers_unlock(client, persona, data_manager, alice, monitor, event):
    lock = lock_place(target=event, by=data_manager)
    client.force_login({"alice": alice, "morgan": monitor}[persona])
    url = reverse("lock_release", args=[lock.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "Because"}).status_code == 403
    lock.refresh_from_db()
    assert lock.locked


# Sign-off


def test_bob_signs_the_casebook_and_a_later_change_invalidates_it_on_the_casebook(
    client, bob, alice, event, subject
):
    client.force_login(bob)
    url = reverse("sign_off", args=["subject", subject.pk])
    page = client.get(url).content.decode()
    assert MEANING_REVIEWED in page
    response = client.post(url, {"password": PASSWORD})
    assert response.status_code == 302
    assert Signature.objects.get().printed_name == "Bob Baker"
    body = _casebook(client, subject)
    assert "Signed · valid" in body

    record_update(record=event, changes={"grade": 2}, reason="Per clinic note", by=alice)
    body = _casebook(client, subject)
    assert "Signature invalidated" in body
    assert "invalidated by alice&#x27;s change of grade on" in body
    assert "(Per clinic note)" in body
    assert "Sign again" in body


def test_a_wrong_password_names_the_password_field_and_signs_nothing(client, bob, subject):
    client.force_login(bob)
    before = _written()
    url = reverse("sign_off", args=["subject", subject.pk])
    response = client.post(url, {"password": "not my password"})
    assert response.status_code == 200
    assert response.context["form"].errors["password"] == [WRONG_PASSWORD]
    # Only the wrong password's own audit line (ecrf.signature.password_failed) is written.
    *data, audit_lines = before
    assert _written() == (*data, audit_lines + 1)
    assert AuditEvent.objects.filter(action=SIGNATURE_PASSWORD_FAILED).count() == 1


def test_bob_signs_a_visit(client, bob, subject):
    visit = subject.visits.get(label="C1D8")
    client.force_login(bob)
    response = client.post(
        reverse("sign_off", args=["visit", visit.pk]),
        {"password": PASSWORD},
    )
    assert response.status_code == 302
    assert Signature.objects.get().object_id == str(visit.pk)
    assert "Visit C1D8:</strong> Signed by Bob Baker" in _casebook(client, subject)


@pytest.mark.parametrize("persona", ["alice", "morgan", "dana"])
def test_only_the_sites_investigator_signs(client, persona, alice, monitor, data_manager, subject):
    client.force_login({"alice": alice, "morgan": monitor, "dana": data_manager}[persona])
    url = reverse("sign_off", args=["subject", subject.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"password": PASSWORD}).status_code == 403
    assert Signature.objects.count() == 0


def test_an_adverse_event_is_not_signed_on_its_own(client, bob, event):
    client.force_login(bob)
    assert client.get(reverse("sign_off", args=["ae", event.pk])).status_code == 404


# Another site


def test_another_sites_staff_get_404_on_every_oversight_url(
    client, charlie, study, site_b, monitor, data_manager, event, query
):
    lock = lock_place(target=event, by=data_manager)
    subject = event.subject
    get_urls = [
        reverse("subject_review", args=[subject.pk]),
        reverse("query_raise", args=["ae", event.pk]),
        reverse("query_detail", args=[query.pk]),
        reverse("lock_release", args=[lock.pk]),
        reverse("sign_off", args=["subject", subject.pk]),
    ]
    post_urls = [
        reverse("query_answer", args=[query.pk]),
        reverse("query_close", args=[query.pk]),
        reverse("query_reopen", args=[query.pk]),
        reverse("record_verify", args=["ae", event.pk]),
        reverse("record_lock", args=["subject", subject.pk]),
        *get_urls[1:2],
        *get_urls[3:],
    ]
    before = _written()
    for user in (charlie, _user("bruno", "investigator", study, site_b)):
        client.force_login(user)
        for url in get_urls:
            assert client.get(url).status_code == 404, url
        for url in post_urls:
            data = {"message": "x", "reason": "x", "loaded_version": 1, "password": PASSWORD,
                    "field": "grade"}  # fmt: skip
            assert client.post(url, data).status_code == 404, url
        assert "Grade 1 per source?" not in client.get(reverse("query_list")).content.decode()
    assert _written() == before


def test_an_unknown_kind_of_record_is_not_found(client, monitor, event):
    client.force_login(monitor)
    assert client.get(reverse("query_raise", args=["audit", event.pk])).status_code == 404


def test_source_verification_leaves_a_signature_valid(client, monitor, bob, event, subject):
    """Marking data as verified is not a change of the data: a signature stays valid."""
    signoff_sign(target=subject, by=bob, password=PASSWORD)
    verification_record(record=event, by=monitor)
    client.force_login(bob)
    assert "Signed · valid" in _casebook(client, subject)


def test_a_consistency_query_shows_on_the_query_pages_with_a_link_to_the_form(
    client, alice, monitor, subject, all_agents_unrelated
):
    """A-001 is female: 'Erectile dysfunction' opens a consistency query on the event's term."""
    from ecrf.models import QueryOrigin
    from ecrf.services import ae_record

    event = ae_record(
        subject=subject,
        ctcae_term="Erectile dysfunction",
        grade=1,
        onset_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )
    query = DataQuery.objects.get(origin=QueryOrigin.CONSISTENCY)
    client.force_login(alice)
    page = client.get(reverse("query_detail", args=[query.pk])).content.decode()
    assert reverse("ae_edit", args=[event.pk]) in page
    assert "Erectile dysfunction is a term of male subjects; this subject is female." in page
    client.force_login(monitor)
    listing = client.get(reverse("query_list")).content.decode()
    assert reverse("query_detail", args=[query.pk]) in listing
    assert "Erectile dysfunction is a term of male subjects" in listing
