"""Server time and SQL queries of the casebook page for a subject with 200 adverse events and
2,000 lab results, against a bare view that runs one query and renders a template, both measured
in the same run. Run with `python -m bench.casebook`; prints one JSON line and writes
bench/results/casebook.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial.test_settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.template import engines  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "casebook.json"
REPEATS = 30
EVENTS, LABS = 200, 2000


def _trial():
    from ecrf.imports.study_definition import read_study_definition
    from ecrf.models import AdverseEvent, AdverseEventAgent, LabResult, StudyAssignment
    from ecrf.services import study_load, subject_enrol, subject_screen, system_actor

    actor = system_actor("bench")
    definition = read_study_definition(
        Path(__file__).resolve().parents[1] / "studies" / "IL2-IM-CTX.json"
    )
    study, _ = study_load(definition=definition, by=actor, source="bench")
    site = study.sites.get(code="A")
    user = get_user_model().objects.create_superuser("bench", password=None)
    StudyAssignment.objects.create(user=user, study=study, site=None)
    subject = subject_screen(study=study, site=site, subject_code="A-001",
                             consent_on=dt.date(2026, 1, 1), by=actor)  # fmt: skip
    subject = subject_enrol(subject=subject, dose_level=study.dose_levels.get(level=1),
                            enrolled_on=dt.date(2026, 1, 5), first_dose_on=dt.date(2026, 1, 12),
                            by=actor)  # fmt: skip
    agents = list(study.agents.all())
    events = AdverseEvent.objects.bulk_create(
        AdverseEvent(subject=subject, ctcae_term="Fatigue", meddra_code="10016256", grade=1 + i % 3,
                     onset_on=dt.date(2026, 1, 13) + dt.timedelta(days=i % 40))
        for i in range(EVENTS)
    )  # fmt: skip
    AdverseEventAgent.objects.bulk_create(
        AdverseEventAgent(adverse_event=e, agent=a, attribution="possible")
        for e in events
        for a in agents
    )
    visits = list(subject.visits.all())
    LabResult.objects.bulk_create(
        LabResult(subject=subject, visit=visits[i % len(visits)], test_code="ALT",
                  value=Decimal(20 + i % 200), unit="U/L", uln=Decimal(40), ctcae_grade=i % 4,
                  ctcae_term="Alanine aminotransferase increased" if i % 4 else "",
                  collected_at=dt.datetime(2026, 1, 12, 8, tzinfo=dt.UTC) + dt.timedelta(hours=i))
        for i in range(LABS)
    )  # fmt: skip
    return user, subject


def _bare_view(request):
    """The baseline: one query and a template render."""
    from django.http import HttpResponse

    from ecrf.models import Subject

    subject = Subject.objects.first()
    template = engines["django"].from_string("<html><body>{{ subject }}</body></html>")
    return HttpResponse(template.render({"subject": subject}, request))


def _time(view, request, *args) -> tuple[float, int]:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        response = view(request, *args)
        response.content  # noqa: B018 - render fully
        samples.append(time.perf_counter() - start)
    with CaptureQueriesContext(connection) as queries:
        view(request, *args)
    return statistics.median(samples), len(queries)


def main() -> dict:
    from ecrf.views.subjects import subject_detail

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        user, subject = _trial()
        request = RequestFactory().get("/")
        request.user = user
        casebook_s, casebook_q = _time(subject_detail, request, subject.pk)
        bare_s, bare_q = _time(_bare_view, request)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    result = {
        "benchmark": "casebook_page",
        "adverse_events": EVENTS,
        "lab_results": LABS,
        "repeats": REPEATS,
        "casebook_median_ms": round(casebook_s * 1000, 1),
        "casebook_queries": casebook_q,
        "baseline": "bare view: one query and a template render",
        "baseline_median_ms": round(bare_s * 1000, 2),
        "baseline_queries": bare_q,
        "ratio_to_baseline": round(casebook_s / bare_s, 1),
        "database": connection.vendor,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
