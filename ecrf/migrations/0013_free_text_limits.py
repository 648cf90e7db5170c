"""Free text bounded (issue #22).

State only: a TextField's max_length and validators change no column, and letting the schema
editor "alter" them would rebuild the tables on SQLite, dropping the append-only triggers of
the audit trail and the query messages. No row is read or rewritten.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ecrf', '0012_two_factor_enrolment_token'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='adverseevent',
                    name='entered_in_error_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='adverseeventagent',
                    name='entered_in_error_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='new_value',
                    field=models.TextField(blank=True, max_length=2000, null=True, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='old_value',
                    field=models.TextField(blank=True, max_length=2000, null=True, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='reason',
                    field=models.TextField(blank=True, max_length=4000, validators=[django.core.validators.MaxLengthValidator(4000)]),
                ),
                migrations.AlterField(
                    model_name='datalock',
                    name='unlock_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='dataquery',
                    name='message',
                    field=models.TextField(max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='dataquerymessage',
                    name='text',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='dltassessment',
                    name='decision_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='doseadministration',
                    name='entered_in_error_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='labresult',
                    name='entered_in_error_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='subject',
                    name='entered_in_error_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
                migrations.AlterField(
                    model_name='visit',
                    name='entered_in_error_reason',
                    field=models.TextField(blank=True, max_length=2000, validators=[django.core.validators.MaxLengthValidator(2000)]),
                ),
            ],
        ),
    ]
