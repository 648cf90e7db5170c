"""The load test's own parts, without gunicorn: how its client reads forms and talks HTTP, its
statistics, and the check of acknowledged writes against the database."""

import datetime as dt
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import EDIT_REASON, Write, take_snapshot, token_value, verify
from bench.load_client import (
    FormNotFound,
    Session,
    csrf_token,
    lab_rows,
    parse_forms,
    percentile,
    post_form,
    redirect_path,
    summarise,
)

PAGE = """<html><body>
<nav><form method="post" action="/accounts/logout/">
  <input type="hidden" name="csrfmiddlewaretoken" value="tok123"><button>Sign out</button>
</form></nav>
<form method="post" novalidate class="ae-form">
  <input type="hidden" name="csrfmiddlewaretoken" value="tok123">
  <input type="text" name="ctcae_term" value="Fatigue &amp; malaise">
  <input type="date" name="onset_on" value="2026-03-04">
  <input type="text" name="blank">
  <input type="text" name="locked" value="x" disabled>
  <input type="radio" name="grade" value="1"><input type="radio" name="grade" value="2" checked>
  <input type="checkbox" name="serious_criteria" value="sae_death">
  <input type="checkbox" name="serious_criteria" value="sae_hospitalisation" checked>
  <select name="outcome"><option value="recovered">Recovered</option>
    <option value="not_recovered" selected>Not recovered</option></select>
  <select name="attribution_IM"><option value="">Choose</option><option value="possible">P</option></select>
  <select name="unit"><option>mg/dL</option><option selected> umol/L </option></select>
  <select name="multi" multiple><option value="a" selected>A</option><option value="b">B</option>
    <option value="c" selected>C</option></select>
  <textarea name="change_reason">
Typo in the verbatim</textarea>
  <button type="submit" name="save" value="1">Save</button>
</form></body></html>"""


def test_a_form_is_read_as_a_browser_submits_it():
    form = post_form(PAGE, "/subjects/1/adverse-events/new/")
    assert form.attrs["class"] == "ae-form"
    assert form.data() == [
        ("csrfmiddlewaretoken", "tok123"),
        ("ctcae_term", "Fatigue & malaise"),
        ("onset_on", "2026-03-04"),
        ("blank", ""),
        ("grade", "2"),
        ("serious_criteria", "sae_hospitalisation"),
        ("outcome", "not_recovered"),
        ("attribution_IM", ""),
        ("unit", "umol/L"),
        ("multi", "a"),
        ("multi", "c"),
        ("change_reason", "Typo in the verbatim"),
    ]
    # Unticked and disabled controls are known but not submitted; buttons are neither.
    assert {"locked", "serious_criteria", "grade"} <= form.controls
    assert "save" not in form.controls


def test_setting_a_value_replaces_every_value_of_the_control():
    form = post_form(PAGE)
    form.set("multi", "b")
    form.set("verbatim", "LOADTEST-1")
    assert [v for k, v in form.data() if k == "multi"] == ["b"]
    assert form.get("verbatim") == "LOADTEST-1"
    assert form.get("nothing", "default") == "default"


def test_the_navigation_bar_sign_out_form_is_never_taken_for_the_page_form():
    logout_only = PAGE.split('<form method="post" novalidate')[0] + "</body></html>"
    assert len(parse_forms(logout_only)) == 1
    with pytest.raises(FormNotFound):
        post_form(logout_only)
    # A form that names the page itself as its action is the page's form.
    own = '<form method="post" action="/visits/1/labs/immune/"><input name="a" value="1"></form>'
    assert post_form(own, "/visits/1/labs/immune/").data() == [("a", "1")]


def test_csrf_token_is_read_from_the_page():
    assert csrf_token(PAGE) == "tok123"
    assert csrf_token('<input value="v2" type="hidden" name="csrfmiddlewaretoken">') == "v2"
    with pytest.raises(FormNotFound):
        csrf_token("<form></form>")


GRID = """<form method="post" id="lab-grid">
<input type="hidden" name="csrfmiddlewaretoken" value="t">
<input type="hidden" name="ALT-loaded_version" value="3">
<input name="ALT-value" value="52"><select name="ALT-unit"><option selected>U/L</option></select>
<input name="ALT-lln" value=""><input name="ALT-uln" value="40">
<input name="ALT-collected_at" value="2026-03-04T08:00"><input name="ALT-change_reason" value="">
<input name="AST-value" value=""><select name="AST-unit"><option>U/L</option></select>
<input name="AST-lln" value="0"><input name="AST-uln" value="40">
<input name="AST-collected_at" value="2026-03-04T08:00">
<input name="override_reason" value="">
</form>"""


