"""Concurrent data entry against gunicorn and PostgreSQL, then a check that nothing was lost.

    python -m bench.load [--clients 20] [--seconds 60] [--workers 4] [--think 0]

1. Creates a fresh PostgreSQL database `ecrf_load` on 127.0.0.1:5432, migrates it and fills it
   with the synthetic trial (`manage.py generate_synthetic`; `manage.py seed_demo` where the
   generator is not installed), and two research nurses per site.
2. Starts gunicorn (trial.wsgi) on a free loopback port with production settings: DEBUG off, a
   throwaway secret key, static files collected into a temporary folder; only the HTTPS
   redirect and secure cookies are off, since this is plain HTTP on 127.0.0.1.
3. Runs the clients for the given time. Each signs in through the login form as the nurse of
   its site and loops over: casebook pages, new adverse events and new lab results (the real
   forms, posted with the CSRF token of the page), corrections of adverse events with a reason
   for change, and edit conflicts (the site's two nurses open the same event and save at
   the same moment: exactly one save must be accepted, the other refused as a conflict).
   Every value written carries a unique token so that it can be found afterwards. Each client
   owns the events and lab grids it changes, so the only conflicts are the deliberate ones.
4. Checks the database: every write the server acknowledged (a redirect after the POST) is
   there exactly once with its audit event; every refused write left no trace; each corrected
   event's version grew by exactly the number of acknowledged corrections and holds the last
   one's value; no record appeared that no client was told about.

Reported per request kind: count and p50/p95/p99/max latency; requests per second; statuses,
5xx and unexpected answers; the same pages requested by one client alone before the load (the
baseline); and the CPU time per request of the gunicorn workers, the database server processes
and the load generator, read from /proc so that other work on the machine is not counted.
With `--think 0` (the default) every client sends its next request as soon as it has the
answer: the server is saturated and the latencies are mostly time spent queueing; `--think S`
pauses a random 0 to 2*S seconds between a client's operations, and staggers their starts.

Prints one JSON line, writes bench/results/load.json, and exits non-zero if a write was lost,
duplicated or unaudited, a conflict was not resolved to exactly one winner, or the server
answered 5xx. gunicorn is stopped at the end, on errors and on Ctrl-C; `--keep-db` keeps the
database for a look afterwards, otherwise it is dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bench.load_client import (
    CONFLICT_MARKER,
    FormNotFound,
    Response,
    Session,
    csrf_token,
    lab_rows,
    post_form,
    redirect_path,
    summarise,
)

BASE = Path(__file__).resolve().parents[1]
RESULTS = BASE / "bench" / "results" / "load.json"
PYTHON = BASE / ".venv" / "bin" / "python"
GUNICORN = BASE / ".venv" / "bin" / "gunicorn"
HOST = "127.0.0.1"
SERVER_URL = "postgres://postgres@127.0.0.1:5432"
DB_NAME = "ecrf_load"
SYNTHETIC_STUDY = "SYN-IL2"
DEMO_STUDY = "IL2-IM-CTX"
NURSE = "syn.nurse"  # the generator's research nurse of each site: syn.nurse.<site>
SECOND_NURSE = "load.nurse"
TOKEN_PREFIX = "LOADTEST"  # noqa: S105 - a marker, not a password
# The mix of operations each client draws from (weights).
MIX = {"casebook": 35, "ae_create": 20, "lab_create": 20, "edit": 17, "conflict": 8}
PANELS = ("haematology", "chemistry", "immune")
# Targets of issue #8: p95 in milliseconds.
TARGETS = {"casebook_get": 150, "ae_post": 250, "lab_post": 250, "edit_post": 250}
EDIT_REASON = "Load test correction {token}"
AE_TERM = "Fatigue"
MAX_SAMPLES_KEPT = 10


# --------------------------------------------------------------------------------------------
# What the clients did


@dataclass
class Write:
    """One POST that tried to write clinical data, and what the server answered.

    outcome: "acknowledged" (redirect after POST), "refused" (the form came back with errors),
    "conflict" (refused as someone else's newer save) or "unknown" (no answer or a 5xx: the
    write may or may not have happened).
    """

    kind: str  # "ae_create" | "lab_create" | "edit"
    token: str
    outcome: str
    client: int
    seq: int
    target: str = ""  # subject (ae_create), visit (lab_create) or adverse event (edit) id
    test_code: str = ""
    value: str = ""
    conflict_pair: bool = False


@dataclass
class Recorder:
    """Latencies and statuses of every request, shared by the client threads."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    server_errors: int = 0
    unexpected: int = 0
    transport_errors: int = 0
    client_crashes: int = 0
    examples: list[dict] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    conflicts: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sample(self, kind: str, response: Response) -> None:
        with self.lock:
            self.samples[kind].append(response.seconds)
            self.statuses[kind][response.status] += 1
            if response.status >= 500:
                self.server_errors += 1

    def problem(self, what: str, kind: str, path: str, detail: str) -> None:
        with self.lock:
            if what == "transport":
                self.transport_errors += 1
            elif what == "crash":
                self.client_crashes += 1
            else:
                self.unexpected += 1
            if len(self.examples) < MAX_SAMPLES_KEPT:
                self.examples.append(
                    {"problem": what, "kind": kind, "path": path, "detail": detail[:400]}
                )

    def write(self, write: Write) -> None:
        with self.lock:
            self.writes.append(write)


