"""manage.py dlt_report --study CODE [--cutoff YYYY-MM-DD] [--format json|text]"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecrf.models import Study
from ecrf.reports.cutoff import parse_cutoff
from ecrf.reports.dlt import dlt_report_data, dlt_report_text
from ecrf.selectors.dlt import dlt_overview


class Command(BaseCommand):
    help = "Print per-dose-level DLT counts, each subject's evaluability and the design's advice."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--cutoff", help="YYYY-MM-DD; default today")
        parser.add_argument("--format", choices=["json", "text"], default="text")

    def handle(self, *args, study: str, cutoff: str | None, format: str, **options):
        found = Study.objects.filter(code=study).first()
        if found is None:
            raise CommandError(f"--study: no study with code {study!r}.")
        try:
            cutoff_date = parse_cutoff(cutoff)
        except ValidationError as exc:
            if exc.code == "not_a_date":
                raise CommandError(f"--cutoff: {cutoff!r} is not a date (YYYY-MM-DD).") from exc
            raise CommandError(f"--cutoff: {exc.messages[0]}") from exc
        data = dlt_report_data(dlt_overview(found, cutoff_date))
        if format == "json":
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(dlt_report_text(data))