def test_lab_grid_rows_tell_saved_results_from_empty_rows():
    rows = lab_rows(post_form(GRID))
    assert set(rows) == {"ALT", "AST"}
    assert rows["ALT"]["loaded_version"] == "3"
    assert rows["ALT"]["value"] == "52"
    assert rows["AST"]["loaded_version"] is None
    assert (rows["AST"]["lln"], rows["AST"]["uln"]) == ("0", "40")


def test_token_values_sit_mid_range_and_differ_in_the_last_decimals():
    assert token_value({"lln": "0", "uln": "40"}, 1) == "20.0002"
    assert token_value({"lln": "", "uln": "40"}, 96) == "20.0097"
    assert token_value({"lln": "3.5", "uln": ""}, 97) == "5.2501"
    assert token_value({"lln": "1", "uln": "2"}, 5) != token_value({"lln": "1", "uln": "2"}, 6)


def test_percentiles_use_the_nearest_rank():
    values = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile(values, 50) == 0.05
    assert percentile(values, 95) == 0.095
    assert percentile(values, 99) == 0.099
    assert percentile([0.3], 99) == 0.3
    assert summarise(values) == {
        "count": 100, "p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0
    }  # fmt: skip
    assert summarise([])["p95_ms"] is None


class _Echo(BaseHTTPRequestHandler):
    """Sets a cookie, redirects a POST, and echoes what it received."""

    def do_GET(self):
        body = f"cookie={self.headers.get('Cookie', '')}".encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "sessionid=abc; Path=/; HttpOnly")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.server.posted.append((self.headers.get("Cookie"), self.rfile.read(length).decode()))
        self.send_response(302)
        self.send_header("Location", "/subjects/1/?tab=aes#aes")
        self.send_header(
            "Set-Cookie", "sessionid=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.posted = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_session_keeps_cookies_and_posts_urlencoded_forms(echo_server):
    session = Session("127.0.0.1", echo_server.server_address[1], timeout=5)
    first = session.get("/")
    assert (first.status, first.body) == (200, "cookie=")
    assert session.cookies == {"sessionid": "abc"}
    assert session.get("/").body == "cookie=sessionid=abc"
    answer = session.post("/form/", [("verbatim", "a b&c"), ("grade", "2")])
    assert answer.status == 302
    assert redirect_path(answer) == "/subjects/1/?tab=aes"
    assert echo_server.posted == [("sessionid=abc", "verbatim=a+b%26c&grade=2")]
    # A cookie the server expires is dropped.
    assert session.cookies == {}
    assert answer.seconds > 0


# --- The check against the database -------------------------------------------------------


def _event(subject, alice, agents, verbatim):
    from ecrf.services.adverse_events import ae_record

    return ae_record(subject=subject, ctcae_term="Fatigue", grade=1,
                     onset_on=dt.date(2026, 3, 5), assessments=agents, by=alice,
                     verbatim=verbatim)  # fmt: skip


def _correct(event, alice, token):
    from ecrf.services.adverse_events import ae_correct

    return ae_correct(record=event, changes={"verbatim": token},
                      reason=EDIT_REASON.format(token=token), by=alice)  # fmt: skip


def test_acknowledged_writes_found_once_with_their_audit_pass(subject, alice, all_agents_unrelated):
    from ecrf.services.labs import lab_record

    edited = _event(subject, alice, all_agents_unrelated, "before the run")
    before = take_snapshot([str(edited.pk)])
    _event(subject, alice, all_agents_unrelated, "LT-AE1")
    visit = subject.visits.first()
    lab_record(subject=subject, visit=visit, test_code="ALT", value=Decimal("20.0003"),
               unit="U/L", uln=Decimal(40),
               collected_at=dt.datetime(2026, 3, 6, 8, tzinfo=dt.UTC), by=alice)  # fmt: skip
    edited = _correct(edited, alice, "LT-ED1")
    _correct(edited, alice, "LT-ED2")
    writes = [
        Write("ae_create", "LT-AE1", "acknowledged", 0, 1, target=str(subject.pk)),
        Write("lab_create", "LT-LB2", "acknowledged", 0, 2, target=str(visit.pk),
              test_code="ALT", value="20.0003"),
        Write("edit", "LT-ED1", "acknowledged", 0, 3, target=str(edited.pk)),
        Write("edit", "LT-ED2", "acknowledged", 0, 4, target=str(edited.pk), conflict_pair=True),
        Write("edit", "LT-ED3", "conflict", 0, 4, target=str(edited.pk), conflict_pair=True),
        Write("ae_create", "LT-AE5", "refused", 0, 5, target=str(subject.pk)),
    ]  # fmt: skip
    result = verify(writes, before)
    assert result["ok"], result
    assert result["acknowledged"] == {"ae_create": 1, "lab_create": 1, "edit": 2}
    assert result["new_records"] == {"adverse_events": 1, "lab_results": 1}
    assert result["events_corrected"] == 1
    assert result["conflicts_refused"] == 1


def test_lost_duplicated_applied_and_unaccounted_writes_are_caught(
    subject, alice, all_agents_unrelated
):
    edited = _event(subject, alice, all_agents_unrelated, "before the run")
    before = take_snapshot([str(edited.pk)])
    _event(subject, alice, all_agents_unrelated, "LT-DUP")
    _event(subject, alice, all_agents_unrelated, "LT-DUP")
    _event(subject, alice, all_agents_unrelated, "LT-REFUSED")
    _event(subject, alice, all_agents_unrelated, "LT-NOBODY-WAS-TOLD")
    edited = _correct(edited, alice, "LT-ED-A")
    _correct(edited, alice, "LT-ED-LOSER")
    writes = [
        Write("ae_create", "LT-LOST", "acknowledged", 0, 1),
        Write("ae_create", "LT-DUP", "acknowledged", 0, 2),
        Write("ae_create", "LT-REFUSED", "refused", 0, 3),
        # The conflict's loser was applied on top of the winner: a lost update.
        Write("edit", "LT-ED-A", "acknowledged", 0, 4, target=str(edited.pk)),
        Write("edit", "LT-ED-LOSER", "conflict", 0, 4, target=str(edited.pk)),
    ]
    result = verify(writes, before)
    assert not result["ok"]
    assert result["lost"] == 1
    assert result["duplicated"] == 1
    assert result["refused_but_applied"] == 2
    assert result["version_mismatch"] == 1
    assert result["wrong_final_value"] == 1
    # Four new events; the clients were told of two (one of them stored twice).
    assert result["unaccounted"]["adverse_events"] == 4 - 2
    assert result["examples"]["lost"] == ["LT-LOST"]


def test_a_write_without_its_audit_event_is_caught(subject, alice, all_agents_unrelated):
    from ecrf.models import AdverseEvent

    before = take_snapshot([])
    event = _event(subject, alice, all_agents_unrelated, "placeholder")
    # Written behind the services' back: the verbatim changes, no audit event says so.
    AdverseEvent.objects.filter(pk=event.pk).update(verbatim="LT-UNAUDITED")
    result = verify([Write("ae_create", "LT-UNAUDITED", "acknowledged", 0, 1)], before)
    assert result["missing_audit"] == 1
    assert not result["ok"]


def test_a_new_event_without_its_agent_attributions_is_caught(subject, alice):
    from ecrf.models import AdverseEvent
    from ecrf.services import record_create

    before = take_snapshot([])
    event = AdverseEvent(subject=subject, ctcae_term="Fatigue", grade=1,
                         onset_on=dt.date(2026, 3, 5), verbatim="LT-BARE")  # fmt: skip
    record_create(record=event, by=alice)
    result = verify([Write("ae_create", "LT-BARE", "acknowledged", 0, 1)], before)
    assert result["incomplete"] == 1
    assert result["lost"] == result["missing_audit"] == 0
    assert not result["ok"]


def test_server_exceptions_are_read_from_the_tracebacks_of_the_log():
    from bench.load import exceptions_in

    log = "\n".join([
        "Internal Server Error: /subjects/1/adverse-events/new/",
        "Traceback (most recent call last):",
        '  File "views.py", line 1, in ae_create',
        "    save()",
        "psycopg.errors.DeadlockDetected: deadlock detected",
        "DETAIL:  Process 1 waits for ShareLock on transaction 2",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "base.py", line 2, in execute',
        "django.db.utils.OperationalError: deadlock detected",
        "[2026-11-27 06:00:00 +0000] [42] [INFO] Worker exiting",
    ])  # fmt: skip
    assert exceptions_in(log) == {
        "psycopg.errors.DeadlockDetected: deadlock detected": 1,
        "django.db.utils.OperationalError: deadlock detected": 1,
    }


def test_an_event_whose_corrections_were_all_refused_must_not_have_changed(
    subject, alice, all_agents_unrelated
):
    event = _event(subject, alice, all_agents_unrelated, "before the run")
    before = take_snapshot([str(event.pk)])
    refused = [
        Write("edit", "LT-CF1", "conflict", 0, 2, target=str(event.pk), conflict_pair=True),
        Write("edit", "LT-CF2", "conflict", 0, 2, target=str(event.pk), conflict_pair=True),
    ]
    assert verify(refused, before)["ok"]
    # A save nobody was told about (neither client's token) still shows in the version.
    _correct(event, alice, "someone else")
    result = verify(refused, before)
    assert result["version_mismatch"] == 1
    assert result["events_corrected"] == 0
    assert not result["ok"]
