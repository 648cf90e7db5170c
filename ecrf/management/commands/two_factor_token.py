"""manage.py two_factor_token USERNAME [--reset]: a one-time enrolment token for the second factor.

The way to enrol the first administrator, who has nobody to issue them a token in the admin.
With --reset, the user's authenticator apps are removed first (a lost phone). Both are audited.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecrf.auth.enrolment import two_factor_reset, two_factor_token_issue
from ecrf.services.audit import system_actor

COMMAND = "two_factor_token"


class Command(BaseCommand):
    help = (
        "Issue a one-time enrolment token for a user's authenticator app (printed once). "
        "--reset first removes the user's apps, for a lost or replaced phone."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--reset", action="store_true", help="Remove the user's authenticator apps first."
        )
        parser.add_argument("--reason", default="", help="Why the apps are removed (audited).")

    def handle(self, *args, username: str, reset: bool, reason: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        actor = system_actor(COMMAND)
        if reset:
            removed = two_factor_reset(user=user, by=actor, reason=reason)
            self.stdout.write(f"Removed {removed} authenticator app(s) of {username}.")
        try:
            issued = two_factor_token_issue(user=user, by=actor)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"Enrolment token for {username} (shown this once, valid until "
            f"{issued.expires_at:%Y-%m-%d %H:%M} UTC, works once):\n  {issued.token}"
        )
