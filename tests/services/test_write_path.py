"""The write path: the pages and imports save through services that own the whole change.

The subject is at dose level 1 (CTX 50 mg, IM 400 mg, IL2 3 MIU), first dose 2026-03-02, with
21-day cycles; visit C1D8 is planned on 2026-03-09 with a window of one day either side.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from ecrf.ctcae.labs import GradingError, grade_lab
from ecrf.models import (
    AdverseEventAgent,
    AuditEvent,
    DataQuery,
    DoseAdministration,
    LabResult,
    QueryOrigin,
    QueryState,
    Study,
)
from ecrf.services import STALE, StaleRecord, ae_record, dose_record, subject_screen
from ecrf.services import adverse_events as ae_services
from ecrf.services import labs as lab_services
from ecrf.services.adverse_events import ae_correct, ae_update
from ecrf.services.dosing import dose_correct
from ecrf.services.labs import LabPanelRefused, LabPanelRow, lab_panel_save, lab_record

C1D1 = dt.date(2026, 3, 2)
C1D8 = dt.date(2026, 3, 9)
SAMPLE = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)


def _new(test: str, value: str, unit: str, *, lln=None, uln=None) -> LabPanelRow:
    return LabPanelRow(
        test_code=test,
        values={
            "value": Decimal(value),
            "unit": unit,
            "lln": None if lln is None else Decimal(lln),
            "uln": None if uln is None else Decimal(uln),
            "collected_at": SAMPLE,
        },
    )


def _writes() -> tuple[int, int, int]:
    return LabResult.objects.count(), AuditEvent.objects.count(), DataQuery.objects.count()


# The visit page and its automatic query


def test_a_visit_saved_outside_its_window_with_the_warning_accepted_opens_an_automatic_query(
    client, alice, subject
):
    """The visit page saves through visit_record, which brings the automatic queries up to
    date: the accepted warning is queried at once, not only at the next unrelated save."""
    visit = subject.visits.get(label="C1D8")
    client.force_login(alice)
    response = client.post(
        reverse("visit_edit", args=[visit.pk]),
        {"status": "done", "done_on": "2026-03-12", "override_reason": "Public holiday"},
    )
    assert response.status_code == 302
    query = DataQuery.objects.get()
    assert (query.origin, query.state) == (QueryOrigin.EDIT_CHECK, QueryState.OPEN)
    assert (query.model, query.object_id) == ("ecrf.Visit", str(visit.pk))
    assert "Public holiday" in query.message


# Subject IDs


def test_screening_without_a_subject_id_gives_the_next_one_of_the_study_pattern(
    subject, study, site_a, alice
):
    screened = subject_screen(study=study, site=site_a, consent_on=dt.date(2026, 4, 1), by=alice)
    assert screened.subject_code == "A-002"  # "{site}-{number:03d}", the second subject
    again = subject_screen(study=study, site=site_a, consent_on=dt.date(2026, 4, 2), by=alice)
    assert again.subject_code == "A-003"


def test_screening_keeps_the_subject_id_an_import_gives(study, site_a, alice):
    screened = subject_screen(
        study=study, site=site_a, subject_code="A-117", consent_on=dt.date(2026, 4, 1), by=alice
    )
    assert screened.subject_code == "A-117"


def test_a_subject_id_pattern_that_cannot_be_filled_is_refused_with_its_code(study, site_a, alice):
    Study.objects.filter(pk=study.pk).update(subject_id_pattern="{site}-{clinic}")
    study.refresh_from_db()
    with pytest.raises(ValidationError) as info:
        subject_screen(study=study, site=site_a, consent_on=dt.date(2026, 4, 1), by=alice)
    assert info.value.error_list[0].code == "subject_id_pattern_broken"
    assert not study.subjects.exists()


# Lab panels


def test_a_lab_panel_is_saved_whole_and_counts_new_and_corrected_rows(subject, alice):
    visit = subject.visits.get(label="C1D8")
    earlier = lab_record(
        subject=subject, visit=visit, test_code="AST", value=Decimal(30), unit="U/L",
        uln=Decimal(40), collected_at=SAMPLE, by=alice,
    )  # fmt: skip
    saved = lab_panel_save(
        subject=subject,
        visit=visit,
        rows=[
            _new("ALT", "50", "U/L", uln="40"),
            LabPanelRow(
                test_code="AST",
                values={"value": Decimal(90)},
                result=earlier,
                reason="Transcription error",
                expected_version=earlier.version,
            ),
        ],
        by=alice,
    )
    assert [r.test_code for r in saved.created] == ["ALT"]
    assert [(r.test_code, r.value, r.ctcae_grade) for r in saved.corrected] == [
        ("AST", Decimal(90), 1)
    ]
    assert saved.created[0].ctcae_term == "Alanine aminotransferase increased"
    assert LabResult.objects.filter(visit=visit).count() == 2


def test_one_bad_row_saves_nothing_of_the_panel_and_every_bad_row_is_reported(subject, alice):
    visit = subject.visits.get(label="C1D8")
    before = _writes()
    with pytest.raises(LabPanelRefused) as info:
        lab_panel_save(
            subject=subject,
            visit=visit,
            rows=[
                _new("ALT", "50", "U/L", uln="40"),
                _new("AST", "50", "U/L", lln="-1", uln="40"),
                _new("BILI", "10", "umol/L", uln="0"),
            ],
            by=alice,
        )
    errors = info.value.row_errors
    assert set(errors) == {"AST", "BILI"}
    assert [e.code for e in errors["AST"].error_dict["lln"]] == ["negative"]
    assert [e.code for e in errors["BILI"].error_dict["uln"]] == ["zero"]
    assert _writes() == before


def test_a_panel_saves_the_results_it_cannot_grade_without_a_grade_and_says_why(subject, alice):
    visit = subject.visits.get(label="C1D8")
    saved = lab_panel_save(
        subject=subject,
        visit=visit,
        rows=[
            _new("ALT", "130", "U/L", uln="40"),
            _new("AST", "50", "furlongs", uln="40"),
            _new("BILI", "10", "umol/L"),  # BILI is graded against ULN, none given
        ],
        by=alice,
    )
    grades = {r.test_code: (r.ctcae_term, r.ctcae_grade) for r in LabResult.objects.all()}
    assert grades == {
        "ALT": ("Alanine aminotransferase increased", 2),
        "AST": ("", None),
        "BILI": ("", None),
    }
    assert [(item.result.test_code, item.reason) for item in saved.ungraded] == [
        ("AST", "Unit 'furlongs' does not fit AST; accepted units: U/L."),
        ("BILI", "BILI needs uln: Blood bilirubin increased is graded against ULN."),
    ]


def test_a_stale_correction_refuses_the_whole_panel_with_a_stale_record_error(subject, alice):
    visit = subject.visits.get(label="C1D8")
    result = lab_record(
        subject=subject, visit=visit, test_code="AST", value=Decimal(30), unit="U/L",
        uln=Decimal(40), collected_at=SAMPLE, by=alice,
    )  # fmt: skip
    loaded = result.version
    lab_services.lab_correct(
        result=result, changes={"value": Decimal(31)}, reason="Re-read", by=alice
    )
    before = _writes()
    with pytest.raises(LabPanelRefused) as info:
        lab_panel_save(
            subject=subject,
            visit=visit,
            rows=[
                _new("ALT", "50", "U/L", uln="40"),
                LabPanelRow(
                    test_code="AST",
                    values={"value": Decimal(90)},
                    result=result,
                    reason="Transcription error",
                    expected_version=loaded,
                ),
            ],
            by=alice,
        )
    stale = info.value.row_errors["AST"]
    assert isinstance(stale, StaleRecord)
    assert stale.code == STALE
    assert _writes() == before


def test_a_panel_save_syncs_the_automatic_queries_once_and_opens_the_reconciliation_query(
    subject, alice, monkeypatch
):
    """A grade 3 neutrophil count (CTCAE v5.0: <1000-500/mm3, here 0.8 x 10e9/L) without an
    adverse event is queried; the sync runs once for the panel, not once per row."""
    visit = subject.visits.get(label="C1D8")
    calls = []
    sync = lab_services.queries_sync_automatic

    def counted(**kwargs):
        calls.append(kwargs)
        return sync(**kwargs)

    monkeypatch.setattr(lab_services, "queries_sync_automatic", counted)
    lab_panel_save(
        subject=subject,
        visit=visit,
        rows=[
            _new("NEUT", "0.8", "10^9/L", lln="2.0", uln="7.5"),
            _new("PLAT", "250", "10^9/L", lln="150", uln="400"),
            _new("HGB", "130", "g/L", lln="120", uln="160"),
        ],
        by=alice,
    )
    assert len(calls) == 1
    query = DataQuery.objects.get()
    assert (query.origin, query.state) == (QueryOrigin.RECONCILIATION, QueryState.OPEN)


def test_a_refused_panel_does_not_sync_the_automatic_queries(subject, alice, monkeypatch):
    visit = subject.visits.get(label="C1D8")
    calls = []
    monkeypatch.setattr(lab_services, "queries_sync_automatic", lambda **kw: calls.append(kw))
    with pytest.raises(LabPanelRefused):
        lab_panel_save(
            subject=subject,
            visit=visit,
            rows=[_new("NEUT", "0.8", "10^9/L", lln="2.0", uln="7.5"),
                  _new("ALT", "50", "U/L", lln="-1", uln="40")],
            by=alice,
        )  # fmt: skip
    assert calls == []


# Grading errors carry their field and code


@pytest.mark.parametrize(
    ("args", "field", "code"),
    [
        (("URATE", 1, "mg/dL"), "test", "unknown"),
        (("ALT", 50, "g/L"), "unit", "unit_not_accepted"),
        (("ALT", -5, "U/L"), "value", "negative"),
        (("ALT", 50, "U/L"), "uln", "required"),
        (("NEUT", 1.0, "10^9/L"), "lln", "required"),
    ],
)
def test_a_grading_error_names_its_field_and_code(args, field, code):
    kwargs = {"uln": 40} if args[0] == "ALT" and args[1] < 0 else {}
    with pytest.raises(GradingError) as info:
        grade_lab(*args, **kwargs)
    assert (info.value.field, info.value.code) == (field, code)


def test_lln_above_uln_is_reported_on_uln():
    with pytest.raises(GradingError) as info:
        grade_lab("K", 4.0, "mmol/L", lln=5.5, uln=3.5)
    assert (info.value.field, info.value.code) == ("uln", "below_lln")


# Dose corrections


def _agent(subject, code):
    return subject.study.agents.get(code=code)


def test_a_new_dose_date_recomputes_cycle_day_and_visit(subject, alice):
    dose = dose_record(
        subject=subject, agent=_agent(subject, "IM"), given_on=C1D1, given_dose=Decimal(400),
        by=alice,
    )  # fmt: skip
    saved = dose_correct(dose=dose, changes={"given_on": C1D8}, reason="Wrong date", by=alice)
    saved = DoseAdministration.objects.get(pk=saved.pk)
    assert (saved.cycle, saved.day) == (1, 8)
    assert saved.visit == subject.visits.get(label="C1D8")
    later = dose_correct(
        dose=saved, changes={"given_on": dt.date(2026, 3, 24)}, reason="Wrong cycle", by=alice
    )
    assert (later.cycle, later.day) == (2, 2)  # 22 days after the first dose
    assert DoseAdministration.objects.get(pk=later.pk).visit is None


def test_a_new_agent_brings_its_unit_and_planned_dose(subject, alice):
    dose = dose_record(
        subject=subject, agent=_agent(subject, "IM"), given_on=C1D1, given_dose=Decimal(400),
        by=alice,
    )  # fmt: skip
    saved = dose_correct(
        dose=dose,
        changes={"agent": _agent(subject, "IL2"), "given_dose": Decimal(3)},
        reason="Wrong agent",
        by=alice,
    )
    saved = DoseAdministration.objects.get(pk=saved.pk)
    assert (saved.agent.code, saved.unit, saved.planned_dose) == ("IL2", "MIU", Decimal(3))
    fields = set(
        AuditEvent.objects.filter(object_id=str(dose.pk), reason="Wrong agent").values_list(
            "field", flat=True
        )
    )
    assert {"agent", "unit", "planned_dose", "given_dose"} <= fields


# Adverse event corrections


@pytest.fixture
def nausea(subject, alice, all_agents_unrelated):
    return ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=2,
        onset_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )


def _assessment(event, code) -> AdverseEventAgent:
    return event.agent_assessments.get(agent__code=code)


def test_an_ae_save_with_agent_changes_evaluates_the_dlt_rules_once(nausea, alice, monkeypatch):
    calls = []
    evaluate = ae_services.dlt_evaluate_event

    def counted(**kwargs):
        calls.append(kwargs)
        return evaluate(**kwargs)

    monkeypatch.setattr(ae_services, "dlt_evaluate_event", counted)
    ae_update(
        event=nausea,
        changes={"grade": 3},
        agent_changes={"IM": {"attribution": "possible"}, "IL2": {"attribution": "probable"}},
        reason="Source checked",
        by=alice,
        agent_versions={code: _assessment(nausea, code).version for code in ("IM", "IL2")},
    )
    assert len(calls) == 1
    assert _assessment(nausea, "IL2").attribution == "probable"


def test_a_stale_assessment_version_refuses_the_whole_ae_save(nausea, alice):
    loaded = {code: _assessment(nausea, code).version for code in ("CTX", "IM", "IL2")}
    ae_correct(
        record=_assessment(nausea, "IM"),
        changes={"attribution": "unlikely"},
        reason="Investigator's view",
        by=alice,
    )
    before = (AuditEvent.objects.count(), nausea.version)
    with pytest.raises(StaleRecord) as info:
        ae_update(
            event=nausea,
            changes={"grade": 3},
            agent_changes={"IL2": {"attribution": "probable"}},
            reason="Source checked",
            by=alice,
            agent_versions=loaded,
        )
    assert info.value.code == STALE
    nausea.refresh_from_db()
    assert (AuditEvent.objects.count(), nausea.version) == before
    assert nausea.grade == 2
    assert _assessment(nausea, "IL2").attribution == "unrelated"


# Outermost services own their transaction


def test_an_outermost_service_refuses_to_run_inside_a_callers_transaction(subject, alice):
    """A page, import or command that wrapped a durable service in its own transaction could
    roll back what the service reported as saved; Django refuses the nesting outright."""
    visit = subject.visits.get(label="C1D8")
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        lab_panel_save(
            subject=subject, visit=visit, rows=[_new("ALT", "50", "U/L", uln="40")], by=alice
        )
    assert not LabResult.objects.exists()
