"""manage.py import_csv --study CODE DIR: subjects, doses, adverse events and labs from CSV."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ecrf.imports.rows import ImportRefused
from ecrf.imports.trial_csv import import_trial_csv
from ecrf.models import Study
from ecrf.services import system_actor


class Command(BaseCommand):
    help = (
        "Import subjects.csv, doses.csv, adverse_events.csv and labs.csv from a folder: all or "
        "nothing. Problems are listed as file:line:column: message."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--study", required=True, help="Study code")
        parser.add_argument(
            "--by", help="User name to record in the audit trail (default: the command itself)"
        )

    def handle(self, *args, folder: str, study: str, by: str | None, **options):
        found = Study.objects.filter(code=study).first()
        if found is None:
            raise CommandError(f"--study: no study with code {study!r}.")
        actor = system_actor("import_csv")
        if by:
            actor = get_user_model().objects.filter(username=by, is_active=True).first()
            if actor is None:
                raise CommandError(f"--by: no active user {by!r}.")
        try:
            summary = import_trial_csv(study=found, folder=folder, by=actor)
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        for name, count in summary.written.items():
            self.stdout.write(f"{name}: {count} rows imported")
        if summary.sites_created:
            self.stdout.write(f"Sites created: {', '.join(summary.sites_created)}")
        self.stdout.write(self.style.SUCCESS(f"Import into {study} complete."))
