"""A small trial imported from CSV, then `dlt_report`: every count and the recommendation.

Protocol DLT definition, default rule set (window days 1-21, at least possibly related, grade 3
fatigue lasting more than 7 days is a DLT; evaluable when the window is complete with at least 75%
of each agent's planned dose, or with a DLT). 3+3: 1 DLT among the evaluable patients of the
current dose means expanding that dose.
"""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ecrf.models import AdverseEvent, AuditEvent, DoseAdministration, LabResult, Subject

SUBJECTS = """subject_id,site,dose_level,enrolled_on,first_dose_on,off_study_on,off_study_reason
S01,A,1,2026-01-01,2026-01-05,,
S02,A,1,2026-01-01,2026-01-06,,
S03,C,1,2026-01-01,2026-01-07,,
S04,A,2,2026-01-30,2026-02-02,,
S05,A,2,2026-01-30,2026-02-03,,
S06,C,2,2026-01-30,2026-02-04,2026-02-13,Withdrew consent
"""
DOSES = """subject_id,agent,date,planned_dose,given_dose,unit
S04,IL2,2026-02-11,6,6,MIU
S04,IL2,2026-02-12,6,6,MIU
S04,IL2,2026-02-13,6,0,MIU
S04,IL2,2026-02-14,6,6,MIU
S04,IL2,2026-02-15,6,6,MIU
"""
ADVERSE_EVENTS = """subject_id,term,grade,onset_date,resolved_date,serious,attribution,attribution_IL2,verbatim
S05,Fatigue,3,2026-02-07,2026-02-17,N,unlikely,possible,
S01,Nausea,1,2026-01-10,2026-01-11,N,unrelated,,
"""
LABS = """subject_id,test,value,unit,lln,uln,collected_on
S01,ALT,130,U/L,,40,2026-01-12
"""


def _folder(tmp_path, **files):
    defaults = {
        "subjects": SUBJECTS,
        "doses": DOSES,
        "adverse_events": ADVERSE_EVENTS,
        "labs": LABS,
    }
    defaults.update(files)
    for name, content in defaults.items():
        if content is not None:
            (tmp_path / f"{name}.csv").write_text(content, encoding="utf-8")
    return str(tmp_path)


def _report(fmt="json"):
    out = StringIO()
    call_command(
        "dlt_report", "--study", "TEST-IL2", "--cutoff", "2026-06-30", "--format", fmt, stdout=out
    )
    return out.getvalue()


def test_an_imported_trial_gives_the_expected_dlt_report(tmp_path, study, capsys):
    call_command("import_csv", _folder(tmp_path), "--study", "TEST-IL2")
    output = capsys.readouterr().out
    assert "subjects.csv: 6 rows imported" in output and "Sites created: C" in output
    missed = DoseAdministration.objects.get(given_dose=0)
    assert missed.reason == "Not stated in the imported file"
    assert LabResult.objects.get().ctcae_grade == 2  # ALT 130 with ULN 40: 3.25 x ULN
    assert AuditEvent.objects.filter(actor="command:import_csv").exists()

    data = json.loads(_report())
    assert data["study"] == "TEST-IL2" and data["cutoff"] == "2026-06-30"
    levels = {row["level"]: row for row in data["dose_levels"]}
    assert (levels[1]["treated"], levels[1]["evaluable"], levels[1]["dlts"]) == (3, 3, 0)
    assert (levels[2]["treated"], levels[2]["evaluable"], levels[2]["dlts"]) == (3, 2, 1)
    subjects = {row["subject_id"]: row for row in data["subjects"]}
    assert subjects["S04"]["evaluable"]  # 4 of 5 IL-2 doses: 80% >= 75%
    assert not subjects["S06"]["evaluable"] and "off study" in subjects["S06"]["evaluable_reason"]
    assert subjects["S05"]["dlt"] and subjects["S05"]["evaluable"]
    (event,) = subjects["S05"]["dlt_events"]
    assert (event["term"], event["grade"], event["status"]) == ("Fatigue", 3, "potential")
    assert event["onset_date"] == "2026-02-07"
    assert subjects["S01"]["dlt_events"] == []
    recommendation = data["recommendation"]
    assert recommendation["design"] == "3+3"
    assert (recommendation["dose"], recommendation["proceed"], recommendation["mtd"]) == (
        2,
        True,
        None,
    )
    text = _report("text")
    assert "S06 (DL2): not evaluable" in text and "Recommendation (3+3)" in text


