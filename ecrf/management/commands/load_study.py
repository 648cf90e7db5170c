"""manage.py load_study PATH.json: create a study, or update it by its code."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecrf.imports.study_definition import StudyDefinitionError, read_study_definition
from ecrf.services import study_load, system_actor


class Command(BaseCommand):
    help = "Create a study from a JSON study definition, or update the study with that code."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Path of the study definition (JSON).")

    def handle(self, *args, path: str, **options):
        try:
            definition = read_study_definition(path)
            study, created = study_load(
                definition=definition, by=system_actor("load_study"), source=path
            )
        except StudyDefinitionError as exc:
            raise CommandError(str(exc)) from exc
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(f"Study definition refused: {exc}") from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} study {study.code}."))
