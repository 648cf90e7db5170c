"""manage.py export --study CODE --format csv|xlsx|parquet|sdtm|xpt --out DIR"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ecrf.exports import FORMATS, ExportError, write_export
from ecrf.models import Study


class Command(BaseCommand):
    help = (
        "Write a study's analysis export: csv (a file per table, the audit trail included), "
        "xlsx (one workbook of the clinical tables), parquet (a typed file per table, the "
        "audit trail included), sdtm (DM, EX, AE, LB as CSV) or xpt (the same as SAS "
        "transport v5)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="the study code")
        parser.add_argument("--format", required=True, help=", ".join(FORMATS))
        parser.add_argument("--out", required=True, help="directory, created if missing")

    def handle(self, *args, study: str, format: str, out: str, **options):
        if format not in FORMATS:
            raise CommandError(
                f"--format: unknown format {format!r}; choose one of {', '.join(FORMATS)}."
            )
        found = Study.objects.filter(code=study).first()
        if found is None:
            raise CommandError(f"--study: no study with code {study!r}.")
        out_dir = Path(out)
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"--out: {out!r} exists and is not a directory.")
        try:
            paths = write_export(found, format, out_dir)
        except ExportError as exc:
            raise CommandError(f"--format {format}: {exc}") from exc
        for path in paths:
            self.stdout.write(str(path))
