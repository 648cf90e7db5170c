"""manage.py load_ctcae PATH: load CTCAE grade descriptions from the official NCI workbook."""

from django.core.management.base import BaseCommand, CommandError

from ecrf.ctcae.workbook import WorkbookError, read_term_descriptions
from ecrf.services.ctcae import ctcae_descriptions_load


class Command(BaseCommand):
    help = (
        "Load the grade descriptions and definitions of CTCAE v5.0 from the official NCI "
        "workbook (.xlsx) or its clean-copy sheet saved as CSV, so that forms can show them."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="NCI_CTCAE_v5.0.xlsx or its clean-copy CSV")

    def handle(self, *args, path: str, **options):
        try:
            descriptions = read_term_descriptions(path)
        except WorkbookError as exc:
            raise CommandError(str(exc)) from exc
        count = ctcae_descriptions_load(descriptions=descriptions)
        self.stdout.write(self.style.SUCCESS(f"Loaded the descriptions of {count} CTCAE terms."))
