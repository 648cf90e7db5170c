"""Remove what the background jobs leave behind: run it hourly (cron, a systemd timer).

    manage.py report_jobs_sweep

Fails the jobs whose worker was lost (their lease ran out), removes the files past their expiry
(DJANGO_REPORT_FILE_HOURS), deletes the records of jobs finished more than 30 days ago and
removes files in DJANGO_REPORTS_DIR that no finished job points at, such as the temporary file
of a killed worker. Requested files are not clinical data: the clinical records stay untouched.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ecrf.services.report_jobs import report_jobs_sweep


class Command(BaseCommand):
    help = "Fail lost jobs, remove expired report files and old job records."

    def handle(self, **options):
        result = report_jobs_sweep()
        self.stdout.write(
            f"{result.failed} lost job(s) failed, {result.expired} file(s) expired, "
            f"{result.deleted} old record(s) deleted, {result.files_removed} stray file(s) "
            "removed."
        )
