"""manage.py seed_demo: the reference trial with synthetic subjects and one user per role."""

from django.core.management.base import BaseCommand

from ecrf.services.demo import demo_seed


class Command(BaseCommand):
    help = "Load the demo trial (idempotent). New demo users' passwords are printed once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds a study.",
        )

    def handle(self, *args, if_empty: bool = False, **options):
        from ecrf.models import Study

        if if_empty and Study.objects.exists():
            self.stdout.write("The database already holds a study; demo not loaded.")
            return
        report = demo_seed()
        self.stdout.write(
            f"Study {report.study.code}: {'created' if report.study_created else 'up to date'}; "
            f"{report.subjects_created} demo subjects added."
        )
        if report.passwords:
            self.stdout.write("Demo users (passwords are shown this once; note them now):")
            for username, password in report.passwords.items():
                self.stdout.write(f"  {username:<22} {password}")
