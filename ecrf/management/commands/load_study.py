"""manage.py load_study PATH.json: create a study, or update it by its code."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecrf.imports.study_definition import StudyDefinitionError, read_study_definition
from ecrf.selectors.dlt import study_dlt_rules
from ecrf.services import study_load, system_actor


class Command(BaseCommand):
    help = "Create a study from a JSON study definition, or update the study with that code."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Path of the study definition (JSON).")
        parser.add_argument(
            "--reason",
            default="",
            help="Why the definition changed (e.g. 'Amendment 2: Hy's law added to the DLT "
            "rules'); recorded with a new version of the DLT rules.",
        )

    def handle(self, *args, path: str, reason: str, **options):
        try:
            definition = read_study_definition(path)
            study, created = study_load(
                definition=definition, by=system_actor("load_study"), source=path, reason=reason
            )
        except StudyDefinitionError as exc:
            raise CommandError(str(exc)) from exc
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(f"Study definition refused: {exc}") from exc
        verb = "Created" if created else "Updated"
        rules = study_dlt_rules(study)
        self.stdout.write(
            self.style.SUCCESS(f"{verb} study {study.code}; DLT rules version {rules.number}.")
        )
