"""manage.py import_adverse_events --study CODE --by USERNAME FILE.csv"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ecrf.imports.adverse_events import import_adverse_events
from ecrf.imports.rows import ImportRefused
from ecrf.models import Study


class Command(BaseCommand):
    help = (
        "Import adverse events from a CSV file: all rows or none. The named user is recorded "
        "in the audit trail and must be allowed to enter data at the subjects' sites."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--study", required=True, help="Study code")
        parser.add_argument("--by", required=True, help="User name the data is entered by")

    def handle(self, *args, path: str, study: str, by: str, **options):
        found = Study.objects.filter(code=study).first()
        if found is None:
            raise CommandError(f"--study: no study with code {study!r}.")
        user = get_user_model().objects.filter(username=by, is_active=True).first()
        if user is None:
            raise CommandError(f"--by: no active user {by!r}.")
        try:
            count = import_adverse_events(study=found, path=path, by=user)
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Imported {count} adverse events into {study}."))
