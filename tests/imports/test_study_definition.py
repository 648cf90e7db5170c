"""manage.py load_study: a good file creates or updates the study; a bad one changes nothing."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from ecrf.models import AuditEvent, DoseLevel, Study
from tests.factories import DEFINITION


def _write(tmp_path, data, name="study.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.django_db
def test_it_creates_the_reference_trial_from_the_shipped_file(capsys):
    call_command("load_study", "studies/IL2-IM-CTX.json")
    study = Study.objects.get(code="IL2-IM-CTX")
    assert "Created study IL2-IM-CTX" in capsys.readouterr().out
    assert (study.cycle_days, study.design_method, study.dlt_window_days) == (21, "3+3", 21)
    assert [dl.level for dl in study.dose_levels.all()] == [1, 2, 3, 4]
    il2 = {dl.level: dl.doses.get(agent__code="IL2").dose for dl in study.dose_levels.all()}
    assert il2 == {1: Decimal(3), 2: Decimal(6), 3: Decimal(9), 4: Decimal(12)}
    assert study.agents.get(code="IM").schedule.last_day == 14
    assert study.agents.get(code="CTX").schedule.first_day == -21
    assert study.sites.count() == 2


@pytest.mark.django_db
def test_it_applies_defaults_for_the_optional_keys(tmp_path):
    data = {k: v for k, v in DEFINITION.items() if k not in ("dlt", "cycle_days", "design")}
    call_command("load_study", _write(tmp_path, data))
    study = Study.objects.get(code="TEST-IL2")
    assert (study.cycle_days, study.dlt_window_days, study.dlt_min_attribution) == (
        21,
        21,
        "possible",
    )
    assert study.dlt_min_exposure_pct == 75 and study.design_method == "3+3"
    assert study.dlt_underdosing_for_toxicity_evaluable is True
    assert study.dose_above_plan_pct == 110


@pytest.mark.django_db
def test_the_study_file_may_count_under_dosing_for_toxicity_against_exposure(tmp_path):
    data = json.loads(json.dumps(DEFINITION))
    data["dlt"]["underdosing_for_toxicity_evaluable"] = False
    call_command("load_study", _write(tmp_path, data))
    assert Study.objects.get(code="TEST-IL2").dlt_underdosing_for_toxicity_evaluable is False


@pytest.mark.django_db
def test_the_limit_of_a_dose_above_the_plan_is_a_study_setting(tmp_path):
    """Issue #21 item 4: more than 110 % of the planned dose unless the study file says."""
    call_command("load_study", "studies/IL2-IM-CTX.json")
    assert Study.objects.get(code="IL2-IM-CTX").dose_above_plan_pct == 110
    data = json.loads(json.dumps(DEFINITION))
    data["dosing"] = {"above_plan_pct": 125}
    call_command("load_study", _write(tmp_path, data))
    assert Study.objects.get(code="TEST-IL2").dose_above_plan_pct == 125


@pytest.mark.django_db
def test_loading_again_updates_by_code_and_audits_the_change(tmp_path, capsys):
    call_command("load_study", _write(tmp_path, DEFINITION))
    changed = json.loads(json.dumps(DEFINITION))
    changed["design"] = {"method": "boin", "target": 0.3}
    changed["dose_levels"].append(
        {"level": 3, "label": "IL-2 9 MIU/day", "doses": {"CTX": 50, "IM": 400, "IL2": 9}}
    )
    call_command("load_study", _write(tmp_path, changed, "v2.json"))
    assert "Updated study TEST-IL2" in capsys.readouterr().out
    study = Study.objects.get(code="TEST-IL2")
    assert (study.design_method, study.design_target) == ("boin", Decimal("0.3"))
    assert study.dose_levels.count() == 3
    row = AuditEvent.objects.get(model="ecrf.Study", field="design_method", old_value="3+3")
    assert row.new_value == "boin" and "v2.json" in row.reason


@pytest.mark.django_db
def test_loading_the_same_file_twice_changes_nothing(tmp_path):
    path = _write(tmp_path, DEFINITION)
    call_command("load_study", path)
    audit = AuditEvent.objects.count()
    call_command("load_study", path)
    assert AuditEvent.objects.count() == audit


