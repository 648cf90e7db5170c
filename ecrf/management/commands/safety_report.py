"""manage.py safety_report --study CODE [--cutoff YYYY-MM-DD] [--format pdf|json] --out FILE"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecrf.models import Study
from ecrf.reports.cutoff import parse_cutoff
from ecrf.reports.safety import prepare_safety_report, render_safety_report
from ecrf.reports.safety_data import safety_data

GENERATED_BY = "command:safety_report"


class Command(BaseCommand):
    help = "Write the safety summary of a study at a data cutoff, as a PDF or as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--cutoff", help="YYYY-MM-DD; default today")
        parser.add_argument(
            "--format",
            choices=["pdf", "json"],
            default="pdf",
            help="pdf (default), or json: the same tables as data (README, 'Safety summary as JSON')",
        )
        parser.add_argument("--out", required=True, help="the file to write")

    def handle(self, *args, study: str, cutoff: str | None, out: str, **options):
        found = Study.objects.filter(code=study).first()
        if found is None:
            raise CommandError(f"--study: no study with code {study!r}.")
        try:
            cutoff_date = parse_cutoff(cutoff)
        except ValidationError as exc:
            if exc.code == "not_a_date":
                raise CommandError(f"--cutoff: {cutoff!r} is not a date (YYYY-MM-DD).") from exc
            raise CommandError(f"--cutoff: {exc.messages[0]}") from exc
        as_json = options["format"] == "json"
        try:
            if as_json:
                report = prepare_safety_report(found, cutoff=cutoff_date, generated_by=GENERATED_BY)
                text = json.dumps(safety_data(report), indent=2, ensure_ascii=False)
                with open(out, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
            else:
                with open(out, "wb") as handle:
                    report = render_safety_report(
                        found, cutoff=cutoff_date, generated_by=GENERATED_BY, out=handle
                    )
        except OSError as exc:
            raise CommandError(f"--out: cannot write {out!r}: {exc.strerror}.") from exc
        kind = "as JSON " if as_json else ""
        self.stdout.write(
            f"Safety summary of {found.code} at {cutoff_date.isoformat()} written {kind}to {out} "
            f"(data snapshot {report.snapshot_hash[:16]}…)."
        )
