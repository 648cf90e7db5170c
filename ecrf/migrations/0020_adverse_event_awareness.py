"""When the site became aware of a serious adverse event (issue #21 item 6): the 24-hour SAE
reporting clock (ICH E2A) counts from it.

Serious events saved before this field existed get the time they were entered in the eCRF,
which is when the clock started for them until now: their deadlines stay where they were. Each
one gets an audit event saying so (actor "migration:0020_adverse_event_awareness"), so that the
value is not mistaken for one a person entered; a site that knows the real time corrects it
with a reason. Non-serious events have none.
"""

import datetime as dt

from django.db import migrations, models
from django.utils import timezone

MIGRATION = "0020_adverse_event_awareness"
REASON = (
    "The time the site became aware was not recorded before this version; set to the time the "
    "event was entered, from which the 24-hour reporting clock counted until now."
)


def awareness_from_entry_time(apps, schema_editor):
    event_model = apps.get_model("ecrf", "AdverseEvent")
    audit_model = apps.get_model("ecrf", "AuditEvent")
    serious = event_model.objects.filter(serious=True, site_aware_at__isnull=True).select_related(
        "subject__site"
    )
    now = timezone.now()
    audits = []
    for event in serious.iterator():
        event_model.objects.filter(pk=event.pk).update(site_aware_at=event.created_at)
        audits.append(
            audit_model(
                at=now,
                user=None,
                actor=f"migration:{MIGRATION}",
                role="system",
                site=event.subject.site.code,
                action="ecrf.adverseevent.updated",
                model="ecrf.AdverseEvent",
                object_id=str(event.pk),
                object_repr=f"{event.ctcae_term} grade {event.grade}"[:200],
                subject_id=event.subject_id,
                field="site_aware_at",
                old_value=None,
                new_value=event.created_at.astimezone(dt.UTC).isoformat(),
                reason=REASON,
            )
        )
    audit_model.objects.bulk_create(audits)


class Migration(migrations.Migration):
    dependencies = [
        ("ecrf", "0019_dose_above_plan"),
    ]

    operations = [
        migrations.AddField(
            model_name="adverseevent",
            name="site_aware_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the site became aware of the serious event; the 24-hour "
                "reporting clock (ICH E2A) counts from it. Only for a serious event.",
                null=True,
                verbose_name="site became aware at",
            ),
        ),
        migrations.RunPython(awareness_from_entry_time, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="adverseevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("serious", True), ("site_aware_at__isnull", False)),
                    models.Q(("serious", False), ("site_aware_at__isnull", True)),
                    _connector="OR",
                ),
                name="ae_serious_has_awareness",
                violation_error_message="A serious adverse event needs the time the site "
                "became aware of it, and only a serious event has one.",
            ),
        ),
    ]