ERROR_TEXT = re.compile(
    r'class="[^"]*(?:invalid-feedback|alert-danger|row-error|text-danger)[^"]*"[^>]*>(.*?)</',
    re.S,
)


def form_errors(html: str) -> str:
    """The error messages of a refused form, for the report."""
    texts = [re.sub(r"<[^>]+>|\s+", " ", m).strip() for m in ERROR_TEXT.findall(html)]
    return " | ".join(t for t in texts if t)[:400] or "(no error text found)"


def exceptions_in(log: str) -> dict[str, int]:
    """The exception line of each traceback in the server's log, with how often it occurred."""
    found: Counter = Counter()
    in_traceback = False
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace():
            found[line[:300]] += 1
            in_traceback = False
    return dict(found.most_common(10))


# --------------------------------------------------------------------------------------------
# The clients


@dataclass
class SubjectInfo:
    pk: str
    code: str
    earliest: dt.date  # no clinical date may come before it


@dataclass
class ClientPlan:
    index: int
    site: str
    nurse: str
    partner: str  # the site's second nurse, who saves against the first in a conflict
    subjects: list[SubjectInfo]
    events: list[str]  # the adverse events this client corrects (nobody else does)
    grids: list[tuple[str, str]]  # the (visit, panel) lab grids this client fills in


