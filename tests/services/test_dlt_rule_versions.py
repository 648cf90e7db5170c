"""The DLT definition is protocol data (issue #13): stated in the study file, recorded as a
version, changed by amendment with the change on record.

Same data, two definitions. Subject A-001 (first dose 2026-03-02), both events possibly related
to IL-2, with onset on day 12 (2026-03-13):
- Fever grade 3 for 1 day. CTCAE v5.0 "Fever" grade 3 is >40.0 degrees C for <=24 hrs. The
  reference trial's definition (studies/IL2-IM-CTX.json) makes any grade 3 non-haematological
  toxicity a DLT; the amended one says "grade 3 fever that resolves to grade <= 1 within 2 days
  (48 h) is not a DLT".
- ALT increased grade 2 for 7 days, with ALT 4 x ULN and total bilirubin 2.5 x ULN on
  2026-03-14: Hy's law (ALT or AST > 3 x ULN with bilirubin > 2 x ULN; FDA DILI guidance,
  2009). The reference definition has no Hy's law rule, so a grade 2 event is no DLT; the
  amended one has it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from ecrf.models import AuditEvent, DltAssessment, DltRuleSet, DltStatus, Study
from ecrf.safety.dlt_rules import default_rules, parse_rules
from ecrf.selectors.dlt import study_dlt_rules
from ecrf.services import ae_record, lab_record, system_actor
from ecrf.services.dlt import dlt_decide, dlt_rules_record
from tests.factories import (
    DEFINITION,
    FEVER_RESOLVING,
    PASSWORD,
    POSSIBLY_IL2,
    subject_enrolled,
    user_create,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_RULES = json.loads((ROOT / "studies" / "IL2-IM-CTX.json").read_text())["dlt"]["rules"]
ONSET = dt.date(2026, 3, 13)
CUTOFF = "2026-06-30"

HYS_LAW = {
    "id": "hys_law",
    "text": "ALT or AST > 3 x ULN with total bilirubin > 2 x ULN on the same day is a DLT.",
    "outcome": "dlt",
    "events": {"terms": ["Alanine aminotransferase increased", "Blood bilirubin increased"]},
    "lab": "hys_law",
}
AMENDED_RULES = [FEVER_RESOLVING, HYS_LAW, *REFERENCE_RULES]


def _definition(code: str, rules: list) -> dict:
    definition = copy.deepcopy(DEFINITION)
    definition["code"] = code
    definition["dlt"]["rules"] = rules
    return definition


def _write(tmp_path: Path, definition: dict, name: str = "study.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(definition), encoding="utf-8")
    return str(path)


def _load(path: str, *extra: str) -> str:
    out = StringIO()
    call_command("load_study", path, *extra, stdout=out)
    return out.getvalue()


def _trial_data(study: Study):
    """The two events and the labs of Hy's law, entered by a nurse of site A."""
    site = study.sites.get(code="A")
    nurse = user_create(f"nurse-{study.code.lower()}", "research_nurse", study, site)
    subject = subject_enrolled(study, site, "A-001", by=nurse)
    fever = ae_record(
        subject=subject, ctcae_term="Fever", grade=3, onset_on=ONSET,
        resolved_on=ONSET + dt.timedelta(days=1), outcome="recovered",
        assessments=POSSIBLY_IL2, by=nurse,
    )  # fmt: skip
    alt = ae_record(
        subject=subject, ctcae_term="Alanine aminotransferase increased", grade=2,
        onset_on=ONSET, resolved_on=ONSET + dt.timedelta(days=7), outcome="recovered",
        assessments=POSSIBLY_IL2, by=nurse,
    )  # fmt: skip
    collected = timezone.make_aware(dt.datetime(2026, 3, 14, 8, 0))
    for test, value, unit, uln in (("ALT", "160", "U/L", "40"), ("BILI", "52.5", "umol/L", "21")):
        lab_record(
            subject=subject, test_code=test, value=Decimal(value), unit=unit,
            uln=Decimal(uln), collected_at=collected, by=nurse,
        )  # fmt: skip
    return subject, fever, alt


