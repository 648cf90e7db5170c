"""The pages people wait for run as many SQL queries for a big trial as for a small one, and
their long lists come a page at a time.

Records are written through the services, as a nurse would write them; each count is taken
after a first request, so that caches filled once per process (content types, permissions)
do not make the small trial look more expensive than the big one.
"""

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ecrf.models import AdverseEvent, Subject
from ecrf.services import (
    ae_record,
    dose_record,
    lab_record,
    subject_screen,
)
from ecrf.services.labs import LabPanelRow, lab_panel_save
from ecrf.views import dlt as dlt_views
from ecrf.views import subjects as subject_views
from ecrf.views.investigator import HOME_ROWS
from tests.factories import subject_enrolled

FIRST_DOSE = dt.date(2026, 3, 2)


def _record(
    subject: Subject, by, *, events: int, labs: int = 0, doses: int = 0, related: bool = True
) -> None:
    """Grade 3 fatigue possibly related to every agent (a potential DLT in the window; unrelated
    and no DLT with ``related=False``), ALT results and daily imatinib doses."""
    attribution = "possible" if related else "unrelated"
    assessments = dict.fromkeys(("CTX", "IM", "IL2"), (attribution, "none"))
    for i in range(events):
        ae_record(subject=subject, ctcae_term="Fatigue", grade=3, assessments=assessments,
                  onset_on=FIRST_DOSE + dt.timedelta(days=2 + i % 15), by=by)  # fmt: skip
    for i in range(labs):
        lab_record(subject=subject, test_code="ALT", value=Decimal(30 + i), unit="U/L",
                   uln=Decimal(40), by=by,
                   collected_at=dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC) + dt.timedelta(hours=i))  # fmt: skip
    agent = subject.study.agents.get(code="IM")
    for i in range(doses):
        dose_record(subject=subject, agent=agent, given_on=FIRST_DOSE + dt.timedelta(days=i),
                    given_dose=Decimal(400), by=by)  # fmt: skip


def _trial(
    study, site, by, *, subjects: int, events: int, start: int = 1, related: bool = True
) -> None:
    """Subjects A-<start>... at dose level 1 (those not enrolled yet are), each with `events`."""
    for number in range(start, start + subjects):
        code = f"A-{number:03d}"
        subject = study.subjects.filter(subject_code=code).first()
        subject = subject or subject_enrolled(study, site, code, by=by)
        _record(subject, by, events=events, related=related)


def _enrolled(study, site, by, *, subjects: int) -> None:
    """Enrol the subjects of a test before any of them has a potential DLT: two DLTs at dose
    level 1 make it exceed the MTD, and the 3+3 design then opens no dose level."""
    for number in range(1, subjects + 1):
        subject_enrolled(study, site, f"A-{number:03d}", by=by)


def _queries(client, url: str) -> int:
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_subject_list_runs_as_many_queries_for_20_subjects_as_for_2(
    client, alice, study, site_a
):
    client.force_login(alice)
    url = reverse("subject_list")
    _trial(study, site_a, alice, subjects=2, events=1, related=False)
    small = _queries(client, url)
    _trial(study, site_a, alice, subjects=18, events=1, start=3, related=False)
    assert Subject.objects.count() == 20
    assert _queries(client, url) == small
    page = client.get(url).content.decode()
    assert "A-020" in page


def test_the_subject_list_counts_each_subjects_events_and_worst_grade(client, alice, study, site_a):
    _trial(study, site_a, alice, subjects=1, events=3)
    subject_enrolled(study, site_a, "A-002", by=alice)
    client.force_login(alice)
    page = client.get(reverse("subject_list")).content.decode()
    first, second = page.split("A-001", 1)[1], page.split("A-002", 1)[1]
    assert '<td class="text-end">3</td>' in first.split("</tr>")[0]
    assert '<td class="text-end grade-3">3</td>' in first.split("</tr>")[0]
    assert '<td class="text-end">0</td>' in second.split("</tr>")[0]


def test_the_subject_list_pages_keep_the_filters(client, alice, study, site_a, monkeypatch):
    monkeypatch.setattr(subject_views, "SUBJECT_LIST_ROWS", 2)
    for number in range(1, 5):
        subject_screen(study=study, site=site_a, subject_code=f"A-{number:03d}",
                       consent_on=dt.date(2026, 2, 1), by=alice)  # fmt: skip
    client.force_login(alice)
    url = reverse("subject_list")
    body = client.get(url, {"status": "screening", "q": "A-00"}).content.decode()
    assert "A-002" in body and "A-003" not in body
    assert "Page 1 of 2" in body
    assert "?status=screening&amp;q=A-00&amp;page=2" in body
    second = client.get(url, {"status": "screening", "q": "A-00", "page": 2}).content.decode()
    assert "A-003" in second and "A-004" in second and "A-002" not in second
    assert "?status=screening&amp;q=A-00&amp;page=1" in second


