"""manage.py safety_report --study CODE [--cutoff YYYY-MM-DD] --out FILE.pdf"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecrf.models import Study
from ecrf.reports.cutoff import parse_cutoff
from ecrf.reports.safety import render_safety_report


class Command(BaseCommand):
    help = "Write the safety summary PDF of a study at a data cutoff."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--cutoff", help="YYYY-MM-DD; default today")
        parser.add_argument("--out", required=True, help="the PDF file to write")

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
        try:
            with open(out, "wb") as handle:
                report = render_safety_report(
                    found, cutoff=cutoff_date, generated_by="command:safety_report", out=handle
                )
        except OSError as exc:
            raise CommandError(f"--out: cannot write {out!r}: {exc.strerror}.") from exc
        self.stdout.write(
            f"Safety summary of {found.code} at {cutoff_date.isoformat()} written to {out} "
            f"(data snapshot {report.snapshot_hash[:16]}…)."
        )
