"""The DLT dashboard and the decision page name the version of the study's DLT rules and list
its rules (id and text, in order); each flagged event shows its rule id as a badge, with the
rule's text once (issue #13).

Default rule set (studies/dlt-default.json): fatigue grade 3 for 10 days, possibly related to
IL-2, onset day 12, is a potential DLT (the rule "short_fatigue" excuses grade 3 fatigue that
comes down within 7 days only); which rule flags it is read from the database, not assumed.
"""

import datetime as dt
import re
from html import unescape

import pytest
from django.urls import reverse

from ecrf.models import DltAssessment
from ecrf.safety.dlt_rules import default_rules, parse_rules
from ecrf.selectors.dlt import dlt_overview
from ecrf.services import system_actor
from ecrf.services.dlt import dlt_rules_record
from ecrf.views.dlt import rule_parts
from tests.factories import FEVER_RESOLVING, fatigue_grade_3

AMENDMENT = "Amendment 2: fever that resolves within 48 hours is not a DLT"


@pytest.fixture
def fatigue(subject, alice):
    """Fatigue grade 3 from day 12 (2026-03-13) for 10 days, possibly related to IL-2."""
    return fatigue_grade_3(subject, resolved_on=dt.date(2026, 3, 23), outcome="recovered", by=alice)


def _amend(study):
    rules = parse_rules([FEVER_RESOLVING, *default_rules().data])
    version, _ = dlt_rules_record(
        study=study, rules=rules, by=system_actor("pytest"), source="amendment.json",
        reason=AMENDMENT,
    )  # fmt: skip
    return version


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _element(html: str, element_id: str, tag: str) -> str:
    match = re.search(rf'<{tag}[^>]*id="{element_id}".*?</{tag}>', html, re.S)
    assert match, element_id
    return match.group(0)


def _listed_rules(html: str, code: str) -> list[tuple[str, str]]:
    """(id, text) of each rule of the page's rule list, in page order."""
    rules = _element(html, f"dlt-rules-{code}", "details")
    items = re.findall(rf'<li[^>]*id="rule-{code}-([^"]+)">(.*?)</li>', rules, re.S)
    return [(rule_id, _text(body)) for rule_id, body in items]


def _rule_text(study, rule_id: str) -> str:
    """The text of a rule of the study's latest version, read from the database."""
    return next(rule["text"] for rule in _stored_rules(study)[1] if rule["id"] == rule_id)


def _stored_rules(study) -> tuple[int, list[dict]]:
    """The latest version of the study's rules, read from the database."""
    return study.dlt_rule_sets.order_by("-number").values_list("number", "rules").first()


def test_the_dashboard_names_the_version_and_lists_every_rule_in_order(client, bob, fatigue):
    client.force_login(bob)
    study = fatigue.subject.study
    html = client.get(reverse("dlt_dashboard")).content.decode()
    number, stored = _stored_rules(study)
    rules = _element(html, f"dlt-rules-{study.code}", "details")
    assert f"DLT rules version {number}" in _text(rules) and number == 1
    outcome = {"dlt": "DLT", "not_dlt": "not a DLT"}
    assert _listed_rules(html, study.code) == [
        (rule["id"], f"{rule['id']} {outcome[rule['outcome']]} {rule['text']}") for rule in stored
    ]
    # The rule list comes before the recommendation and the review queue.
    assert html.index(f'id="dlt-rules-{study.code}"') < html.index('id="recommendation-')


def test_a_new_version_replaces_the_old_one_on_the_dashboard(client, bob, fatigue):
    study = fatigue.subject.study
    _amend(study)
    client.force_login(bob)
    html = client.get(reverse("dlt_dashboard")).content.decode()
    rules = _text(_element(html, f"dlt-rules-{study.code}", "details"))
    assert "DLT rules version 2" in rules and "DLT rules version 1" not in rules
    assert AMENDMENT in rules and "command:pytest" in rules
    assert _listed_rules(html, study.code)[0][0] == "fever_resolving_48h"


def test_a_queued_event_shows_its_rule_id_as_a_badge_and_its_text_once(client, bob, fatigue):
    client.force_login(bob)
    study = fatigue.subject.study
    html = client.get(reverse("dlt_dashboard")).content.decode()
    queue = _element(html, f"queue-{study.code}", "table")
    (row,) = [r for r in re.findall(r"<tr>.*?</tr>", queue, re.S) if "Fatigue" in r]
    # The rule the dashboard's overview (at today's cutoff) flags the event with.
    (queued,) = dlt_overview(study).queue
    rule = queued.flag.rule
    text = _rule_text(study, rule)
    assert re.search(rf'<a class="badge[^"]*rule-id[^"]*"[^>]*>{rule}</a>', row)
    assert _text(row).count(text) == 1 and _text(row).count(rule) == 1
    assert f"onset day 12; DLT: {rule} {text}" in _text(row)
    # The subject's row names the rule too, the text as the badge's title.
    subjects = html[html.index('<h3 class="h6 mt-4">Subjects</h3>') :]
    assert re.search(
        rf'<span class="badge[^"]*rule-id[^"]*" title="{re.escape(text)}">{rule}<', subjects
    )


def test_the_decision_page_names_the_version_and_the_rule_once(client, bob, fatigue):
    study = fatigue.subject.study
    _amend(study)
    client.force_login(bob)
    html = client.get(reverse("dlt_decide", args=[fatigue.dlt_assessment.pk])).content.decode()
    rules = _text(_element(html, f"dlt-rules-{study.code}", "details"))
    assert rules.startswith("DLT rules version 2")
    assert len(_listed_rules(html, study.code)) == len(_stored_rules(study)[1])
    reason = _text(_element(html, "rule-reason", "span"))
    rule = DltAssessment.objects.values_list("rule", flat=True).get(adverse_event=fatigue)
    text = _rule_text(study, rule)
    assert reason.endswith(f"; DLT: {rule} {text}") and reason.count(text) == 1
    assert f"rule {rule}:" not in reason
    # The stored flag was re-applied with version 2 (the fever rule does not take fatigue).
    assert _text(_element(html, "flag-version", "small")) == "(DLT rules version 2)"


@pytest.mark.parametrize(
    ("reason", "rule", "expected"),
    [
        ("Fatigue grade 3; DLT: rule r1: Any grade 3 is a DLT.", "r1",
         ("Fatigue grade 3; DLT:", "Any grade 3 is a DLT.")),
        ("Fever grade 3; not a DLT: rule r2: Short fever is not a DLT.", "r2",
         ("Fever grade 3; not a DLT:", "Short fever is not a DLT.")),
        # A gate of the window or of the attribution names no rule of the definition.
        ("Fever grade 3; not a DLT: onset outside the DLT window (days 1 to 21)", "outside_window",
         ("Fever grade 3; not a DLT: onset outside the DLT window (days 1 to 21)", "")),
        ("Fatigue grade 3; DLT: rule r1: Any grade 3 is a DLT.", "", (
            "Fatigue grade 3; DLT: rule r1: Any grade 3 is a DLT.", "")),
    ],
)  # fmt: skip
def test_a_reason_splits_where_it_names_its_rule(reason, rule, expected):
    assert rule_parts(reason, rule) == expected


def test_the_rule_list_is_shown_once_per_study_behind_a_closed_disclosure(client, bob, fatigue):
    """Closed by default, so that on a phone the recommendation stays near the top."""
    client.force_login(bob)
    html = client.get(reverse("dlt_dashboard")).content.decode()
    assert html.count('class="small mb-3 dlt-rules"') == 1
    assert re.search(r"<details[^>]*dlt-rules[^>]*>", html).group(0).count(" open") == 0
