"""The DLT definition in the safety summary (issue #13): the DLT section names the version of
the study's DLT rules it used and lists every rule in order, each DLT names the rule that
flagged it, and the JSON twin and the cover carry the same. The version printed is checked
against the database by a second route (plain SQL on the rule set table, the ORM values of
the assessments).

The test trial (tests/reports/test_safety.py) is flagged with the default rule set: A-001's
nausea grade 3 for 10 days and B-004's anorexia grade 3 (onset day 5) are DLTs by the rule
"grade_3_non_haematological" (CTCAE v5.0 grade 3 is severe; nausea and vomiting lasting 3
days or less with supportive care are excused).
"""

import datetime as dt
import re

import pytest
from django.db import connection
from django.utils import timezone

from ecrf.models import DltAssessment
from ecrf.reports.safety import prepare_safety_report, rules_version_line, short_reason
from ecrf.reports.safety_data import safety_data
from ecrf.safety.dlt_rules import default_rules, parse_rules
from ecrf.services import system_actor
from ecrf.services.dlt import dlt_rules_record
from tests.factories import FEVER_RESOLVING
from tests.reports.test_safety import CUTOFF, _render, _tables, _text, trial  # noqa: F401

AMENDMENT = "Amendment 2: fever that resolves within 48 hours is not a DLT"
LISTING_HEADER = "Subject"


def _amend(study):
    """Record version 2 of the study's rules: the default set with a fever rule first."""
    rules = parse_rules([FEVER_RESOLVING, *default_rules().data])
    version, created = dlt_rules_record(
        study=study, rules=rules, by=system_actor("pytest"), source="amendment.json",
        reason=AMENDMENT,
    )  # fmt: skip
    assert created
    return version


def _latest_by_sql(study) -> tuple:
    """The study's latest rule set, read with plain SQL (not the report's selector)."""
    key = study.pk.hex if connection.vendor == "sqlite" else study.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT number, recorded_by, reason, created_at, digest FROM ecrf_dltruleset "
            "WHERE study_id = %s ORDER BY number DESC",
            [key],
        )
        rows = cursor.fetchall()
    assert len(rows) >= 1
    return rows[0]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _definition_rows(path) -> list[list[str]]:
    return [row for table in _tables(path, "#") for row in table[1:]]


def _created_on(value) -> dt.date:
    # SQLite gives a naive datetime (or its text) in UTC, PostgreSQL an aware datetime.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return timezone.localtime(value).date()


def test_the_dlt_section_names_the_latest_version_and_lists_every_rule_in_order(trial, tmp_path):  # noqa: F811
    _amend(trial)
    path, _ = _render(trial, tmp_path)
    number, recorded_by, reason, created_at, _digest = _latest_by_sql(trial)
    assert number == 2 and reason == AMENDMENT and recorded_by == "command:pytest"
    line = (
        f"DLT rules version {number}, recorded {_created_on(created_at).isoformat()} by "
        f"{recorded_by}: {reason}"
    )
    text = _flat(_text(path))
    section = text[text.index("4. Dose-limiting toxicities") :]
    # The version comes first in the section, before the DLT counts.
    assert section.index(line) < section.index("Dose level Treated DLT-evaluable")
    assert "DLT rules version 1" not in text
    # Every rule, in the stored order, with its outcome and its whole text.
    stored = trial.dlt_rule_sets.values_list("rules", flat=True).get(number=number)
    outcomes = {"dlt": "DLT", "not_dlt": "not a DLT"}
    assert _definition_rows(path) == [
        [str(n), rule["id"], outcomes[rule["outcome"]], rule["text"]]
        for n, rule in enumerate(stored, start=1)
    ]
    assert _definition_rows(path)[0][1] == "fever_resolving_48h"