def _bad(**changes):
    data = json.loads(json.dumps(DEFINITION))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


BAD_FILES = [
    ("{not json", "not valid JSON at line 1"),
    ("[]", "must be a JSON object"),
    (_bad(code=None), "code: is required"),
    (_bad(code="has space"), "code: may contain only letters, digits"),
    (_bad(title=""), "title: must be a non-empty text"),
    (_bad(ctcae_version="4.03"), "ctcae_version: must be one of 5.0, not '4.03'"),
    (_bad(cycle_days=0), "cycle_days: must be at least 1, not 0"),
    (_bad(cycle_days="21"), "cycle_days: must be a whole number, not '21'"),
    (_bad(agents=[]), "agents: must list at least one agent"),
    (_bad(agents=[{"code": "IM", "name": "Imatinib"}]), "agents[0].unit: is required"),
    (
        _bad(dose_levels=[{"level": 1, "label": "x", "doses": {"CTX": 50, "IM": -400, "IL2": 3}}]),
        "dose_levels[0].doses.IM: cannot be negative (-400)",
    ),
    (
        _bad(dose_levels=[{"level": 1, "label": "x", "doses": {"CTX": 50, "IM": 400}}]),
        "dose_levels[0].doses.IL2: is required: every agent needs a dose",
    ),
    (
        _bad(
            dose_levels=[
                {"level": 1, "label": "x", "doses": {"CTX": 50, "IM": 400, "XX": 1, "IL2": 3}}
            ]
        ),
        "dose_levels[0].doses.XX: is not one of the agents (CTX, IM, IL2)",
    ),
    (
        _bad(dose_levels=[DEFINITION["dose_levels"][0], DEFINITION["dose_levels"][0]]),
        "dose_levels: level 1 appears more than once",
    ),
    (_bad(design={"method": "crm"}), "design.method: must be one of 3+3, boin, not 'crm'"),
    (_bad(design={"method": "boin"}), "design.target: is required for a BOIN design"),
    (_bad(design={"method": "boin", "target": 1.5}), "design.target: must be between 0 and 1"),
    (_bad(dlt={"window_days": 21, "min_attribution": "likely"}), "dlt.min_attribution: must be"),
    (_bad(dlt={"min_exposure_pct": 120}), "dlt.min_exposure_pct: must be at most 100, not 120"),
    (_bad(dlt={"window": 21}), "dlt.window: is not a known key"),
    (
        _bad(dlt={"underdosing_for_toxicity_evaluable": "yes"}),
        "dlt.underdosing_for_toxicity_evaluable: must be true or false, not 'yes'",
    ),
    (_bad(schedule=[{"day": 30}]), "schedule[0].day: must be at most 21, not 30"),
    (_bad(dosing={"above_plan_pct": 90}), "dosing.above_plan_pct: must be at least 100, not 90"),
    (
        _bad(dosing={"above_plan_pct": "110%"}),
        "dosing.above_plan_pct: must be a whole number, not '110%'",
    ),
    (_bad(dosing={"above_plan": 110}), "dosing.above_plan: is not a known key"),
    (_bad(dosing=[110]), "dosing: must be an object"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_file_names_the_key_and_problem_and_writes_nothing(tmp_path, content, message):
    with pytest.raises(CommandError) as info:
        call_command("load_study", _write(tmp_path, content))
    assert message in str(info.value)
    assert Study.objects.count() == 0 and AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("load_study", str(tmp_path / "nope.json"))


@pytest.mark.django_db
def test_a_bad_update_leaves_the_existing_study_untouched(tmp_path):
    call_command("load_study", _write(tmp_path, DEFINITION))
    audit = AuditEvent.objects.count()
    with pytest.raises(CommandError):
        call_command("load_study", _write(tmp_path, _bad(cycle_days=-1), "bad.json"))
    assert Study.objects.get().cycle_days == 21
    assert AuditEvent.objects.count() == audit
    assert DoseLevel.objects.count() == 2


@pytest.mark.django_db
def test_it_lists_every_problem_of_a_file_at_once(tmp_path):
    with pytest.raises(CommandError) as info:
        call_command("load_study", _write(tmp_path, _bad(title="", cycle_days=0)))
    assert "title:" in str(info.value) and "cycle_days:" in str(info.value)
