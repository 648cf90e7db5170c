"""Server time and SQL queries of the pages people wait for, on synthetic trials of growing size.

    python -m bench.pages [--configs 50x10,50x100,50x1000,50x50,500x50] [--repeats 40]

Each configuration is SUBJECTSxEVENTS: a synthetic trial (`ecrf.synthetic.trial.generate_trial`,
500 lab results per subject) with that many subjects and adverse events per subject, in a fresh
database (an SQLite file, or PostgreSQL when DATABASE_URL is set). The default matrix varies
the adverse events per subject (10, 100, 1,000) at 50 subjects, and the subjects (50, 500) at 50
adverse events per subject.

Every page is requested through Django's test Client, with the whole middleware stack and a
signed-in user: the pages of a study-wide investigator and data manager (staff for the admin)
and of a research nurse of the casebook subject's site (her home page and the data-entry
forms). The pages: both home pages, the subject list, the casebook of the subject with the most
adverse events (its first page and its dosing, labs and audit trail tabs), the new and the edit
adverse event form, the dose form, a visit's chemistry grid, the DLT dashboard and a decision
page, the query list and the admin adverse event list. The baseline, measured in the same run
through the same Client, is a bare view that runs one query and renders a template. Each page
is requested a few times to warm up, then `--repeats` times (a page slower than half a second
stops after 20 s of samples, and at least 5): median and 95th percentile of the server time,
median CPU time of this process (what the page costs when other processes share the machine;
the database's own work is not in it when it is PostgreSQL), the number of SQL queries of one
request (session and user included), and the ratio of the median to the baseline's.

The nurse's saves are timed the same way, each POST after reading its form from the page (not
timed), as a browser does: a new adverse event, a correction of one with a reason, a dose as
planned and a lab result in an empty row of a grid. Each must answer with the redirect of a
saved form; the figures add the fewest and most queries of a POST.

Prints one JSON line per configuration and writes them all to bench/results/pages.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial.test_settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.template import engines  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import include, path, reverse  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "pages.json"
DEFAULT_CONFIGS = "50x10,50x100,50x1000,50x50,500x50"
DEFAULT_REPEATS = 40
WARMUP = 3
MIN_REPEATS = 5
SECONDS_PER_PAGE = 20
SEED = 8
BARE_TEMPLATE = engines["django"].from_string("<html><body>{{ subject }}</body></html>")


def bare_view(request: HttpRequest) -> HttpResponse:
    """The baseline: one query and a template render."""
    from ecrf.models import Subject

    subject = Subject.objects.first()
    return HttpResponse(BARE_TEMPLATE.render({"subject": subject}, request))


# The project's pages plus the baseline, served by the same Client and middleware.
urlpatterns = [
    path("bench/bare/", bare_view, name="bench_bare"),
    path("", include("trial.urls")),
]


def _bench_user(study):
    """A study-wide investigator and data manager, staff for the admin pages."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from ecrf.access import ensure_role_groups
    from ecrf.models import Role, StudyAssignment

    ensure_role_groups()
    user = get_user_model().objects.create_user("bench.reader", password=None, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=[Role.INVESTIGATOR, Role.DATA_MANAGER]))
    StudyAssignment.objects.create(user=user, study=study, site=None)
    return user


def _bench_nurse(subject):
    """A research nurse of the subject's site (the POSTs are hers, as at the bedside)."""
    from ecrf.synthetic.trial import site_users_create

    nurse = f"syn.nurse.{subject.site.code.lower()}"
    users = {user.get_username(): user for user in site_users_create(study=subject.study,
                                                                    password=None)}  # fmt: skip
    return users[nurse]


def _timing(samples: list[float], cpu: list[float]) -> dict:
    """Median and 95th percentile of the server time, median CPU time, in milliseconds."""
    return {
        "median_ms": round(statistics.median(samples) * 1000, 2),
        "p95_ms": round(statistics.quantiles(samples, n=20)[-1] * 1000, 2),
        "median_cpu_ms": round(statistics.median(cpu) * 1000, 2),
    }


