"""Give the application's PostgreSQL role exactly its rights: no DELETE, TRUNCATE or DDL on data.

    manage.py db_roles --owner ecrf_owner --app ecrf_app           # apply, connected as the owner
    manage.py db_roles --owner ecrf_owner --app ecrf_app --print   # only print the SQL

Run it after every `migrate` (both as the owner): the grants are built from the installed models,
so a table a migration adds gets its rights then. See ecrf/database_roles.py for the rules.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from ecrf.database_roles import role_sql

NOT_POSTGRESQL = (
    "Database roles are PostgreSQL's; this database is {vendor}. Use --print to see the SQL."
)
SAME_ROLE = (
    "The application role must not be the owner: an owner can alter and truncate its tables."
)
UNAPPLIED = "Run `manage.py migrate` first: {count} migration(s) are not applied yet."
NO_SUCH_ROLE = "Role {role!r} does not exist: create it first (CREATE ROLE {role} LOGIN)."
APP_IS_SUPERUSER = "Role {role!r} is a superuser, which no grant can restrict."
APP_IN_OWNER = "Role {app!r} is a member of {owner!r} and so holds the owner's rights."
NOT_OWNER = "Connected as {user!r}: run this as {owner!r} (or a superuser)."
FOREIGN_TABLES = (
    "Not owned by {owner!r}: {tables}. Run migrate as {owner!r} (or ALTER ... OWNER TO)."
)


class Command(BaseCommand):
    help = "Grant the application role its rights on the eCRF tables (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--owner", required=True, help="role that owns the tables, runs migrate"
        )
        parser.add_argument("--app", required=True, help="role the application connects as")
        parser.add_argument("--schema", default="public")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias")
        parser.add_argument(
            "--print", action="store_true", dest="print_only", help="print the SQL, apply nothing"
        )

    def handle(self, *, owner, app, schema, database, print_only, **options):
        if owner == app:
            raise CommandError(SAME_ROLE)
        connection = connections[database]
        sql = role_sql(
            owner=owner, app=app, database=connection.settings_dict["NAME"], schema=schema
        )
        if print_only:
            self.stdout.write("\n".join(["BEGIN;", *sql, "COMMIT;"]))
            return
        if connection.vendor != "postgresql":
            raise CommandError(NOT_POSTGRESQL.format(vendor=connection.vendor))
        self._check(connection, owner=owner, app=app, schema=schema)
        with transaction.atomic(using=database), connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)
        self.stdout.write(f"Role {app} granted its rights; {owner} owns the tables.")

    def _check(self, connection, *, owner, app, schema):
        """Refuse a setup that would leave the application role able to erase data."""
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            raise CommandError(UNAPPLIED.format(count=len(pending)))
        with connection.cursor() as cursor:
            for role in (owner, app):
                cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
                row = cursor.fetchone()
                if row is None:
                    raise CommandError(NO_SUCH_ROLE.format(role=role))
                if role == app and row[0]:
                    raise CommandError(APP_IS_SUPERUSER.format(role=app))
            cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [app, owner])
            if cursor.fetchone()[0]:
                raise CommandError(APP_IN_OWNER.format(app=app, owner=owner))
            cursor.execute(
                "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            user, superuser = cursor.fetchone()
            if user != owner and not superuser:
                raise CommandError(NOT_OWNER.format(user=user, owner=owner))
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tableowner <> %s "
                "ORDER BY tablename",
                [schema, owner],
            )
            foreign = [table for (table,) in cursor.fetchall()]
            if foreign:
                raise CommandError(FOREIGN_TABLES.format(owner=owner, tables=", ".join(foreign)))
