"""The audit trail of an export, read from the database in chunks.

A study's audit trail is every change to its subjects' data and to its definition: millions of
rows in a large trial, too many to hold in memory as one frame or to put into workbook cells.
`AuditTrail(study, subjects).chunks()` runs one query and yields it `chunk_size` rows at a time
as pyarrow tables (times as UTC timestamps, everything else as text, subjects by their subject
ID), in the order of the trail (time, then id); `ecrf.exports.writers.write_audit_trail` writes
them to CSV and Parquet as they come.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from ..models import (
    Agent,
    AgentSchedule,
    AuditEvent,
    DltRuleSet,
    DoseLevel,
    DoseLevelDose,
    ScheduledVisit,
    Site,
    Study,
    Subject,
)

AUDIT_CHUNK_ROWS = 50_000  # rows a chunk (a row group of the Parquet file)
AUDIT_FETCH_ROWS = 10_000  # rows taken from the driver at a time, as Python values

# Column name -> AuditEvent field, in the order of the files; `study` comes first.
AUDIT_FIELDS = {
    "at": "at",
    "actor": "actor",
    "role": "role",
    "site": "site",
    "action": "action",
    "model": "model",
    "object_id": "object_id",
    "object_repr": "object_repr",
    "subject_id": "subject_id",
    "field": "field",
    "old_value": "old_value",
    "new_value": "new_value",
    "reason": "reason",
}
AUDIT_SCHEMA = pa.schema(
    [
        ("study", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        *((name, pa.string()) for name in list(AUDIT_FIELDS)[1:]),
    ]
)


def _study_definition_ids(study: Study) -> list[str]:
    """The ids of the study's own records (definition, sites, agents...), as the audit keeps them."""
    ids = [study.pk]
    ids += Site.objects.filter(study=study).values_list("pk", flat=True)
    ids += Agent.objects.filter(study=study).values_list("pk", flat=True)
    ids += AgentSchedule.objects.filter(agent__study=study).values_list("pk", flat=True)
    ids += DoseLevel.objects.filter(study=study).values_list("pk", flat=True)
    ids += DoseLevelDose.objects.filter(dose_level__study=study).values_list("pk", flat=True)
    ids += ScheduledVisit.objects.filter(study=study).values_list("pk", flat=True)
    ids += DltRuleSet.objects.filter(study=study).values_list("pk", flat=True)
    return [str(pk) for pk in ids]


@contextmanager
def _driver_cursor(queryset: QuerySet):
    """A cursor that has run a `values_list` query, for its rows as the database driver gives
    them. The ORM's per-value converters (a datetime parsed from text on SQLite, a UUID object
    per row) are left out: the rows are converted a column at a time instead."""
    sql, params = queryset.query.sql_with_params()
    # A server-side cursor on PostgreSQL: the driver holds the rows fetched, not the result.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        yield cursor


def _raw_rows(queryset: QuerySet, chunk_size: int) -> Iterator[list[tuple]]:
    """The driver's rows of a `values_list` query, `chunk_size` at a time."""
    with _driver_cursor(queryset) as cursor:
        while rows := cursor.fetchmany(chunk_size):
            yield rows


def _timestamps(values: tuple) -> pa.Array:
    """UTC timestamps from what the driver gives: aware datetimes (PostgreSQL) or ISO text in
    UTC (SQLite)."""
    array = pa.array(values)
    if pa.types.is_timestamp(array.type):
        return array.cast(pa.timestamp("us", tz="UTC"))
    return array.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))


@dataclass(frozen=True)
class AuditTrail:
    """The audit trail of a study (of `subjects` only, when given: a user's visible subjects;
    the study definition's own events stay in)."""

    study: Study
    subjects: QuerySet | None = None
    chunk_size: int = AUDIT_CHUNK_ROWS

    def __post_init__(self):
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size: must be at least 1, not {self.chunk_size}.")

    def _subjects(self) -> QuerySet:
        subjects = Subject.objects.filter(study=self.study)
        if self.subjects is not None:
            subjects = subjects.filter(pk__in=self.subjects)
        return subjects

    def queryset(self) -> QuerySet:
        condition = Q(subject_id__in=self._subjects().values("pk")) | Q(
            subject_id__isnull=True, object_id__in=_study_definition_ids(self.study)
        )
        return AuditEvent.objects.filter(condition).order_by("at", "id")

    @property
    def schema(self) -> pa.Schema:
        return AUDIT_SCHEMA

    def count(self) -> int:
        return self.queryset().count()

    def chunks(self) -> Iterator[pa.Table]:
        """Tables of AUDIT_SCHEMA, at most `chunk_size` rows each, in the trail's order."""
        # The subjects' primary keys read the same raw way as the trail's subject_id column,
        # so that they compare equal whatever the database's type for a UUID.
        codes = dict(
            row
            for rows in _raw_rows(self._subjects().values_list("pk", "subject_code"), 10_000)
            for row in rows
        )
        fields = list(AUDIT_FIELDS.values())
        if connection.vendor == "sqlite":
            # SQLite keeps times as text, and its driver would parse each into a datetime
            # (the converter of the column's declared type); as text, pyarrow parses a column
            # at a time (_timestamps).
            fields[0] = Cast("at", TextField())
        with _driver_cursor(self.queryset().values_list(*fields)) as cursor:
            while True:
                # A chunk is fetched AUDIT_FETCH_ROWS rows at a time, each part turned into
                # columns before the next is fetched: Python values of one part at a time.
                parts = []
                wanted = self.chunk_size
                while wanted and (rows := cursor.fetchmany(min(wanted, AUDIT_FETCH_ROWS))):
                    parts.append(self._columns(rows, codes))
                    wanted -= len(rows)
                    del rows
                if not parts:
                    return
                chunk = pa.Table.from_batches(parts).combine_chunks()
                del parts
                yield chunk
                del chunk  # before the next chunk is fetched

    def _columns(self, rows: list[tuple], codes: dict) -> pa.RecordBatch:
        """Rows of the driver as a batch of AUDIT_SCHEMA."""
        columns = dict(zip(AUDIT_FIELDS, zip(*rows, strict=True), strict=True))
        arrays = {"study": pa.array([self.study.code] * len(rows), type=pa.string())}
        arrays["at"] = _timestamps(columns["at"])
        for name, values in columns.items():
            if name == "subject_id":
                values = [codes.get(value) for value in values]
            if name != "at":
                arrays[name] = pa.array(values, type=pa.string())
        return pa.record_batch(arrays, schema=AUDIT_SCHEMA)

    def frame(self) -> pd.DataFrame:
        """The whole trail as one frame (times as UTC timestamps): for small studies and for
        comparisons; an export writes the chunks instead."""
        tables = list(self.chunks())
        table = pa.concat_tables(tables) if tables else AUDIT_SCHEMA.empty_table()
        return table.to_pandas()