class Client(threading.Thread):
    def __init__(
        self,
        plan: ClientPlan,
        *,
        port: int,
        password: str,
        run_id: str,
        think: float,
        seed: int,
        recorder: Recorder,
        start: threading.Event,
        ready: threading.Barrier,
        stop_at: list[float],
    ):
        super().__init__(name=f"client-{plan.index}", daemon=True)
        self.plan = plan
        self.nurse = Session(HOST, port)
        self.partner = Session(HOST, port)
        self.password = password
        self.run_id = run_id
        self.think = think
        self.rng = random.Random(seed)
        self.rec = recorder
        self.start_event = start
        self.ready = ready
        self.stop_at = stop_at
        self.seq = 0
        self.today = dt.datetime.now(dt.UTC).date()

    # -- plumbing

    def call(self, kind, session, method, path, fields=None, expect=(200,)) -> Response | None:
        try:
            response = session.request(method, path, fields)
        except (OSError, http.client.HTTPException) as exc:
            self.rec.problem("transport", kind, path, repr(exc))
            return None
        self.rec.sample(kind, response)
        if response.status not in expect:
            detail = f"HTTP {response.status}"
            if response.status == 200:
                detail += ": " + form_errors(response.body)
            elif response.status in (301, 302, 303):
                detail += f" to {response.location}"
            self.rec.problem("status", kind, path, detail)
        return response

    def token(self, kind: str) -> str:
        self.seq += 1
        return f"{TOKEN_PREFIX}-{self.run_id}-c{self.plan.index:02d}-{kind}{self.seq:06d}"

    def login(self, session: Session, username: str) -> None:
        page = self.call("login_get", session, "GET", "/accounts/login/")
        if page is None or page.status != 200:
            raise RuntimeError(f"{username}: the login page did not load")
        fields = [
            ("csrfmiddlewaretoken", csrf_token(page.body)),
            ("username", username),
            ("password", self.password),
            ("next", ""),
        ]
        response = self.call(
            "login_post", session, "POST", "/accounts/login/", fields, expect=(302,)
        )
        if response is None or response.status != 302:
            raise RuntimeError(f"{username}: sign-in refused")

    def follow(self, kind: str, session: Session, response: Response) -> None:
        """Load the page a save redirects to, as the browser does."""
        self.call(kind, session, "GET", redirect_path(response))

    @staticmethod
    def outcome(response: Response | None) -> str:
        if response is None or response.status >= 500:
            return "unknown"
        if response.status == 302:
            return "acknowledged"
        if response.status == 200 and CONFLICT_MARKER in response.body:
            return "conflict"
        return "refused"

    # -- the operations

    def casebook(self) -> None:
        subject = self.rng.choice(self.plan.subjects)
        self.call("casebook_get", self.nurse, "GET", f"/subjects/{subject.pk}/")

    def ae_create(self) -> None:
        subject = self.rng.choice(self.plan.subjects)
        path = f"/subjects/{subject.pk}/adverse-events/new/"
        page = self.call("ae_form_get", self.nurse, "GET", path)
        if page is None or page.status != 200:
            return
        form = post_form(page.body, path)
        token = self.token("AE")
        span = max(0, (self.today - subject.earliest).days)
        onset = subject.earliest + dt.timedelta(days=self.rng.randint(0, span))
        form.set("ctcae_term", AE_TERM)
        form.set("verbatim", token)
        form.set("grade", str(self.rng.choice((1, 2))))
        form.set("onset_on", onset.isoformat())
        form.set("serious", "no")
        for name in sorted(form.controls):
            if name.startswith("attribution_"):
                form.set(name, self.rng.choice(("unrelated", "unlikely", "possible")))
            elif name.startswith("action_"):
                form.set(name, "none")
        response = self.call("ae_post", self.nurse, "POST", path, form.data(), expect=(302,))
        self.rec.write(
            Write(
                "ae_create",
                token,
                self.outcome(response),
                self.plan.index,
                self.seq,
                target=subject.pk,
            )
        )
        if response is not None and response.status == 302:
            self.follow("casebook_get", self.nurse, response)

    def lab_create(self) -> None:
        for _attempt in range(4):
            if not self.plan.grids:
                return
            visit, panel = self.rng.choice(self.plan.grids)
            path = f"/visits/{visit}/labs/{panel}/"
            page = self.call("lab_grid_get", self.nurse, "GET", path)
            if page is None or page.status != 200:
                return
            form = post_form(page.body, path)
            free = {
                test: row
                for test, row in lab_rows(form).items()
                if row["loaded_version"] is None and (row.get("lln") or row.get("uln"))
            }
            if not free:
                self.plan.grids.remove((visit, panel))
                continue
            test = self.rng.choice(sorted(free))
            token = self.token("LB")
            value = token_value(free[test], self.seq)
            form.set(f"{test}-value", value)
            response = self.call("lab_post", self.nurse, "POST", path, form.data(), expect=(302,))
            self.rec.write(
                Write(
                    "lab_create",
                    token,
                    self.outcome(response),
                    self.plan.index,
                    self.seq,
                    target=visit,
                    test_code=test,
                    value=value,
                )
            )
            if response is not None and response.status == 302:
                self.follow("lab_grid_get", self.nurse, response)
            return

    def _edit_form(self, session: Session, path: str):
        page = self.call("edit_form_get", session, "GET", path)
        if page is None or page.status != 200:
            return None
        return post_form(page.body, path)

    def _correct(self, form, token: str) -> None:
        form.set("verbatim", token)
        form.set("change_reason", EDIT_REASON.format(token=token))

    def edit(self) -> None:
        if not self.plan.events:
            return
        event = self.rng.choice(self.plan.events)
        path = f"/adverse-events/{event}/edit/"
        form = self._edit_form(self.nurse, path)
        if form is None:
            return
        token = self.token("ED")
        self._correct(form, token)
        response = self.call("edit_post", self.nurse, "POST", path, form.data(), expect=(302,))
        self.rec.write(
            Write("edit", token, self.outcome(response), self.plan.index, self.seq, target=event)
        )
        if response is not None and response.status == 302:
            self.follow("casebook_get", self.nurse, response)

    def conflict(self) -> None:
        """Two nurses open the same event, change it and save at the same moment."""
        if not self.plan.events:
            return
        event = self.rng.choice(self.plan.events)
        path = f"/adverse-events/{event}/edit/"
        forms = [self._edit_form(self.nurse, path), self._edit_form(self.partner, path)]
        if None in forms:
            return
        if forms[0].get("loaded_version") != forms[1].get("loaded_version"):
            self.rec.problem(
                "status", "conflict_post", path, "the two forms loaded different versions"
            )
            return
        tokens = [self.token("CF"), self.token("CF")]
        for form, token in zip(forms, tokens, strict=True):
            self._correct(form, token)
        barrier = threading.Barrier(2)
        answers: list[Response | None] = [None, None]

        def save(i: int, session: Session) -> None:
            barrier.wait(timeout=30)
            answers[i] = self.call(
                "conflict_post", session, "POST", path, forms[i].data(), expect=(200, 302)
            )

        partner = threading.Thread(target=save, args=(1, self.partner))
        partner.start()
        save(0, self.nurse)
        partner.join()
        outcomes = [self.outcome(answer) for answer in answers]
        for token, outcome in zip(tokens, outcomes, strict=True):
            self.rec.write(
                Write(
                    "edit",
                    token,
                    outcome,
                    self.plan.index,
                    self.seq,
                    target=event,
                    conflict_pair=True,
                )
            )
        verdict = Counter(outcomes)
        if verdict == Counter({"acknowledged": 1, "conflict": 1}):
            self.rec.conflicts["one_winner"] += 1
        elif verdict["acknowledged"] == 2:
            self.rec.conflicts["both_saved"] += 1
            self.rec.problem("conflict", "conflict_post", path, "both saves were accepted")
        else:
            self.rec.conflicts["other"] += 1
            self.rec.problem("conflict", "conflict_post", path, f"outcomes {outcomes}")

    # -- the loop

    def run(self) -> None:
        try:
            self.login(self.nurse, self.plan.nurse)
            self.login(self.partner, self.plan.partner)
        except Exception as exc:  # reported, and the run fails
            self.rec.problem("crash", "login", "/accounts/login/", repr(exc))
            self.ready.abort()
            return
        try:
            self.ready.wait(timeout=300)
        except threading.BrokenBarrierError:
            return
        self.start_event.wait()
        if self.think:
            # Staggered starts: the clients do not all open their first page at the same moment.
            time.sleep(self.rng.uniform(0, 2 * self.think))
        operations = list(MIX)
        weights = [MIX[name] for name in operations]
        while time.monotonic() < self.stop_at[0]:
            name = self.rng.choices(operations, weights)[0]
            try:
                getattr(self, name)()
            except FormNotFound as exc:
                self.rec.problem("status", name, "", f"page without the expected form: {exc}")
            except Exception as exc:  # one bad operation must not stop the run
                self.rec.problem("crash", name, "", repr(exc))
            if self.think:
                pause = self.rng.uniform(0, 2 * self.think)
                time.sleep(max(0.0, min(pause, self.stop_at[0] - time.monotonic())))


