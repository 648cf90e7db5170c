"""Structured dose-change reasons, the study's under-dosing-for-toxicity setting and signed
rule-outs of unreconciled lab toxicity (issue #12).

Existing doses get a reason kind before the constraints are added: "adverse_event" where the
dose cites an adverse event, "other" where it has a reason in words.
"""

import django.core.validators
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


def categorise_existing_doses(apps, schema_editor):
    dose = apps.get_model("ecrf", "DoseAdministration")
    dose.objects.filter(adverse_event__isnull=False).update(reason_category="adverse_event")
    dose.objects.filter(adverse_event__isnull=True).exclude(reason="").update(
        reason_category="other"
    )


class Migration(migrations.Migration):

    dependencies = [
        ('ecrf', '0015_query_origin_consistency'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LabToxicityAssessment',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('version', models.PositiveIntegerField(default=1, editable=False)),
                ('decision', models.CharField(choices=[('not_dlt', 'Not a DLT')], max_length=12)),
                ('decision_reason', models.TextField(max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)])),
                ('decided_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['decided_at'],
            },
        ),
        migrations.AddField(
            model_name='doseadministration',
            name='reason_category',
            field=models.CharField(blank=True, choices=[('adverse_event', 'Adverse event'), ('patient_decision', 'Patient decision'), ('logistics', 'Logistics'), ('other', 'Other')], help_text='Required when the dose given differs from the dose planned, or was missed.', max_length=20, verbose_name='kind of reason'),
        ),
        migrations.AddField(
            model_name='study',
            name='dlt_underdosing_for_toxicity_evaluable',
            field=models.BooleanField(default=True, help_text='A dose missed or reduced because of an adverse event does not count against the minimum exposure.', verbose_name='under-dosing for toxicity stays DLT-evaluable'),
        ),
        migrations.RunPython(categorise_existing_doses, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='doseadministration',
            constraint=models.CheckConstraint(condition=models.Q(('given_dose', models.F('planned_dose')), models.Q(('reason_category', ''), _negated=True), _connector='OR'), name='dose_change_needs_reason_category', violation_error_message='A dose reduced, increased or missed needs the kind of reason.'),
        ),
        migrations.AddConstraint(
            model_name='doseadministration',
            constraint=models.CheckConstraint(condition=models.Q(('adverse_event__isnull', True), ('reason_category', 'adverse_event'), _connector='OR'), name='dose_event_means_adverse_event_reason', violation_error_message='A dose that cites an adverse event has the reason kind adverse event.'),
        ),
        migrations.AddField(
            model_name='labtoxicityassessment',
            name='decided_by',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='labtoxicityassessment',
            name='lab_result',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='toxicity_assessment', to='ecrf.labresult'),
        ),
        migrations.AddField(
            model_name='labtoxicityassessment',
            name='signature',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ecrf.signature'),
        ),
        migrations.AddConstraint(
            model_name='labtoxicityassessment',
            constraint=models.CheckConstraint(condition=models.Q(('decision_reason', ''), _negated=True), name='lab_toxicity_decision_has_reason', violation_error_message='A decision on a lab toxicity needs a reason.'),
        ),
    ]
