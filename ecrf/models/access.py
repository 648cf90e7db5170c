"""Who works on which study and site. Roles are Django groups named after Role."""

from django.conf import settings
from django.db import models

from .base import AuditedModel
from .study import Site, Study


class Role(models.TextChoices):
    RESEARCH_NURSE = "research_nurse", "Research nurse"
    INVESTIGATOR = "investigator", "Investigator"
    MONITOR = "monitor", "Monitor"
    DATA_MANAGER = "data_manager", "Data manager"
    SPONSOR_VIEWER = "sponsor_viewer", "Sponsor viewer"
    ADMINISTRATOR = "administrator", "Administrator"


class StudyAssignment(AuditedModel):
    """A user's access to a study: one site, or every site when site is empty."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="study_assignments"
    )
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="assignments")
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "study", "site"],
                condition=models.Q(site__isnull=False),
                name="assignment_site_unique",
            ),
            models.UniqueConstraint(
                fields=["user", "study"],
                condition=models.Q(site__isnull=True),
                name="assignment_study_wide_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.study} {self.site or 'all sites'}"