def token_value(row: dict, seq: int) -> str:
    """A value in the middle of the row's normal range, made unique by its last decimals."""

    def number(text):
        try:
            return Decimal(text) if text else None
        except InvalidOperation:
            return None

    lln, uln = number(row.get("lln")), number(row.get("uln"))
    if lln is not None and uln is not None:
        middle = (lln + uln) / 2
    elif uln is not None:
        middle = uln / 2
    else:
        middle = lln * Decimal("1.5")
    middle = middle.quantize(Decimal("0.01"))
    return str(middle + Decimal(seq % 97 + 1) / Decimal(10000))


# --------------------------------------------------------------------------------------------
# The database before and after


@dataclass
class Snapshot:
    adverse_events: int
    lab_results: int
    versions: dict[str, int]  # adverse event id -> version, for the events the clients correct


def take_snapshot(event_ids) -> Snapshot:
    from ecrf.models import AdverseEvent, LabResult

    versions = dict(
        AdverseEvent.objects.filter(pk__in=list(event_ids)).values_list("pk", "version")
    )
    return Snapshot(
        adverse_events=AdverseEvent.objects.count(),
        lab_results=LabResult.objects.count(),
        versions={str(pk): version for pk, version in versions.items()},
    )


def verify(writes: list[Write], before: Snapshot) -> dict:
    """Compare what the server acknowledged with what the database holds.

    Lost: acknowledged but not there. Duplicated: there more than once. Missing audit: there
    without its audit event. Refused but applied: refused, yet in the database. Incomplete: a
    new adverse event without an attribution for each study agent. Version
    mismatch: a corrected event's version did not grow by exactly its acknowledged corrections.
    Wrong final value: the event does not hold the value of its last acknowledged correction.
    Unaccounted: new records that no client was told about (outcomes "unknown" aside).
    """
    from django.db.models import Count

    from ecrf.models import AdverseEvent, AuditEvent, LabResult

    problems: dict[str, list] = {
        name: []
        for name in (
            "lost",
            "duplicated",
            "missing_audit",
            "refused_but_applied",
            "incomplete",
            "version_mismatch",
            "wrong_final_value",
        )
    }
    counts = Counter((w.kind, w.outcome) for w in writes)
    unknown = {"present": 0, "absent": 0}

    def check(write: Write, found: int, audited: int) -> None:
        if write.outcome == "acknowledged":
            if found == 0:
                problems["lost"].append(write.token)
            elif found > 1:
                problems["duplicated"].append(write.token)
            elif audited != 1:
                problems["missing_audit"].append(write.token)
        elif write.outcome in ("refused", "conflict"):
            if found or audited:
                problems["refused_but_applied"].append(write.token)
        else:
            unknown["present" if found else "absent"] += 1

    # New adverse events: the token is the verbatim text; the creation's audit event holds it.
    creates = [w for w in writes if w.kind == "ae_create"]
    tokens = [w.token for w in creates]
    found = Counter(
        AdverseEvent.objects.filter(verbatim__in=tokens).values_list("verbatim", flat=True)
    )
    audited = Counter(
        AuditEvent.objects.filter(
            action="ecrf.adverseevent.created", field="verbatim", new_value__in=tokens
        ).values_list("new_value", flat=True)
    )
    for write in creates:
        check(write, found[write.token], audited[write.token])
    # A new event is complete with an attribution for each study agent of its subject's study.
    expected_agents = Count("subject__study__agents", distinct=True)
    assessed = Count("agent_assessments", distinct=True)
    for verbatim, agents, assessments in (
        AdverseEvent.objects.filter(verbatim__in=tokens)
        .annotate(agents=expected_agents, assessments=assessed)
        .values_list("verbatim", "agents", "assessments")
    ):
        if assessments != agents:
            problems["incomplete"].append(
                {"token": verbatim, "agents": agents, "assessments": assessments}
            )
    new_events = AdverseEvent.objects.count() - before.adverse_events

    # New lab results: the (visit, test, value) the grid was posted with.
    labs = [w for w in writes if w.kind == "lab_create"]
    rows = LabResult.objects.filter(visit_id__in={w.target for w in labs}).values_list(
        "pk", "visit_id", "test_code", "value"
    )
    by_key: dict[tuple, list[str]] = defaultdict(list)
    for pk, visit, test, value in rows:
        by_key[(str(visit), test, Decimal(value))].append(str(pk))
    lab_ids = [pk for w in labs for pk in by_key.get((w.target, w.test_code, Decimal(w.value)), [])]
    lab_audited = Counter(
        AuditEvent.objects.filter(
            model="ecrf.LabResult",
            action="ecrf.labresult.created",
            field="value",
            object_id__in=lab_ids,
        ).values_list("object_id", flat=True)
    )
    for write in labs:
        ids = by_key.get((write.target, write.test_code, Decimal(write.value)), [])
        check(write, len(ids), sum(lab_audited[pk] for pk in ids))
    new_labs = LabResult.objects.count() - before.lab_results

    # Corrections: the token is the new verbatim text; its audit event carries the reason.
    edits = [w for w in writes if w.kind == "edit"]
    tokens = [w.token for w in edits]
    edit_audits = defaultdict(list)
    for value, object_id, reason in AuditEvent.objects.filter(
        model="ecrf.AdverseEvent", field="verbatim", new_value__in=tokens
    ).values_list("new_value", "object_id", "reason"):
        edit_audits[value].append((object_id, reason))
    still_there = Counter(
        AdverseEvent.objects.filter(verbatim__in=tokens).values_list("verbatim", flat=True)
    )
    for write in edits:
        audits = edit_audits[write.token]
        good = [a for a in audits if a == (write.target, EDIT_REASON.format(token=write.token))]
        if write.outcome == "acknowledged":
            check(write, len(audits), len(good))
        else:
            check(write, len(audits) + still_there[write.token], len(good))
    # Every event a client tried to correct, refused attempts included, must have grown by
    # exactly its acknowledged corrections.
    by_event: dict[str, list[Write]] = {write.target: [] for write in edits}
    for write in edits:
        if write.outcome == "acknowledged":
            by_event[write.target].append(write)
    after, finals = {}, {}
    for pk, version, verbatim in AdverseEvent.objects.filter(pk__in=list(by_event)).values_list(
        "pk", "version", "verbatim"
    ):
        after[str(pk)], finals[str(pk)] = version, verbatim
    for event, saved in by_event.items():
        unknown_edits = sum(1 for w in edits if w.target == event and w.outcome == "unknown")
        grew = after[event] - before.versions.get(event, 0)
        if not len(saved) <= grew <= len(saved) + unknown_edits:
            problems["version_mismatch"].append(
                {"event": event, "acknowledged": len(saved), "version_grew_by": grew}
            )
        if not saved:
            continue
        last = max(saved, key=lambda w: (w.seq, w.token)).token
        if finals[event] != last and not unknown_edits:
            problems["wrong_final_value"].append(
                {"event": event, "expected": last, "found": finals[event]}
            )

    acknowledged = {
        kind: counts[(kind, "acknowledged")] for kind in ("ae_create", "lab_create", "edit")
    }
    unknown_creates = {
        kind: sum(1 for w in writes if w.kind == kind and w.outcome == "unknown")
        for kind in ("ae_create", "lab_create")
    }
    unaccounted = {
        "adverse_events": new_events - acknowledged["ae_create"],
        "lab_results": new_labs - acknowledged["lab_create"],
    }
    unaccounted_bad = (
        not 0 <= unaccounted["adverse_events"] <= unknown_creates["ae_create"]
        or not 0 <= unaccounted["lab_results"] <= unknown_creates["lab_create"]
    )
    ok = not any(problems.values()) and not unaccounted_bad
    return {
        "ok": ok,
        "acknowledged": acknowledged,
        "refused": {
            kind: counts[(kind, "refused")] for kind in ("ae_create", "lab_create", "edit")
        },
        "conflicts_refused": counts[("edit", "conflict")],
        "unknown_outcome": unknown,
        "new_records": {"adverse_events": new_events, "lab_results": new_labs},
        "unaccounted": unaccounted,
        "events_corrected": sum(1 for saved in by_event.values() if saved),
        **{name: len(items) for name, items in problems.items()},
        "examples": {name: items[:5] for name, items in problems.items() if items},
    }