def test_the_casebook_runs_as_many_queries_for_30_events_as_for_2(client, alice, subject):
    client.force_login(alice)
    url = reverse("subject_detail", args=[subject.pk])
    tabs = ["", "?tab=aes", "?tab=doses", "?tab=labs", "?tab=audit", "?tab=labs&page=2"]
    _record(subject, alice, events=2, labs=2, doses=2)
    small = {tab: _queries(client, url + tab) for tab in tabs}
    _record(subject, alice, events=28, labs=28, doses=28)
    assert AdverseEvent.objects.filter(subject=subject).count() == 30
    assert {tab: _queries(client, url + tab) for tab in tabs} == small


def test_the_casebook_lists_the_adverse_events_a_page_at_a_time(
    client, alice, subject, monkeypatch
):
    monkeypatch.setattr(subject_views, "CASEBOOK_PAGE_ROWS", 2)
    _record(subject, alice, events=3)
    client.force_login(alice)
    url = reverse("subject_detail", args=[subject.pk])
    first = client.get(url).content.decode()
    assert "Adverse events (3)" in first
    assert "Adverse events 1–2 of 3, latest onset first." in first
    assert first.count('href="/adverse-events/') == 2
    assert "?tab=aes&amp;page=2" in first
    second = client.get(url, {"tab": "aes", "page": 2}).content.decode()
    assert "Adverse events 3–3 of 3" in second and second.count('href="/adverse-events/') == 1
    assert 'class="tab-pane fade show active" id="aes"' in second
    # The latest onset first: the first event recorded (the earliest) is on the second page.
    earliest = AdverseEvent.objects.order_by("onset_on").first()
    assert str(earliest.pk) in second and str(earliest.pk) not in first


def test_the_casebook_shows_labs_doses_and_audit_on_their_own_pages(client, alice, subject):
    _record(subject, alice, events=1, labs=3, doses=2)
    client.force_login(alice)
    url = reverse("subject_detail", args=[subject.pk])
    first = client.get(url).content.decode()
    # The first page carries the visits and adverse events, and links to the other tabs.
    assert "Labs (3)" in first and "Dosing (2)" in first and 'id="labs"' not in first
    assert 'href="?tab=labs"' in first and "U/L" not in first
    labs = client.get(url, {"tab": "labs"}).content.decode()
    assert 'id="labs"' in labs and labs.count("U/L") == 3 and "2026-03-02 10:00" in labs
    doses = client.get(url, {"tab": "doses"}).content.decode()
    assert doses.count(">400<") == 4  # planned and given, two doses
    audit = client.get(url, {"tab": "audit"}).content.decode()
    assert 'id="audit"' in audit and "A-001" in audit and "alice" in audit


def test_the_dlt_dashboard_runs_as_many_queries_for_20_subjects_as_for_2(
    client, bob, alice, study, site_a
):
    client.force_login(bob)
    url = reverse("dlt_dashboard")
    _enrolled(study, site_a, alice, subjects=20)
    _trial(study, site_a, alice, subjects=2, events=1)
    small = _queries(client, url)
    _trial(study, site_a, alice, subjects=18, events=1, start=3)
    body = client.get(url).content.decode()
    assert "A-020" in body and body.count("Fatigue G3: Potential") == 20
    assert _queries(client, url) == small


def test_the_dlt_dashboard_pages_its_subjects(client, bob, alice, study, site_a, monkeypatch):
    monkeypatch.setattr(dlt_views, "DASHBOARD_SUBJECT_ROWS", 2)
    _trial(study, site_a, alice, subjects=3, events=0)
    client.force_login(bob)
    url = reverse("dlt_dashboard")
    first = client.get(url).content.decode()
    assert "A-002" in first and "A-003" not in first
    assert f"?page-{study.code}=2" in first
    second = client.get(url, {f"page-{study.code}": 2}).content.decode()
    assert "A-003" in second and "A-001" not in second


def test_the_admin_adverse_event_list_runs_as_many_queries_for_30_events_as_for_2(
    client, data_manager, alice, study, site_a
):
    client.force_login(data_manager)
    url = reverse("admin:ecrf_adverseevent_changelist")
    _trial(study, site_a, alice, subjects=2, events=1, related=False)
    small = _queries(client, url)
    _trial(study, site_a, alice, subjects=2, events=14, start=3, related=False)
    assert AdverseEvent.objects.count() == 30
    assert "30 adverse events" in client.get(url).content.decode()
    assert _queries(client, url) == small


