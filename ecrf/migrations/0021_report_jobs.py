"""The record of a file a user asked for (safety summary, casebook, export) and its job."""

import django.core.validators
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ecrf', '0020_adverse_event_awareness'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportJob',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('safety_summary', 'Safety summary (PDF)'), ('casebook', 'Casebook (PDF)'), ('export', 'Export')], max_length=20)),
                ('fmt', models.CharField(blank=True, help_text='Export format (exports only).', max_length=10)),
                ('cutoff', models.DateField(blank=True, help_text='Safety summary only.', null=True)),
                ('generated_by', models.CharField(help_text='Who the file says made it.', max_length=300)),
                ('task_id', models.CharField(blank=True, max_length=64)),
                ('status', models.CharField(choices=[('queued', 'Waiting for a worker'), ('running', 'Running'), ('done', 'Ready'), ('failed', 'Failed'), ('expired', 'Expired')], default='queued', max_length=10)),
                ('step', models.CharField(blank=True, help_text='What the job is doing now.', max_length=200)),
                ('percent', models.PositiveSmallIntegerField(default=0)),
                ('created_at', models.DateTimeField()),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('file_path', models.CharField(blank=True, help_text='Name of the finished file in REPORTS_DIR.', max_length=200)),
                ('file_name', models.CharField(blank=True, help_text='Download name.', max_length=200)),
                ('content_type', models.CharField(blank=True, max_length=100)),
                ('file_size', models.PositiveBigIntegerField(blank=True, null=True)),
                ('error', models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)])),
                ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='report_jobs', to=settings.AUTH_USER_MODEL)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ecrf.study')),
                ('subject', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ecrf.subject')),
            ],
            options={
                'ordering': ['-created_at'],
                'indexes': [models.Index(fields=['requested_by', '-created_at'], name='report_job_user_idx'), models.Index(fields=['status', 'lease_until'], name='report_job_status_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('percent__lte', 100)), name='report_job_percent'), models.CheckConstraint(condition=models.Q(models.Q(('file_path__gt', ''), ('status', 'done')), models.Q(models.Q(('status', 'done'), _negated=True), ('file_path', '')), _connector='OR'), name='report_job_file_iff_done'), models.CheckConstraint(condition=models.Q(models.Q(('kind', 'casebook'), ('subject__isnull', False)), models.Q(models.Q(('kind', 'casebook'), _negated=True), ('subject__isnull', True)), _connector='OR'), name='report_job_subject_iff_casebook'), models.CheckConstraint(condition=models.Q(models.Q(('fmt__gt', ''), ('kind', 'export')), models.Q(models.Q(('kind', 'export'), _negated=True), ('fmt', '')), _connector='OR'), name='report_job_fmt_iff_export'), models.CheckConstraint(condition=models.Q(models.Q(('cutoff__isnull', False), ('kind', 'safety_summary')), models.Q(models.Q(('kind', 'safety_summary'), _negated=True), ('cutoff__isnull', True)), _connector='OR'), name='report_job_cutoff_iff_safety')],
            },
        ),
    ]