# --------------------------------------------------------------------------------------------
# Setting up: the database, the trial, the server


def environment(database_url: str, settings_dir: str) -> dict[str, str]:
    """Production settings for plain HTTP on the loopback."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ecrf_load_settings",
        PYTHONPATH=os.pathsep.join([settings_dir, str(BASE)]),
        DATABASE_URL=database_url,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_HSTS_SECONDS="0",
        DJANGO_LOG_LEVEL="WARNING",
    )
    return env


def write_settings(folder: Path) -> None:
    """trial.settings as they are, with the static files collected into the temporary folder."""
    (folder / "ecrf_load_settings.py").write_text(
        '"""Production settings of the load test: static files in a temporary folder."""\n'
        "from trial.settings import *  # noqa: F403\n\n"
        f"STATIC_ROOT = {str(folder / 'static')!r}\n",
        encoding="utf-8",
    )


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [str(PYTHON), str(BASE / "manage.py"), *args],
        env=env,
        cwd=BASE,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def has_generator() -> bool:
    return (BASE / "ecrf" / "management" / "commands" / "generate_synthetic.py").exists()


def populate(env: dict[str, str], args, password: str) -> str:
    """Fill the database with a trial; return the study code."""
    if has_generator():
        manage(
            env,
            "generate_synthetic",
            "--subjects",
            str(args.subjects),
            "--seed",
            str(args.seed),
            "--study",
            SYNTHETIC_STUDY,
            "--with-users",
            password,
            "--events-per-subject",
            str(args.events),
            "--labs-per-subject",
            str(args.labs),
        )
        return SYNTHETIC_STUDY
    manage(env, "seed_demo")
    return DEMO_STUDY


def ensure_users(study, password: str) -> dict[str, tuple[str, str]]:
    """Two research nurses per site: the generator's, and a second one for the conflicts.

    Site code -> (nurse, second nurse). Investigators are not used: in production they sign in
    with a second factor, which a load client cannot type.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from ecrf.access import ensure_role_groups
    from ecrf.models import StudyAssignment
    from ecrf.services import record_create, system_actor

    ensure_role_groups()
    User = get_user_model()
    actor = system_actor("bench.load")
    nurse = Group.objects.get(name="research_nurse")
    users = {}
    for site in study.sites.all():
        names = (f"{NURSE}.{site.code.lower()}", f"{SECOND_NURSE}.{site.code.lower()}")
        for username in names:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(username, password=password)
            elif not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            user.groups.add(nurse)
            if not StudyAssignment.objects.filter(user=user, study=study, site=site).exists():
                record_create(record=StudyAssignment(user=user, study=study, site=site), by=actor)
        users[site.code] = names
    return users


