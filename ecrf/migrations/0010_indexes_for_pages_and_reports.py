"""Indexes for the casebook's paginated lists (latest first) and the lab-AE reconciliation."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ecrf", "0009_oversight_queries_sdv_locks"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="adverseevent",
            index=models.Index(fields=["subject", "onset_on"], name="ae_subject_onset_idx"),
        ),
        migrations.AddIndex(
            model_name="labresult",
            index=models.Index(
                fields=["subject", "collected_at"], name="lab_subject_collected_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="labresult",
            index=models.Index(
                condition=models.Q(("ctcae_grade__gte", 3), ("entered_in_error", False)),
                fields=["subject", "ctcae_grade"],
                name="lab_subject_high_grade_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="doseadministration",
            index=models.Index(fields=["subject", "given_on"], name="dose_subject_given_idx"),
        ),
    ]
