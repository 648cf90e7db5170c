"""Database expressions the loaders share."""

from __future__ import annotations

from django.db.models import DateField, Func


class AddDays(Func):
    """A date column plus a whole number of days, computed by the database itself.

    Django's own ``F("date") + timedelta`` runs a Python function for every row on SQLite,
    which costs more than reading the row; SQLite's ``date()`` and PostgreSQL's date + integer
    do not. `days` is an int known to the caller (a study setting), written into the SQL.
    """

    output_field = DateField()

    def __init__(self, expression, days: int):
        if not isinstance(days, int):
            raise TypeError(f"days must be an int, not {days!r}")
        self.days = days
        super().__init__(expression)

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} + {self.days:d})", params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, '{self.days:+d} days')", params