def test_each_dlt_in_the_listing_names_the_rule_of_its_assessment_once(trial, tmp_path):  # noqa: F811
    path, _ = _render(trial, tmp_path)
    listing = [r for r in _tables(path, LISTING_HEADER) if r[0][5:6] == ["Rule"]]
    rows = [row for table in listing for row in table[1:]]
    assessed = dict(
        DltAssessment.objects.filter(
            adverse_event__subject__study=trial, adverse_event__onset_on__lte=CUTOFF,
            status__in=["potential", "confirmed", "ruled_out"],
        ).values_list("adverse_event__subject__subject_code", "rule")
    )  # fmt: skip
    assert {row[0]: row[5] for row in rows} == assessed
    assert assessed == {
        "A-001": "grade_3_non_haematological",
        "B-004": "grade_3_non_haematological",
    }
    rule_text = next(r.text for r in default_rules().rules if r.id == "grade_3_non_haematological")
    for row in rows:
        # The reason gives the event; the rule's text is in the definition table only.
        assert rule_text not in row[7] and "onset day" in row[7]


def test_the_cover_and_the_json_twin_carry_the_version_digest_and_rules(trial, tmp_path):  # noqa: F811
    before = prepare_safety_report(trial, cutoff=CUTOFF, generated_by="pytest").snapshot_hash
    _amend(trial)
    path, report = _render(trial, tmp_path)
    number, _by, _reason, _at, digest = _latest_by_sql(trial)
    assert f"DLT rules version {number} (SHA-256 {digest})" in _flat(_text(path))
    # What the report was built from includes the rules: a new version, a new snapshot.
    assert report.snapshot_hash != before
    data = safety_data(report)
    rules = data["dlt_rules"]
    assert (rules["version"], rules["digest"]) == (number, digest)
    assert rules["reason"] == AMENDMENT and rules["recorded_by"] == "command:pytest"
    stored = trial.dlt_rule_sets.values_list("rules", flat=True).get(number=number)
    assert rules["rules"] == [
        {"id": r["id"], "outcome": r["outcome"], "text": r["text"]} for r in stored
    ]
    pdf_rules = {row[0]: row[5] for table in _tables(path, LISTING_HEADER)
                 if table[0][5:6] == ["Rule"] for row in table[1:]}  # fmt: skip
    assert {e["subject_id"]: e["rule"] for e in data["dlt"]["events"]} == pdf_rules


def test_a_study_without_a_recorded_version_says_default_rule_set():
    rules = {"version": None, "digest": "x", "recorded_at": None, "recorded_by": None,
             "reason": None, "rules": []}  # fmt: skip
    assert rules_version_line(rules) == (
        "DLT rules: the default rule set (no version recorded for the study)."
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Nausea grade 3 for 10 days, onset day 9; DLT: rule r1: Any grade 3 is a DLT.",
         "Nausea grade 3 for 10 days, onset day 9"),
        ("Fever grade 3 for 1 day; not a DLT: rule r1: Any grade 3 is a DLT.",
         "Fever grade 3 for 1 day"),
        # A flag given by an older text of the rule, or the investigator's reason: kept whole.
        ("Nausea grade 3; DLT: rule r1: An older text.", "Nausea grade 3; DLT: rule r1: An older text."),
        ("Confirmed at the safety review meeting", "Confirmed at the safety review meeting"),
    ],
)  # fmt: skip
def test_the_listing_reason_drops_only_the_verdict_by_its_own_rule(reason, expected):
    assert short_reason(reason, "r1", {"r1": "Any grade 3 is a DLT."}) == expected
    assert short_reason(reason, "", {"r1": "Any grade 3 is a DLT."}) == reason


def test_the_definition_table_wraps_long_texts_inside_the_page(trial, tmp_path):  # noqa: F811
    # The longest text a rule may have (200 characters): three lines of the Text column.
    long_text = ("A grade 3 event " + "that lasts and lasts " * 8 + "is a DLT").ljust(200, "!")
    assert len(long_text) == 200
    rules = parse_rules([{"id": "long_rule", "text": long_text, "outcome": "dlt", "grade": 3}])
    dlt_rules_record(study=trial, rules=rules, by=system_actor("pytest"), source="long.json",
                     reason="A long rule")  # fmt: skip
    path, _ = _render(trial, tmp_path)
    assert _definition_rows(path) == [["1", "long_rule", "DLT", _flat(long_text)]]
    assert re.search(r"DLT rules version 2, recorded \S+ by command:pytest: A long rule",
                     _flat(_text(path)))  # fmt: skip
