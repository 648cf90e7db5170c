"""Reads kept in this process while the data they read stay the same, and for today only.

The pages shown on every visit (the home pages, the DLT dashboard) summarise a whole study: the
DLT overview, the visits and casebooks awaiting signature, the lab results awaiting
reconciliation. Recomputing them costs time that grows with the study; while nothing changed
they are the same. `kept` returns what it computed last for the same read and scope when the
data mark and the day are unchanged, and computes afresh otherwise.

The data mark (`data_mark`) moves with every committed change to clinical data or to a study's
definition, and with every signature:
- Every such change writes audit events (`ecrf.services.records`), whose ids only grow. The
  mark holds the newest id, and how many of the newest MARK_WINDOW ids exist: on PostgreSQL a
  transaction can commit after another that took later ids, and its events then change the
  count though not the newest id. (Events committed more than MARK_WINDOW ids behind the
  newest would be seen only with the next change; a page's save writes its events within
  milliseconds of its commit.)
- Signatures write no audit event (a signature is its own record, append-only): the mark
  holds their number.
Inside a transaction nothing is kept or reused: the mark could be of changes rolled back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.db import connection
from django.utils import timezone

from ..models import AuditEvent, Signature

T = TypeVar("T")

MARK_WINDOW = 1000
# Reads kept at most (the oldest used is dropped first): one per read and scope.
MAX_KEPT = 64

_KEPT: OrderedDict[tuple, tuple[tuple, object]] = OrderedDict()
_LOCK = threading.Lock()


def data_mark() -> tuple[int, int, int]:
    """(newest audit event id, how many of the MARK_WINDOW newest ids exist, signatures), in
    one query."""
    # The table names are the models' own, quoted: nothing in the statement comes from input.
    audit = connection.ops.quote_name(AuditEvent._meta.db_table)
    signatures = connection.ops.quote_name(Signature._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {audit}),"  # noqa: S608
            f" (SELECT COUNT(*) FROM {audit} WHERE id > (SELECT MAX(id) FROM {audit}) - %s),"
            f" (SELECT COUNT(*) FROM {signatures})",
            [MARK_WINDOW],
        )
        newest, recent, signed = cursor.fetchone()
    return newest or 0, recent, signed


def _mark() -> tuple:
    return data_mark(), timezone.localdate()


def kept(read: str, scope: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, or what it returned last for the same `read` and `scope` while the data mark
    and today's date have not changed since. The value is shared between requests: callers must
    not change it (copy it first), and what it holds must follow from the data and the scope
    alone, the same for every user the scope is."""
    if connection.in_atomic_block:
        return compute()
    # The mark is read before computing: a change committed in between is then in the value
    # under an older mark, and the next call computes it again.
    mark = _mark()
    key = (read, scope)
    with _LOCK:
        found = _KEPT.get(key)
        if found is not None and found[0] == mark:
            _KEPT.move_to_end(key)
            return found[1]
    value = compute()
    with _LOCK:
        _KEPT[key] = (mark, value)
        _KEPT.move_to_end(key)
        while len(_KEPT) > MAX_KEPT:
            _KEPT.popitem(last=False)
    return value


def kept_already(read: str, scope: Hashable):
    """What `kept` holds for the read and scope while the data mark and the day still hold, or
    None (and always None inside a transaction); computes nothing."""
    if connection.in_atomic_block:
        return None
    with _LOCK:
        found = _KEPT.get((read, scope))
    if found is None or found[0] != _mark():
        return None
    return found[1]