def _post_samples(client: Client, submissions, repeats: int) -> dict:
    """Time the POST of each (path, data) that `submissions` yields; each must redirect (saved)."""
    samples, cpu, queries = [], [], []
    for count, (url, data) in enumerate(submissions):
        if count >= WARMUP + repeats:
            break
        with CaptureQueriesContext(connection) as captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.post(url, data)
            elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if response.status_code != 302:
            from bench.load import form_errors

            raise RuntimeError(
                f"POST {url} answered {response.status_code}, not a redirect: "
                + form_errors(response.content.decode())
            )
        if count < WARMUP:
            continue
        samples.append(elapsed)
        cpu.append(elapsed_cpu)
        queries.append(len(captured))
    return {
        **_timing(samples, cpu),
        "queries_max": max(queries),
        "queries_min": min(queries),
        "samples": len(samples),
    }


def _form(client: Client, url: str):
    from bench.load_client import post_form

    page = client.get(url)
    if page.status_code != 200:
        raise RuntimeError(f"GET {url} answered {page.status_code}")
    return post_form(page.content.decode(), url.partition("?")[0])


def _data(form) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in form.data():
        data.setdefault(name, []).append(value)
    return data


def _measure_posts(nurse: Client, subject, repeats: int) -> dict:
    """The nurse's saves: a new adverse event, a correction of one with a reason, a dose and a
    lab result in a visit's grid. Each form is read from its page first (not timed), as a
    browser does; the time is that of the POST alone, with its redirect answer."""
    from bench.load_client import lab_rows
    from ecrf.services.dosing import level_dose

    onset = subject.enrolled_on.isoformat()

    def new_events():
        path = reverse("ae_create", args=[subject.pk])
        for n in itertools.count():
            form = _form(nurse, path)
            form.set("ctcae_term", "Fatigue")
            form.set("verbatim", f"bench event {n}")
            form.set("grade", "1")
            form.set("onset_on", onset)
            form.set("serious", "no")
            for name in sorted(form.controls):
                if name.startswith("attribution_"):
                    form.set(name, "unlikely")
                elif name.startswith("action_"):
                    form.set(name, "none")
            yield path, _data(form)

    def corrections():
        event = subject.adverse_events.order_by("onset_on").first()
        path = reverse("ae_edit", args=[event.pk])
        for n in itertools.count():
            form = _form(nurse, path)
            form.set("verbatim", f"bench correction {n}")
            form.set("change_reason", f"Transcription error {n}")
            yield path, _data(form)

    def doses():
        path = reverse("dose_create", args=[subject.pk])
        agent = subject.study.agents.order_by("code").first()
        planned = level_dose(subject, agent)
        first_day = subject.visits.get(cycle=1, day=1).planned_on
        for n in itertools.count():
            given_on = first_day + dt.timedelta(days=n % 21)
            # The page opened from the dosing tab's "as planned" link: the planned dose filled in.
            form = _form(nurse, f"{path}?agent={agent.code}&date={given_on.isoformat()}")
            form.set("given_dose", str(planned))
            yield path, _data(form)

    def lab_results():
        from ecrf.models import Visit

        visits = Visit.objects.filter(subject__site=subject.site, kind="cycle_day")
        for visit in visits.order_by("subject__subject_code", "cycle", "day").iterator():
            for panel in ("haematology", "chemistry", "immune"):
                path = reverse("lab_grid", args=[visit.pk, panel])
                while True:
                    form = _form(nurse, path)
                    free = [test for test, row in lab_rows(form).items()
                            if row["loaded_version"] is None and row.get("uln")]  # fmt: skip
                    if not free:
                        break
                    row = lab_rows(form)[free[0]]
                    form.set(f"{free[0]}-value", row["uln"])
                    yield path, _data(form)

    return {
        name: _post_samples(nurse, submissions(), repeats)
        for name, submissions in (
            ("adverse_event_new", new_events),
            ("adverse_event_correction", corrections),
            ("dose", doses),
            ("lab_result", lab_results),
        )
    }


def _measure(client: Client, url: str, repeats: int) -> dict:
    for _ in range(WARMUP):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    samples, cpu = [], []
    # A page that takes seconds gets fewer samples, so that the matrix runs in minutes.
    while len(samples) < repeats and (
        len(samples) < MIN_REPEATS or sum(samples) < SECONDS_PER_PAGE
    ):
        start, start_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        samples.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return {**_timing(samples, cpu), "queries": len(queries), "samples": len(samples)}


