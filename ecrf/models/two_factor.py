"""One-time enrolment tokens for the second factor.

An administrator issues a token; the user types it on the two-factor page before the page shows
them a key to add to an authenticator app. Only a hash of the token is stored, so the table does
not hold anything a reader of the database could enrol with.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TwoFactorEnrolmentToken(models.Model):
    """A token that lets one user enrol one authenticator app, once, until it expires."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token.")
    issued_at = models.DateTimeField()
    issued_by = models.CharField(max_length=150, help_text="Who issued it: a user or a command.")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["user", "used_at"], name="enrolment_token_user_idx")]

    def __str__(self) -> str:
        return f"enrolment token for {self.user} until {self.expires_at:%Y-%m-%d %H:%M} UTC"
