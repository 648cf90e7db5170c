"""manage.py generate_synthetic --subjects N --seed S: a synthetic trial for the benchmarks."""

import time

from django.core.management.base import BaseCommand, CommandError

from ecrf.synthetic.trial import (
    DEFAULT_STUDY_CODE,
    SyntheticTrialError,
    generate_trial,
    site_users_create,
    trial_counts,
)

OPTIONS = {
    "subjects": "--subjects",
    "events_per_subject": "--events-per-subject",
    "labs_per_subject": "--labs-per-subject",
    "study_code": "--study",
}


class Command(BaseCommand):
    help = (
        "Create a synthetic trial from the reference trial definition: subjects, visits, doses, "
        "adverse events, lab results, DLT assessments and their audit trail. The same seed "
        "gives the same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--subjects", type=int, required=True, help="Number of subjects.")
        parser.add_argument("--seed", type=int, required=True, help="Random seed.")
        parser.add_argument(
            "--study",
            default=DEFAULT_STUDY_CODE,
            help=f"Code of the new study (default {DEFAULT_STUDY_CODE}); must not exist yet.",
        )
        parser.add_argument("--events-per-subject", type=int, default=50)
        parser.add_argument("--labs-per-subject", type=int, default=500)
        parser.add_argument(
            "--with-users",
            metavar="PASSWORD",
            help="Also create a research nurse and an investigator per site "
            "(syn.nurse.<site>, syn.investigator.<site>) who sign in with this password.",
        )

    def handle(self, *args, **options):
        start = time.perf_counter()
        try:
            study = generate_trial(
                subjects=options["subjects"],
                seed=options["seed"],
                study_code=options["study"],
                events_per_subject=options["events_per_subject"],
                labs_per_subject=options["labs_per_subject"],
            )
        except SyntheticTrialError as exc:
            raise CommandError(f"{OPTIONS[exc.option]}: {exc}") from exc
        elapsed = time.perf_counter() - start
        users = []
        if options["with_users"]:
            users = site_users_create(study=study, password=options["with_users"])
        counts = trial_counts(study)
        self.stdout.write(self.style.SUCCESS(f"Created study {study.code} in {elapsed:.1f} s."))
        for name, count in counts.items():
            self.stdout.write(f"  {name.replace('_', ' '):<16} {count:>10,}")
        for user in users:
            self.stdout.write(f"  user {user.get_username()}")
