"""manage.py casebook --study CODE --subject ID --out FILE.pdf"""

from io import BytesIO
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ecrf.models import Study, Subject
from ecrf.reports.casebook import casebook_load, casebook_write
from ecrf.services import system_actor


class Command(BaseCommand):
    help = "Write the PDF casebook of one subject: all of its CRF data and its audit trail."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study code")
        parser.add_argument("--subject", required=True, help="subject ID, e.g. A-001")
        parser.add_argument("--out", required=True, help="the PDF file to write")

    def handle(self, *args, study: str, subject: str, out: str, **options):
        found = Study.objects.filter(code=study).first()
        if found is None:
            raise CommandError(f"--study: no study with code {study!r}.")
        record = Subject.objects.filter(study=found, subject_code=subject).first()
        if record is None:
            raise CommandError(f"--subject: no subject {subject!r} in study {found.code}.")
        target = Path(out)
        if not target.parent.is_dir():
            raise CommandError(f"--out: the folder {str(target.parent)!r} does not exist.")
        casebook = casebook_load(record)
        # Rendered in memory first: a failure leaves no half-written file behind.
        pdf = BytesIO()
        casebook_write(
            pdf, casebook, generated_at=timezone.now(), generated_by=system_actor("casebook").name
        )
        target.write_bytes(pdf.getvalue())
        self.stdout.write(
            f"Wrote {target}: casebook of {record.subject_code}, data hash {casebook.data_hash}."
        )