def test_one_bad_row_in_any_file_means_nothing_is_written(tmp_path, study):
    bad_labs = LABS + "S02,ALT,abc,U/L,,40,2026-01-12\nS09,ALT,30,U/L,,40,2026-01-12\n"
    bad_events = ADVERSE_EVENTS + "S02,Fatigue,4,2026-01-10,,N,possible,,\n"
    with pytest.raises(CommandError) as info:
        call_command(
            "import_csv",
            _folder(tmp_path, labs=bad_labs, adverse_events=bad_events),
            "--study",
            "TEST-IL2",
        )
    message = str(info.value)
    assert "labs.csv:3:value: 'abc' is not a number" in message
    assert "labs.csv:4:subject_id: no subject 'S09' in TEST-IL2" in message
    assert "adverse_events.csv:4:grade: Grade 4 is not allowed for Fatigue" in message
    for model in (Subject, DoseAdministration, AdverseEvent, LabResult):
        assert model.objects.count() == 0
    assert not study.sites.filter(code="C").exists()


DOSES_WITH_CATEGORY = """subject_id,agent,date,planned_dose,given_dose,unit,reason,reason_category
S04,IL2,2026-02-11,6,0,MIU,Fever,adverse_event
S04,IL2,2026-02-12,6,0,MIU,Bus strike,logistics
S04,IL2,2026-02-13,6,3,MIU,,
S04,IL2,2026-02-14,6,6,MIU,,
"""


def test_doses_csv_reads_the_optional_kind_of_reason_and_a_changed_dose_without_it_is_other(
    tmp_path, study
):
    call_command("import_csv", _folder(tmp_path, doses=DOSES_WITH_CATEGORY), "--study", "TEST-IL2")
    kinds = dict(DoseAdministration.objects.values_list("given_on__day", "reason_category"))
    assert kinds == {11: "adverse_event", 12: "logistics", 13: "other", 14: ""}


def test_an_unknown_kind_of_reason_names_the_row_and_column(tmp_path, study):
    doses = DOSES_WITH_CATEGORY.replace("Bus strike,logistics", "Bus strike,weather")
    with pytest.raises(CommandError) as info:
        call_command("import_csv", _folder(tmp_path, doses=doses), "--study", "TEST-IL2")
    assert (
        "doses.csv:3:reason_category: 'weather' is not one of adverse_event, patient_decision, "
        "logistics, other" in str(info.value)
    )
    assert DoseAdministration.objects.count() == 0


def test_a_dose_far_above_the_plan_is_imported_only_when_the_row_confirms_it(tmp_path, study):
    """The rule is the service's (issue #21 item 4): IL-2 60 MIU where 6 are planned."""
    header = "subject_id,agent,date,planned_dose,given_dose,unit,reason,confirm_above_plan\n"
    row = "S04,IL2,2026-02-11,6,60,MIU,Pharmacy error,{}\n"
    with pytest.raises(CommandError) as info:
        call_command(
            "import_csv", _folder(tmp_path, doses=header + row.format("")), "--study", "TEST-IL2"
        )
    assert (
        "doses.csv:2:confirm_above_plan: IL2: 60 MIU given, 6 planned (1000 %) is more than "
        "110 % of the planned dose." in str(info.value)
    )
    assert DoseAdministration.objects.count() == 0
    call_command(
        "import_csv", _folder(tmp_path, doses=header + row.format("yes")), "--study", "TEST-IL2"
    )
    assert DoseAdministration.objects.get().given_dose == 60


SERIOUS_EVENTS = """subject_id,term,grade,onset_date,resolved_date,serious,serious_criteria,site_aware_at,attribution
S05,Capillary leak syndrome,3,2026-02-07,2026-02-17,Y,hospitalisation,2026-02-07 14:30,possible
S01,Nausea,1,2026-01-10,2026-01-11,N,,,unrelated
"""


def test_a_serious_event_is_imported_with_the_time_the_site_became_aware(tmp_path, study):
    """ICH E2A: the 24-hour reporting clock of a serious event counts from that time."""
    call_command(
        "import_csv", _folder(tmp_path, adverse_events=SERIOUS_EVENTS), "--study", "TEST-IL2"
    )
    leak = AdverseEvent.objects.get(ctcae_term="Capillary leak syndrome")
    assert leak.serious
    assert leak.site_aware_at == timezone.make_aware(dt.datetime(2026, 2, 7, 14, 30))
    assert AdverseEvent.objects.get(ctcae_term="Nausea").site_aware_at is None


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            "hospitalisation,2026-02-07 14:30",
            "hospitalisation,",
            "adverse_events.csv:2:site_aware_at: is required when serious is Y",
        ),
        (
            "N,,,unrelated",
            "N,,2026-01-10 09:00,unrelated",
            "adverse_events.csv:3:site_aware_at: must be empty when serious is N",
        ),
    ],
)
def test_the_awareness_is_required_for_a_serious_event_and_only_for_one(
    tmp_path, study, before, after, message
):
    events = SERIOUS_EVENTS.replace(before, after)
    with pytest.raises(CommandError) as info:
        call_command("import_csv", _folder(tmp_path, adverse_events=events), "--study", "TEST-IL2")
    assert message in str(info.value)
    assert AdverseEvent.objects.count() == 0