def _lab_only_grade_4(subjects, by) -> None:
    """Sodium 118 mmol/L (hyponatremia grade 4, CTCAE v5.0 <120) on day 9, no adverse event."""
    for subject in subjects:
        lab_record(subject=subject, test_code="SODIUM", value=Decimal(118), unit="mmol/L",
                   lln=Decimal(135), uln=Decimal(145), by=by,
                   collected_at=dt.datetime(2026, 3, 10, 8, tzinfo=dt.UTC))  # fmt: skip


def test_the_dlt_dashboard_and_review_queue_list_unreconciled_labs_in_constant_queries(
    client, bob, alice, study, site_a
):
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    client.force_login(bob)
    urls = [reverse("dlt_dashboard"), reverse("admin:ecrf_dltreviewqueue_changelist")]
    # Unrelated events: potential DLTs at dose level 1 would close it to the next subjects.
    _trial(study, site_a, alice, subjects=2, events=1, related=False)
    _lab_only_grade_4(Subject.objects.all(), alice)
    small = [_queries(client, url) for url in urls]
    _trial(study, site_a, alice, subjects=18, events=1, start=3, related=False)
    _lab_only_grade_4(Subject.objects.exclude(lab_results__test_code="SODIUM"), alice)
    for url in urls:
        assert client.get(url).content.decode().count("Rule out, signed") == 20
    assert [_queries(client, url) for url in urls] == small


def _ungraded_labs(subject, by, *, count: int, start: int = 0) -> None:
    """Leukocyte counts without limits: saved by the lab grid without a grade."""
    rows = [
        LabPanelRow(test_code="WBC", values={
            "value": Decimal(5000), "unit": "/mm3", "lln": None, "uln": None,
            "collected_at": dt.datetime(2026, 3, 9, 8, tzinfo=dt.UTC) + dt.timedelta(hours=i)})
        for i in range(start, start + count)
    ]  # fmt: skip
    lab_panel_save(subject=subject, visit=subject.visits.get(label="C1D8"), rows=rows, by=by)


def test_home_and_the_casebook_run_as_many_queries_for_20_ungraded_results_as_for_2(
    client, alice, subject
):
    client.force_login(alice)
    urls = [reverse("home"), reverse("subject_detail", args=[subject.pk])]
    _ungraded_labs(subject, alice, count=2)
    small = [_queries(client, url) for url in urls]
    _ungraded_labs(subject, alice, count=18, start=2)
    assert [_queries(client, url) for url in urls] == small
    assert "20 lab results not graded" in client.get(urls[0]).content.decode()


def _investigator_items(subjects, nurse, investigator, monitor) -> None:
    """Of each subject: a serious potential DLT, a done visit signed and then changed by a
    dose given at it, a done visit never signed, an open query, and the end of treatment."""
    from ecrf.services.queries import query_raise
    from ecrf.services.signoff import signoff_sign
    from ecrf.services.subjects import subject_end_treatment
    from ecrf.services.visits import visit_record

    for subject in subjects:
        event = ae_record(subject=subject, ctcae_term="Fatigue", grade=3,
                          onset_on=FIRST_DOSE + dt.timedelta(days=3),
                          serious_criteria=("sae_hospitalisation",),
                          site_aware_at=timezone.now() - dt.timedelta(minutes=1),
                          assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("possible", "none")),
                          by=nurse)  # fmt: skip
        first, second = subject.visits.order_by("planned_on")[1:3]
        for visit in (first, second):
            visit_record(visit=visit, status="done", done_on=visit.planned_on, by=nurse)
        signoff_sign(target=first, by=investigator, password="correct horse battery")  # fmt: skip
        dose_record(subject=subject, agent=subject.study.agents.get(code="IM"),
                    given_on=first.planned_on, given_dose=Decimal(400), visit=first, by=nurse)  # fmt: skip
        query_raise(record=event, field="grade", message="Grade per source?", by=monitor)
        subject_end_treatment(subject=subject, ended_on=FIRST_DOSE + dt.timedelta(days=20),
                              reason="completed", by=nurse)  # fmt: skip
    _lab_only_grade_4(subjects, nurse)


def test_the_investigator_home_runs_as_many_queries_for_20_subjects_as_for_2(
    client, bob, alice, monitor, study, site_a
):
    client.force_login(bob)
    url = reverse("home")
    _enrolled(study, site_a, alice, subjects=20)
    _trial(study, site_a, alice, subjects=2, events=0)
    _investigator_items(Subject.objects.filter(subject_code__in=["A-001", "A-002"]), alice, bob,
                        monitor)  # fmt: skip
    small = _queries(client, url)
    _trial(study, site_a, alice, subjects=18, events=0, start=3)
    _investigator_items(Subject.objects.exclude(subject_code__in=["A-001", "A-002"]), alice, bob,
                        monitor)  # fmt: skip
    body = client.get(url).content.decode()
    section = body.split('id="investigator-day"')[1]
    # 20 potential DLTs and 20 unreconciled labs await a decision; the oldest HOME_ROWS show.
    decisions = section.split('id="awaiting-decision"')[1].split("</table>")[0]
    assert decisions.count("Review and decide") + decisions.count(">Review</a>") == HOME_ROWS
    assert f"The oldest {HOME_ROWS} of 40" in section
    assert section.count("Sign casebook") == 20 and section.count("changed since signed") >= 20
    assert section.count(" h left") == 20
    # The oldest open queries (the automatic ones of the sodium results among them), and the
    # link to them all.
    queries = section.split('id="open-queries"')[1].split("</table>")[0]
    assert queries.count('href="/queries/') == 20 and "open queries</a>" in section
    assert _queries(client, url) == small


