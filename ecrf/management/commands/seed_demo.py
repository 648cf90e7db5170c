"""manage.py seed_demo: the reference trial with synthetic subjects and one user per role."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ecrf.services.demo import demo_seed


class Command(BaseCommand):
    help = "Load the demo trial (idempotent). New demo users' passwords are printed once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds a study.",
        )
        parser.add_argument(
            "--today",
            help="YYYY-MM-DD, not after today: the day the demo's dates are counted back from "
            "(default today).",
        )

    def handle(self, *args, if_empty: bool = False, today: str | None = None, **options):
        from ecrf.models import Study

        day = self._day(today)
        if if_empty and Study.objects.exists():
            self.stdout.write("The database already holds a study; demo not loaded.")
            return
        report = demo_seed(today=day)
        self.stdout.write(
            f"Study {report.study.code}: {'created' if report.study_created else 'up to date'}; "
            f"{report.subjects_created} demo subjects added."
        )
        if report.passwords:
            self.stdout.write("Demo users (passwords are shown this once; note them now):")
            for username, password in report.passwords.items():
                self.stdout.write(f"  {username:<22} {password}")

    def _day(self, today: str | None) -> dt.date | None:
        """The --today date; a later day would date the demo's doses in the future."""
        if today is None:
            return None
        try:
            day = dt.date.fromisoformat(today)
        except ValueError as exc:
            raise CommandError(f"--today: {today!r} is not a date (YYYY-MM-DD).") from exc
        if day > timezone.localdate():
            raise CommandError(
                f"--today: {today} is after today; the demo would hold doses in the future."
            )
        return day