def _report(code: str) -> dict:
    out = StringIO()
    call_command("dlt_report", "--study", code, "--cutoff", CUTOFF, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def _flagged(report: dict) -> dict[str, str]:
    """Term -> rule id of every event the report lists as a DLT candidate."""
    return {
        event["term"]: event["rule"]
        for subject in report["subjects"]
        for event in subject["dlt_events"]
    }


def test_the_study_file_rules_are_recorded_as_version_1(tmp_path, db):
    output = _load(_write(tmp_path, _definition("REF", REFERENCE_RULES)))
    assert "DLT rules version 1" in output
    version = DltRuleSet.objects.get(study__code="REF")
    assert (version.number, version.recorded_by) == (1, "command:load_study")
    assert [rule["id"] for rule in version.rules] == [rule["id"] for rule in REFERENCE_RULES]
    assert version.digest == parse_rules(REFERENCE_RULES).digest
    # The version's creation is in the audit trail too (who, when, why).
    assert AuditEvent.objects.filter(object_id=str(version.pk), action__endswith="created").exists()


def test_a_study_file_that_states_no_rules_gets_the_default_rule_set(db, study):
    rules = study_dlt_rules(study)
    assert rules.number == 1
    assert rules.version.digest == default_rules().digest
    assert rules.rules.rule("hys_law") is not None


def test_loading_the_same_rules_again_makes_no_new_version(tmp_path, db):
    path = _write(tmp_path, _definition("REF", REFERENCE_RULES))
    _load(path)
    audit_before = AuditEvent.objects.count()
    # The same rules laid out otherwise in the file (keys in another order) are the same rules.
    shuffled = [dict(reversed(list(rule.items()))) for rule in REFERENCE_RULES]
    _load(_write(tmp_path, _definition("REF", shuffled), "again.json"))
    assert DltRuleSet.objects.filter(study__code="REF").count() == 1
    assert AuditEvent.objects.count() == audit_before


def test_another_definition_gives_different_flags_on_the_same_data(tmp_path, db):
    for code, rules in (("REF", REFERENCE_RULES), ("AMENDED", AMENDED_RULES)):
        _load(_write(tmp_path, _definition(code, rules), f"{code}.json"))
        _trial_data(Study.objects.get(code=code))

    reference, amended = _report("REF"), _report("AMENDED")
    assert _flagged(reference) == {"Fever": "grade_3_non_haematological"}
    assert _flagged(amended) == {"Alanine aminotransferase increased": "hys_law"}
    # Every flagged event names its rule, and the report names the version of the rules.
    for report in (reference, amended):
        events = [e for s in report["subjects"] for e in s["dlt_events"]]
        assert events and all(e["rule"] and f"rule {e['rule']}:" in e["reason"] for e in events)
        assert report["dlt_rules"]["version"] == 1
    assert [r["id"] for r in amended["dlt_rules"]["rules"]][:2] == [
        "fever_resolving_48h",
        "hys_law",
    ]


def test_amending_the_rules_reflags_events_with_audit_lines_and_sends_decisions_back(tmp_path, db):
    _load(_write(tmp_path, _definition("REF", REFERENCE_RULES)))
    study = Study.objects.get(code="REF")
    subject, fever, alt = _trial_data(study)
    investigator = user_create("ines", "investigator", study, study.sites.get(code="A"))
    confirmed = dlt_decide(
        assessment=fever.dlt_assessment, decision="confirmed", reason="Fever above 40 C",
        by=investigator, password=PASSWORD,
    )  # fmt: skip
    assert (confirmed.rule, confirmed.needs_review) == ("grade_3_non_haematological", False)
    assert DltAssessment.objects.get(adverse_event=alt).rule_flag is False

    reason = "Amendment 2: Hy's law added; short IL-2 fever excluded"
    output = _load(
        _write(tmp_path, _definition("REF", AMENDED_RULES), "v2.json"), "--reason", reason
    )

    assert "DLT rules version 2" in output
    version = study_dlt_rules(study).version
    assert (version.number, version.reason) == (2, reason)
    fever_flag = DltAssessment.objects.get(adverse_event=fever)
    # The flag changed after a signed decision: the decision stands and goes back to review.
    assert (fever_flag.rule_flag, fever_flag.rule, fever_flag.status) == (
        False, "fever_resolving_48h", DltStatus.CONFIRMED,
    )  # fmt: skip
    assert fever_flag.needs_review and fever_flag.rule_set == version
    alt_flag = DltAssessment.objects.get(adverse_event=alt)
    assert (alt_flag.rule_flag, alt_flag.rule, alt_flag.status) == (True, "hys_law", "potential")
    assert not alt_flag.needs_review
    # Each changed flag has its audit line: who, the old and new value, and why.
    for assessment in (fever_flag, alt_flag):
        line = AuditEvent.objects.filter(object_id=str(assessment.pk), field="rule").latest("at")
        assert line.actor == "command:load_study"
        assert "DLT rules version 2" in line.reason and reason in line.reason
    rule_line = AuditEvent.objects.get(
        object_id=str(fever_flag.pk), field="rule", new_value__contains="fever"
    )
    assert rule_line.old_value == "grade_3_non_haematological"


def test_a_changed_definition_needs_a_reason(db, study):
    changed = parse_rules(AMENDED_RULES)
    with pytest.raises(ValidationError) as info:
        dlt_rules_record(
            study=study, rules=changed, by=system_actor("test"), source="x", reason=" "
        )
    assert "reason" in info.value.message_dict
    assert DltRuleSet.objects.filter(study=study).count() == 1


def test_a_study_file_with_bad_rules_is_refused_with_named_problems_and_nothing_written(
    tmp_path, db
):
    bad = copy.deepcopy(REFERENCE_RULES)
    bad[3]["grade"] = 6
    bad[0]["events"] = {"terms": ["Fatigeu"]}
    with pytest.raises(CommandError) as info:
        _load(_write(tmp_path, _definition("BAD", bad)))
    message = str(info.value)
    assert "dlt.rules[3].grade: must be 1-5, not 6" in message
    assert "dlt.rules[0].events.terms[0]: Unknown CTCAE v5.0 term 'Fatigeu'" in message
    assert "Fatigue" in message  # the closest CTCAE name
    assert not Study.objects.filter(code="BAD").exists()