def plan_clients(study, clients: int, users: dict[str, tuple[str, str]]) -> list[ClientPlan]:
    """Spread the clients over the sites; give each the events and lab grids it alone changes."""
    from django.db.models import Q
    from django.utils import timezone

    from ecrf.models import AdverseEvent, Visit

    today = timezone.localdate()
    sites = []
    for site in study.sites.order_by("code"):
        subjects = list(
            site.subjects.filter(
                study=study, entered_in_error=False, first_dose_on__isnull=False
            ).order_by("subject_code")
        )
        if subjects:
            sites.append((site, subjects))
    if not sites:
        raise RuntimeError("the trial has no treated subjects to enter data for")
    plans = []
    per_site: dict[str, list[ClientPlan]] = defaultdict(list)
    for index in range(clients):
        site, subjects = sites[index % len(sites)]
        infos = [
            SubjectInfo(
                str(s.pk),
                s.subject_code,
                max(d for d in (s.consent_on, s.enrolled_on, s.first_dose_on) if d),
            )
            for s in subjects
        ]
        plan = ClientPlan(
            index=index,
            site=site.code,
            nurse=users[site.code][0],
            partner=users[site.code][1],
            subjects=infos,
            events=[],
            grids=[],
        )
        plans.append(plan)
        per_site[site.code].append(plan)
    for site, subjects in sites:
        owners = per_site[site.code]
        events = AdverseEvent.objects.filter(subject__in=subjects, entered_in_error=False).order_by(
            "pk"
        )
        for i, pk in enumerate(events.values_list("pk", flat=True)):
            owners[i % len(owners)].events.append(str(pk))
        visits = (
            Visit.objects.filter(subject__in=subjects, entered_in_error=False)
            .filter(
                Q(done_on__isnull=False, done_on__lte=today)
                | Q(done_on__isnull=True, planned_on__lte=today)
            )
            .order_by("pk")
        )
        grids = [(str(pk), panel) for pk in visits.values_list("pk", flat=True) for panel in PANELS]
        for i, grid in enumerate(grids):
            owners[i % len(owners)].grids.append(grid)
    return plans


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process, from /proc; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (man 5 proc).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def database_backends(name: str) -> list[int]:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            (name,),
        ).fetchall()
    return [row[0] for row in rows]


