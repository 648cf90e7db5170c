"""The versions of a study's DLT definition in the admin (issue #13): listed and shown, read
only, to the roles the capability table gives admin view (data managers); nobody, superusers
included, adds, changes or deletes one there: a version is recorded by load_study through the
dlt_rules_record service, and never changed.
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ecrf.models import AuditEvent, DltRuleSet
from ecrf.safety.dlt_rules import default_rules, parse_rules
from ecrf.services import system_actor
from ecrf.services.dlt import dlt_rules_record
from tests.factories import FEVER_RESOLVING

AMENDMENT = "Amendment 2: <b>fever</b> & 48 hours"
CHANGELIST = "admin:ecrf_dltruleset_changelist"


def _url(name: str, *args) -> str:
    return reverse(f"admin:ecrf_dltruleset_{name}", args=args)


@pytest.fixture
def amended(study):
    """Version 2 of the study's rules, with a fever rule first; its reason holds markup."""
    version, _ = dlt_rules_record(
        study=study, rules=parse_rules([FEVER_RESOLVING, *default_rules().data]),
        by=system_actor("load_study"), source="amendment.json", reason=AMENDMENT,
    )  # fmt: skip
    return version


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.org", "x")


def _rows(html: str) -> list[list[str]]:
    body = html[html.index('id="result_list"') :]
    body = body[: body.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body[body.index("<tbody") :], re.S)
    return [
        [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]
        for cells in (re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows)
    ]


def test_a_data_manager_lists_every_version_newest_first(client, data_manager, study, amended):
    client.force_login(data_manager)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    # No checkbox column: with nothing to delete, the list offers no actions.
    rows = _rows(response.content.decode())
    stored = DltRuleSet.objects.filter(study=study).order_by("-number")
    assert [row[:3] for row in rows] == [[study.code, str(v.number), v.recorded_by] for v in stored]
    assert rows[0][4] == AMENDMENT  # printed literally, no markup read
    assert "<b>fever</b>" not in response.content.decode()


def test_a_data_manager_sees_the_rules_pretty_printed_on_a_read_only_page(
    client, data_manager, amended
):
    client.force_login(data_manager)
    response = client.get(_url("change", amended.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Save" not in re.sub(r"<title>.*?</title>", "", html) and "Delete" not in html
    # Every rule, in order, with its id, outcome and text; then the stored JSON, indented.
    items = re.findall(r"<li><code>([^<]+)</code> \(([^)]+)\): ([^<]+)</li>", html)
    assert [(i, o, unescape(t)) for i, o, t in items] == [
        (r["id"], r["outcome"], r["text"]) for r in amended.rules
    ]
    (pre,) = re.findall(r"<pre[^>]*>(.*?)</pre>", html, re.S)
    assert json.loads(unescape(pre)) == amended.rules
    assert '\n  {\n    "id": "fever_resolving_48h",' in unescape(pre)


@pytest.mark.parametrize("who", ["data_manager", "superuser"])
def test_nobody_adds_changes_or_deletes_a_version(client, request, who, amended):
    client.force_login(request.getfixturevalue(who))
    before = (AuditEvent.objects.count(), list(DltRuleSet.objects.values().order_by("pk")))
    assert client.get(_url("add")).status_code == 403
    assert client.post(_url("add"), {"study": amended.study_id, "number": 3}).status_code == 403
    change = client.post(_url("change", amended.pk), {"reason": "edited", "rules": "[]"})
    assert change.status_code == 403
    assert client.get(_url("delete", amended.pk)).status_code == 403
    assert client.post(_url("delete", amended.pk), {"post": "yes"}).status_code == 403
    bulk = client.post(
        reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [amended.pk]}
    )
    # No bulk delete action is offered: the list answers with itself, nothing deleted.
    assert bulk.status_code in (200, 302)
    assert (AuditEvent.objects.count(), list(DltRuleSet.objects.values().order_by("pk"))) == before


def test_a_research_nurse_cannot_open_the_admin_list(client, alice, amended):
    client.force_login(alice)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302 and "/login/" in response["Location"]