def test_the_dose_range_page_runs_as_many_queries_for_30_doses_as_for_2(client, alice, subject):
    client.force_login(alice)
    url = reverse("dose_range_create", args=[subject.pk])
    _record(subject, alice, events=0, doses=2)
    small = _queries(client, url)
    agent = subject.study.agents.get(code="CTX")
    for i in range(28):
        dose_record(subject=subject, agent=agent, given_on=FIRST_DOSE + dt.timedelta(days=i - 21),
                    given_dose=Decimal(50), by=alice)  # fmt: skip
    assert _queries(client, url) == small


# The research nurse's four saves, as bench.pages times them: a new adverse event, a correction
# of one with a reason, a dose as planned and a lab result in an empty row of a visit's grid.
# Issue #15 allows each 30 queries. The correction takes one more here than on the bench's
# synthetic trial: this study's DLT rules (Hy's law, a cycle delay) also read the subject's lab
# results and first doses on every re-evaluation.
NURSE_SAVE_QUERIES = {
    "adverse_event_new": 30,
    "adverse_event_correction": 31,
    "dose": 30,
    "lab_result": 30,
}


def _saved_in(client, url: str, data: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()
    return len(queries)


def _nurse_saves(client, subject, *, day: int, visit: int) -> dict[str, int]:
    """The queries of each save; `day` is a free dose day, `visit` the number of a cycle
    visit whose chemistry grid has no ALT yet."""
    from ecrf.services.dosing import level_dose
    from tests.html_forms import page_form_data

    counts = {}
    url = reverse("ae_create", args=[subject.pk])
    data = page_form_data(client, url)
    data.update(ctcae_term="Fatigue", verbatim="tired", grade="1", serious="no",
                onset_on=FIRST_DOSE.isoformat())  # fmt: skip
    for name in data:
        if name.startswith(("attribution_", "action_")):
            data[name] = "unlikely" if name.startswith("attribution_") else "none"
    counts["adverse_event_new"] = _saved_in(client, url, data)

    event = subject.adverse_events.order_by("onset_on", "created_at").first()
    url = reverse("ae_edit", args=[event.pk])
    data = page_form_data(client, url)
    data.update(verbatim=f"corrected on day {day}", change_reason="Transcription error")
    counts["adverse_event_correction"] = _saved_in(client, url, data)

    agent = subject.study.agents.get(code="IM")
    given_on = FIRST_DOSE + dt.timedelta(days=day)
    url = reverse("dose_create", args=[subject.pk])
    data = page_form_data(client, f"{url}?agent=IM&date={given_on.isoformat()}")
    data["given_dose"] = str(level_dose(subject, agent))
    counts["dose"] = _saved_in(client, url, data)

    grid = subject.visits.filter(kind="cycle_day").order_by("cycle", "day")[visit]
    url = reverse("lab_grid", args=[grid.pk, "chemistry"])
    data = page_form_data(client, url)
    assert data["ALT-value"] == ""
    data["ALT-value"] = "40"
    counts["lab_result"] = _saved_in(client, url, data)
    return counts


def test_the_nurses_saves_keep_their_query_budget_as_many_for_30_records_as_for_2(
    client, alice, subject, site_a, settings
):
    from ecrf.models import ReferenceRange

    # As bench.pages counts them: the session's write-back, the same for every request, is not
    # the save's.
    settings.SESSION_SAVE_EVERY_REQUEST = False

    ReferenceRange.objects.create(site=site_a, test_code="ALT", unit="U/L", sex="",
                                  uln=Decimal(40), effective_from=dt.date(2020, 1, 1))  # fmt: skip
    client.force_login(alice)
    _record(subject, alice, events=2, labs=2, doses=2)
    _nurse_saves(client, subject, day=10, visit=0)  # caches filled once per process
    small = _nurse_saves(client, subject, day=11, visit=1)
    _record(subject, alice, events=28, labs=28, doses=28)
    assert subject.adverse_events.count() == 32
    large = _nurse_saves(client, subject, day=43, visit=2)
    assert large == small
    assert all(small[save] <= budget for save, budget in NURSE_SAVE_QUERIES.items()), small