def _configuration(subjects: int, events: int, repeats: int) -> dict:
    from ecrf.models import DltAssessment, Subject
    from ecrf.synthetic.trial import generate_trial, trial_counts

    started = time.perf_counter()
    study = generate_trial(
        subjects=subjects, seed=SEED, study_code="SYN-PAGES", events_per_subject=events
    )
    generated_s = time.perf_counter() - started
    counts = trial_counts(study)
    casebook = (
        Subject.objects.filter(study=study)
        .annotate(n=Count("adverse_events"))
        .order_by("-n", "subject_code")
        .first()
    )
    client = Client()
    client.force_login(_bench_user(study))
    subject_url = reverse("subject_detail", args=[casebook.pk])
    nurse = Client()
    nurse.force_login(_bench_nurse(casebook))
    visit = casebook.visits.filter(kind="cycle_day").order_by("cycle", "day").first()
    event = casebook.adverse_events.order_by("onset_on").first()
    assessment = DltAssessment.objects.filter(adverse_event__subject__study=study).first()
    pages = {
        "home_nurse": (nurse, reverse("home")),
        "home_investigator": (client, reverse("home")),
        "subject_list": (client, reverse("subject_list")),
        "casebook": (client, subject_url),
        **{
            f"casebook_{tab}_tab": (client, f"{subject_url}?tab={tab}")
            for tab in ("doses", "labs", "audit")
        },
        "adverse_event_form": (nurse, reverse("ae_create", args=[casebook.pk])),
        "adverse_event_edit_form": (nurse, reverse("ae_edit", args=[event.pk])),
        "dose_form": (nurse, reverse("dose_create", args=[casebook.pk])),
        "lab_grid": (nurse, reverse("lab_grid", args=[visit.pk, "chemistry"])),
        "dlt_dashboard": (client, reverse("dlt_dashboard")),
        "dlt_decision_page": (client, reverse("dlt_decide", args=[assessment.pk])),
        "query_list": (client, reverse("query_list")),
        "admin_adverse_events": (client, reverse("admin:ecrf_adverseevent_changelist")),
    }
    baseline = _measure(client, reverse("bench_bare"), repeats)
    measured = {name: _measure(who, url, repeats) for name, (who, url) in pages.items()}
    for figures in measured.values():
        figures["ratio_to_baseline"] = round(figures["median_ms"] / baseline["median_ms"], 1)
    posts = _measure_posts(nurse, casebook, repeats)
    return {
        "benchmark": "pages",
        "database": connection.vendor,
        "subjects": subjects,
        "events_per_subject": events,
        "labs_per_subject": 500,
        "trial": counts,
        "casebook_subject": {
            "adverse_events": casebook.adverse_events.count(),
            "lab_results": casebook.lab_results.count(),
            "doses": casebook.doses.count(),
        },
        "generated_s": round(generated_s, 1),
        "repeats": repeats,
        "baseline": {"view": "bare view: one query and a template render", **baseline},
        "pages": measured,
        "posts": posts,
    }


def _run_in_fresh_database(subjects: int, events: int, repeats: int, folder: str) -> dict:
    if connection.vendor == "sqlite":
        # A database file, as in production, rather than the test runner's in-memory database.
        connection.settings_dict["TEST"]["NAME"] = os.path.join(folder, "pages.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        # The Client's default host and the bare view's route; DEBUG stays off. The session is
        # not written back on every request: on an SQLite file that write is a disk flush, the
        # same for every page, which would drown what the pages themselves cost.
        with override_settings(
            ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__, SESSION_SAVE_EVERY_REQUEST=False
        ):
            return _configuration(subjects, events, repeats)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def _configs(text: str) -> list[tuple[int, int]]:
    pairs = []
    for item in text.split(","):
        subjects, _, events = item.strip().partition("x")
        pairs.append((int(subjects), int(events)))
    return pairs


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help="comma-separated SUBJECTSxEVENTS_PER_SUBJECT")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for subjects, events in _configs(args.configs):
            result = _run_in_fresh_database(subjects, events, args.repeats, folder)
            print(json.dumps(result), flush=True)
            results.append(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