class CpuMeter:
    """CPU time spent by the gunicorn workers and by the database's server processes.

    Read from /proc before and after the run, so that other work on the machine does not
    count. A database connection that closed during the run takes its time with it, so the
    database figure is a lower bound.
    """

    def __init__(self, server_pid: int, database: str):
        self.server_pid, self.database = server_pid, database

    def read(self) -> dict[str, dict[int, float]]:
        return {
            "app": {pid: cpu_seconds(pid) for pid in children(self.server_pid)},
            "database": {pid: cpu_seconds(pid) for pid in database_backends(self.database)},
        }

    @staticmethod
    def spent(before: dict, after: dict) -> dict[str, float]:
        return {
            part: sum(max(0.0, t - before[part].get(pid, 0.0)) for pid, t in after[part].items())
            for part in after
        }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn with its workers, stopped on exit whatever happens."""

    def __init__(self, env: dict[str, str], workers: int, log: Path):
        self.port = free_port()
        self.log = log
        # The workers' own output (Django's error log with its tracebacks) goes there too.
        self._output = log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [
                str(GUNICORN),
                "trial.wsgi",
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "120",
                "--graceful-timeout",
                "5",
                "--error-logfile",
                str(log),
                "--log-level",
                "warning",
                "--chdir",
                str(BASE),
            ],
            env=env,
            cwd=BASE,
            stdout=self._output,
            stderr=self._output,
            start_new_session=True,
        )

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {self.tail()}")
            try:
                if Session(HOST, self.port, timeout=5).get("/accounts/login/").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s: {self.tail()}")

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._output.close()


# --------------------------------------------------------------------------------------------
# The run


def run_clients(plans, *, port, password, think, seconds, seed, recorder) -> float:
    """Sign every client in, then let them work for `seconds`; return the measured time."""
    start = threading.Event()
    ready = threading.Barrier(len(plans) + 1)
    stop_at = [float("inf")]
    run_id = secrets.token_hex(3)
    threads = [
        Client(
            plan,
            port=port,
            password=password,
            run_id=run_id,
            think=think,
            seed=seed * 1000 + plan.index,
            recorder=recorder,
            start=start,
            ready=ready,
            stop_at=stop_at,
        )
        for plan in plans
    ]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=300)
    except threading.BrokenBarrierError as exc:
        raise RuntimeError(f"not every client could sign in: {recorder.examples}") from exc
    # The sign-in pages are not part of the figures.
    with recorder.lock:
        for kind in ("login_get", "login_post"):
            recorder.samples.pop(kind, None)
            recorder.statuses.pop(kind, None)
    began = time.monotonic()
    stop_at[0] = began + seconds
    start.set()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return time.monotonic() - began


def unloaded(plans, *, port: int, password: str, repeats: int) -> dict:
    """One client alone, before the load: each kind of page, one request at a time.

    It is the baseline the loaded figures are read against, measured on the same server, and
    it warms every worker up (templates, URL patterns, database connections).
    """
    plan = plans[0]
    session = Session(HOST, port)
    page = session.get("/accounts/login/")
    fields = [("csrfmiddlewaretoken", csrf_token(page.body)), ("username", plan.nurse),
              ("password", password), ("next", "")]  # fmt: skip
    if session.post("/accounts/login/", fields).status != 302:
        raise RuntimeError(f"{plan.nurse} could not sign in")
    rng = random.Random(0)
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        subject = rng.choice(plan.subjects)
        samples["casebook_get"].append(session.get(f"/subjects/{subject.pk}/").seconds)
        path = f"/subjects/{subject.pk}/adverse-events/new/"
        samples["ae_form_get"].append(session.get(path).seconds)
        if plan.grids:
            visit, panel = rng.choice(plan.grids)
            samples["lab_grid_get"].append(session.get(f"/visits/{visit}/labs/{panel}/").seconds)
        samples["login_page_get"].append(Session(HOST, port).get("/accounts/login/").seconds)
    return {"repeats": repeats, **{kind: summarise(times) for kind, times in samples.items()}}


def report(args, recorder: Recorder, elapsed: float, verification: dict, study_size: dict) -> dict:
    kinds = {kind: summarise(samples) for kind, samples in sorted(recorder.samples.items())}
    total = sum(len(samples) for samples in recorder.samples.values())
    targets = {}
    for kind, limit in TARGETS.items():
        p95 = kinds.get(kind, {}).get("p95_ms")
        targets[kind] = {"p95_ms": p95, "target_ms": limit, "met": p95 is not None and p95 < limit}
    passed = (
        verification["ok"]
        and recorder.server_errors == 0
        and recorder.conflicts["both_saved"] == 0
        and recorder.conflicts["other"] == 0
        and recorder.client_crashes == 0
    )
    return {
        "benchmark": "load",
        "passed": passed,
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "workers": args.workers,
        "think_s": args.think,
        "database": "postgresql",
        "trial": study_size,
        "requests": total,
        "requests_per_s": round(total / elapsed, 1) if elapsed else None,
        "latency": kinds,
        "statuses": {
            kind: dict(sorted(c.items())) for kind, c in sorted(recorder.statuses.items())
        },
        "targets": targets,
        "errors": {
            "server_5xx": recorder.server_errors,
            "unexpected_status": recorder.unexpected,
            "transport": recorder.transport_errors,
            "client_crashes": recorder.client_crashes,
        },
        "conflicts": {
            "pairs": sum(recorder.conflicts.values()),
            "one_winner": recorder.conflicts["one_winner"],
            "both_saved": recorder.conflicts["both_saved"],
            "other": recorder.conflicts["other"],
        },
        "verification": verification,
        "problem_examples": recorder.examples,
        "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause between a client's operations, in seconds (0: none)",
    )
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--events", type=int, default=50, help="adverse events per subject")
    parser.add_argument("--labs", type=int, default=500, help="lab results per subject")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--baseline", type=int, default=20, help="requests of the one-client baseline per page"
    )
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    password = "load-" + secrets.token_urlsafe(16)
    server = None
    django_ready = False
    with tempfile.TemporaryDirectory(prefix="ecrf-load-") as folder:
        folder_path = Path(folder)
        write_settings(folder_path)
        env = environment(f"{SERVER_URL}/{args.database}", folder)
        os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
        sys.path.insert(0, folder)
        # Ctrl-C and SIGTERM both unwind through the finally below.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            recreate_database(args.database)
            started = time.monotonic()
            manage(env, "migrate", "--noinput")
            manage(env, "collectstatic", "--noinput")
            study_code = populate(env, args, password)
            setup_s = time.monotonic() - started

            import django

            django.setup()
            django_ready = True
            from ecrf.models import AdverseEvent, LabResult, Study, Subject

            study = Study.objects.get(code=study_code)
            users = ensure_users(study, password)
            plans = plan_clients(study, args.clients, users)
            study_size = {
                "study": study_code,
                "subjects": Subject.objects.filter(study=study).count(),
                "adverse_events": AdverseEvent.objects.filter(subject__study=study).count(),
                "lab_results": LabResult.objects.filter(subject__study=study).count(),
                "sites": len({plan.site for plan in plans}),
                "events_the_clients_may_correct": sum(len(plan.events) for plan in plans),
                "setup_s": round(setup_s, 1),
            }
            before = take_snapshot(e for plan in plans for e in plan.events)

            server = Server(env, args.workers, folder_path / "gunicorn.log")
            server.wait_until_ready()
            alone = unloaded(plans, port=server.port, password=password, repeats=args.baseline)
            load_before = os.getloadavg()
            meter = CpuMeter(server.process.pid, args.database)
            cpu_before, own_before = meter.read(), time.process_time()
            recorder = Recorder()
            elapsed = run_clients(
                plans,
                port=server.port,
                password=password,
                think=args.think,
                seconds=args.seconds,
                seed=args.seed,
                recorder=recorder,
            )
            load_after = os.getloadavg()
            cpu = CpuMeter.spent(cpu_before, meter.read())
            own_cpu = time.process_time() - own_before
            server.stop()
            server_log = server.log.read_text(encoding="utf-8", errors="replace")
            if recorder.server_errors:
                print(server.tail(), file=sys.stderr)
            verification = verify(recorder.writes, before)
            result = report(args, recorder, elapsed, verification, study_size)
            result["server_exceptions"] = exceptions_in(server_log)
            result["unloaded_baseline"] = alone
            result["machine"] = {
                "cpus": os.cpu_count(),
                "load_average_1min_before": round(load_before[0], 2),
                "load_average_1min_after": round(load_after[0], 2),
            }
            served = result["requests"] or 1
            result["cpu_ms_per_request"] = {
                "app": round(cpu["app"] * 1000 / served, 1),
                "database_at_least": round(cpu["database"] * 1000 / served, 1),
                "load_generator": round(own_cpu * 1000 / served, 1),
            }
        finally:
            if server is not None:
                server.stop()
            if django_ready:
                from django.db import connections

                connections.close_all()
            if not args.keep_db:
                drop_database(args.database)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench.load: interrupted; gunicorn was stopped", file=sys.stderr)
        sys.exit(130)
