"""The subject casebook: every CRF record of one subject and its audit trail, as a PDF.

The human-readable copy of a subject's record for archiving and inspection: the subject header,
visits, doses, adverse events with attribution and action per agent, lab results with their
CTCAE grades, DLT decisions with their electronic signatures, the records marked entered in
error, then the complete audit trail, each in chronological order. Every domain is read with
one query; the cover page carries a SHA-256 over the data as loaded, in a canonical order, so
that two copies can be compared without reading them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, BinaryIO

from django.db import models
from django.db.models.functions import Coalesce
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer, Table, TableStyle

from ..models import (
    SERIOUSNESS_CRITERIA,
    ActionTaken,
    AdverseEvent,
    AdverseEventAgent,
    Attribution,
    AuditEvent,
    DltAssessment,
    DltDecision,
    DltStatus,
    LabTest,
    Outcome,
    Role,
    Sex,
    Signature,
    Subject,
    SubjectStatus,
    VisitKind,
    VisitStatus,
)
from ..services.dlt import MEANING_CONFIRM, MEANING_DECLARE, MEANING_RULE_OUT
from . import pdf

TITLE = "Subject casebook"
# Printed where the audit trail would be, for a reader whose role does not read it.
AUDIT_NOT_INCLUDED = "Audit trail: not included for your role"
HASH_NOTE = (
    "SHA-256 over the subject's data exactly as loaded for this document (subject, visits, "
    "doses, adverse events, attributions, lab results, DLT assessments, signatures and audit "
    "trail, each in the order printed, as canonical JSON). The same data always gives the "
    "same hash; any change to it gives another."
)
ENTERED_IN_ERROR = "ENTERED IN ERROR"
# A Table measures all of its remaining rows again each time it is split across a page, which
# is quadratic in the rows; longer tables are laid out from chunks a little longer than a page.
LONG_TABLE_ROWS = 100
FIRST_CHUNK_ROWS = 50

_SUBJECT_FIELDS = (
    "id", "study__code", "study__title", "study__ctcae_version", "site__code", "site__name",
    "subject_code", "sex", "birth_year", "status", "consent_on", "eligibility_confirmed_on",
    "enrolled_on", "dose_level__level", "dose_level__label", "first_dose_on", "off_study_on",
    "off_study_reason", "entered_in_error", "entered_in_error_reason", "version",
)  # fmt: skip
_VISIT_FIELDS = (
    "id", "label", "kind", "cycle", "day", "planned_on", "window_before", "window_after",
    "status", "done_on", "missed_reason", "entered_in_error", "entered_in_error_reason",
    "version",
)  # fmt: skip
_DOSE_FIELDS = (
    "id", "given_on", "agent__code", "agent__name", "cycle", "day", "planned_dose",
    "given_dose", "unit", "reason", "adverse_event_id", "visit__label", "entered_in_error",
    "entered_in_error_reason", "version",
)  # fmt: skip
_AE_FIELDS = (
    "id", "ctcae_version", "ctcae_term", "meddra_code", "soc", "verbatim", "grade", "onset_on",
    "resolved_on", "serious", *SERIOUSNESS_CRITERIA, "outcome", "death_on",
    "dlt_assessment__status", "entered_in_error", "entered_in_error_reason", "version",
)  # fmt: skip
_ATTRIBUTION_FIELDS = (
    "id", "adverse_event_id", "agent__code", "attribution", "action_taken", "entered_in_error",
    "entered_in_error_reason", "version",
)  # fmt: skip
_LAB_FIELDS = (
    "id", "collected_at", "test_code", "value", "unit", "lln", "uln", "ctcae_version",
    "ctcae_term", "ctcae_grade", "visit__label", "entered_in_error", "entered_in_error_reason",
    "version",
)  # fmt: skip
_DLT_FIELDS = (
    "id", "adverse_event_id", "rule_flag", "rule", "rule_reason", "onset_day", "decision",
    "decision_reason", "decided_by__username", "decided_at", "signature_id", "needs_review",
    "status", "version",
)  # fmt: skip
_SIGNATURE_FIELDS = (
    "id", "object_id", "signer__username", "printed_name", "role", "signed_at", "meaning",
    "content_hash",
)  # fmt: skip
_AUDIT_FIELDS = (
    "id", "at", "actor", "role", "site", "action", "model", "object_id", "object_repr", "field",
    "old_value", "new_value", "reason",
)  # fmt: skip

_MEANING_DECISION = {
    MEANING_CONFIRM: DltDecision.CONFIRMED,
    MEANING_DECLARE: DltDecision.CONFIRMED,
    MEANING_RULE_OUT: DltDecision.RULED_OUT,
}
_SERIOUSNESS_LABELS = {
    name: str(AdverseEvent._meta.get_field(name).verbose_name) for name in SERIOUSNESS_CRITERIA
}


@dataclass(frozen=True)
class Casebook:
    """The data of one subject as plain rows, one list per domain, in the order printed."""

    subject: dict
    visits: list[dict]
    doses: list[dict]
    adverse_events: list[dict]
    attributions: list[dict]
    labs: list[dict]
    dlt_assessments: list[dict]
    signatures: list[dict]
    # The audit trail; without it (a reader whose role does not read the trail), only the
    # entries marking records entered in error, which the clinical record shows.
    audit: list[dict]
    audit_included: bool = True

    @functools.cached_property
    def data_hash(self) -> str:
        """SHA-256 of the canonical JSON of every domain, in the fixed order of the fields."""
        content = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "audit_included"
        }
        encoded = json.dumps(content, default=_canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """The one text of a value whatever the database: numbers normalised, times in UTC."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no canonical form")


def _rows(queryset: models.QuerySet, names: Sequence[str]) -> list[dict]:
    return list(queryset.values(*names))


def casebook_load(subject: Subject, *, include_audit: bool = True) -> Casebook:
    """Read everything recorded for `subject`: one query per domain, whatever the row counts.

    Without `include_audit` (for a reader not holding Action.READ_AUDIT) the audit trail is
    left out but for the entries that mark records entered in error.
    """
    trail = AuditEvent.objects.filter(subject_id=subject.pk)
    if not include_audit:
        trail = trail.filter(field="entered_in_error")
    subject_row = _rows(Subject.objects.filter(pk=subject.pk), _SUBJECT_FIELDS)[0]
    assessments = _rows(
        DltAssessment.objects.filter(adverse_event__subject=subject).order_by(
            "adverse_event__onset_on", "adverse_event__ctcae_term", "adverse_event__created_at",
            "adverse_event_id",
        ),
        _DLT_FIELDS,
    )  # fmt: skip
    return Casebook(
        subject=subject_row,
        visits=_rows(
            subject.visits.order_by(
                Coalesce("planned_on", "done_on").asc(nulls_last=True), "label", "id"
            ),
            _VISIT_FIELDS,
        ),
        doses=_rows(
            subject.doses.order_by("given_on", "agent__code", "created_at", "id"), _DOSE_FIELDS
        ),
        adverse_events=_rows(
            subject.adverse_events.order_by("onset_on", "ctcae_term", "created_at", "id"),
            _AE_FIELDS,
        ),
        attributions=_rows(
            AdverseEventAgent.objects.filter(adverse_event__subject=subject).order_by(
                "adverse_event_id", "agent__code", "id"
            ),
            _ATTRIBUTION_FIELDS,
        ),
        labs=_rows(
            subject.lab_results.order_by("collected_at", "test_code", "created_at", "id"),
            _LAB_FIELDS,
        ),
        dlt_assessments=assessments,
        signatures=_rows(
            Signature.objects.filter(
                model=DltAssessment._meta.label,
                object_id__in=[str(row["id"]) for row in assessments],
            ).order_by("signed_at", "id"),
            _SIGNATURE_FIELDS,
        ),
        audit=_rows(trail.order_by("at", "id"), _AUDIT_FIELDS),
        audit_included=include_audit,
    )


# Display: the text of each cell, printed literally by `data_table`.


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _utc(value: dt.datetime | None) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}" if value else ""


def _number(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _label(choices: type[models.TextChoices], value: str | None) -> str:
    """A choice's label; a value the choices do not know (older data) prints as it is."""
    if not value:
        return ""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _in_error(row: dict) -> str:
    if not row["entered_in_error"]:
        return ""
    return f"{ENTERED_IN_ERROR}: {row['entered_in_error_reason']}"


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def ae_numbers(casebook: Casebook) -> dict[uuid.UUID, str]:
    """AE1, AE2... by onset, so that doses and DLT decisions can point to their event."""
    return {row["id"]: f"AE{n}" for n, row in enumerate(casebook.adverse_events, start=1)}


def _subject_rows(s: dict) -> list[tuple[str, str]]:
    dose_level = f"DL{s['dose_level__level']} {s['dose_level__label']}" if s[
        "dose_level__level"
    ] is not None else ""  # fmt: skip
    rows = [
        ("Study", f"{s['study__code']}: {s['study__title']}"),
        ("Site", f"{s['site__code']} {s['site__name']}"),
        ("Subject ID", s["subject_code"]),
        ("Sex", _label(Sex, s["sex"])),
        ("Birth year", "" if s["birth_year"] is None else str(s["birth_year"])),
        ("Status", _label(SubjectStatus, s["status"])),
        ("Informed consent", _date(s["consent_on"])),
        ("Eligibility confirmed", _date(s["eligibility_confirmed_on"])),
        ("Enrolled", _date(s["enrolled_on"])),
        ("Dose level", dose_level),
        ("First dose", _date(s["first_dose_on"])),
        ("Off study", _date(s["off_study_on"])),
        ("Off-study reason", s["off_study_reason"]),
        ("CTCAE version", s["study__ctcae_version"]),
    ]
    if s["entered_in_error"]:
        rows.append(("Record", _in_error(s)))
    return rows


def _visit_rows(casebook: Casebook) -> list[list[str]]:
    rows = []
    for v in casebook.visits:
        planned = v["planned_on"]
        window = f"-{v['window_before']}/+{v['window_after']} d"
        if planned:
            opens = planned - dt.timedelta(days=v["window_before"])
            closes = planned + dt.timedelta(days=v["window_after"])
            window += f" ({opens.isoformat()} to {closes.isoformat()})"
        status = _label(VisitStatus, v["status"])
        if v["missed_reason"]:
            status += f": {v['missed_reason']}"
        rows.append([v["label"], _label(VisitKind, v["kind"]), _date(planned), window, status,
                     _date(v["done_on"]), _in_error(v)])  # fmt: skip
    return rows


def _dose_rows(casebook: Casebook, numbers: dict) -> list[list[str]]:
    terms = {row["id"]: row["ctcae_term"] for row in casebook.adverse_events}
    rows = []
    for d in casebook.doses:
        reason = d["reason"]
        if d["adverse_event_id"]:
            event = d["adverse_event_id"]
            reason = f"{reason} (adverse event {numbers.get(event, '')} {terms.get(event, '')})"
        rows.append([_date(d["given_on"]), f"{d['agent__code']} {d['agent__name']}",
                     f"C{d['cycle']} D{d['day']}", d["visit__label"] or "",
                     _number(d["planned_dose"]), _number(d["given_dose"]), d["unit"], reason,
                     _in_error(d)])  # fmt: skip
    return rows


def _attribution_text(rows: list[dict]) -> str:
    parts = []
    for a in rows:
        part = (
            f"{a['agent__code']}: {_label(Attribution, a['attribution'])}, "
            f"{_label(ActionTaken, a['action_taken']).lower()}"
        )
        if a["entered_in_error"]:
            part += f" ({_in_error(a)})"
        parts.append(part)
    return "; ".join(parts)


def _ae_rows(casebook: Casebook, numbers: dict) -> list[list[str]]:
    by_event = defaultdict(list)
    for row in casebook.attributions:
        by_event[row["adverse_event_id"]].append(row)
    rows = []
    for e in casebook.adverse_events:
        serious = "No"
        if e["serious"]:
            criteria = [label for name, label in _SERIOUSNESS_LABELS.items() if e[name]]
            serious = "Yes: " + "; ".join(criteria)
        outcome = _label(Outcome, e["outcome"])
        if e["death_on"]:
            outcome += f", died {_date(e['death_on'])}"
        term = e["ctcae_term"] + (f" ({e['meddra_code']})" if e["meddra_code"] else "")
        rows.append([numbers[e["id"]], term, e["verbatim"], e["soc"], str(e["grade"]),
                     _date(e["onset_on"]), _date(e["resolved_on"]) or "ongoing", serious,
                     outcome, _attribution_text(by_event[e["id"]]),
                     _label(DltStatus, e["dlt_assessment__status"]), _in_error(e)])  # fmt: skip
    return rows


def _lab_rows(casebook: Casebook) -> list[list[str]]:
    return [
        [_utc(r["collected_at"]), f"{r['test_code']} {_label(LabTest, r['test_code'])}",
         r["visit__label"] or "", _number(r["value"]), r["unit"], _number(r["lln"]),
         _number(r["uln"]), r["ctcae_term"],
         "" if r["ctcae_grade"] is None else str(r["ctcae_grade"]), _in_error(r)]
        for r in casebook.labs
    ]  # fmt: skip


def _dlt_rows(casebook: Casebook, numbers: dict) -> list[list[str]]:
    events = {row["id"]: row for row in casebook.adverse_events}
    rows = []
    for a in casebook.dlt_assessments:
        event = events[a["adverse_event_id"]]
        flag = f"{_yes_no(a['rule_flag'])} ({a['rule']}): {a['rule_reason']}"
        rows.append([numbers[a["adverse_event_id"]],
                     f"{event['ctcae_term']} grade {event['grade']}, onset {_date(event['onset_on'])}"
                     + ("" if a["onset_day"] is None else f" (day {a['onset_day']})"),
                     flag, _label(DltStatus, a["status"]), _label(DltDecision, a["decision"]),
                     a["decision_reason"], a["decided_by__username"] or "", _utc(a["decided_at"]),
                     "Yes" if a["needs_review"] else ""])  # fmt: skip
    return rows


def _signature_rows(casebook: Casebook, numbers: dict) -> list[list[str]]:
    assessments = {str(row["id"]): row for row in casebook.dlt_assessments}
    rows = []
    for s in casebook.signatures:
        assessment = assessments[s["object_id"]]
        decision = _label(DltDecision, _MEANING_DECISION.get(s["meaning"], ""))
        if s["id"] != assessment["signature_id"]:
            decision += " (superseded by a later signed decision)"
        rows.append([numbers[assessment["adverse_event_id"]], _utc(s["signed_at"]),
                     s["signer__username"], s["printed_name"], _label(Role, s["role"]),
                     s["meaning"], decision, s["content_hash"]])  # fmt: skip
    return rows


def _marked_in_error_rows(casebook: Casebook, numbers: dict) -> list[list[str]]:
    """Every record marked entered in error, with who marked it and when (from the trail)."""
    marked = {
        event["object_id"]: event
        for event in casebook.audit
        if event["field"] == "entered_in_error" and event["new_value"] == "True"
    }
    events = {row["id"]: row for row in casebook.adverse_events}
    found: list[tuple[str, str, dict]] = []
    s = casebook.subject
    if s["entered_in_error"]:
        found.append(("Subject", s["subject_code"], s))
    for v in casebook.visits:
        found.append(("Visit", f"{v['label']} planned {_date(v['planned_on'])}", v))
    for d in casebook.doses:
        found.append(("Dose", f"{d['agent__code']} {_number(d['given_dose'])} {d['unit']} on "
                      f"{_date(d['given_on'])}", d))  # fmt: skip
    for e in casebook.adverse_events:
        found.append(("Adverse event", f"{numbers[e['id']]} {e['ctcae_term']} grade {e['grade']}, "
                      f"onset {_date(e['onset_on'])}", e))  # fmt: skip
    for a in casebook.attributions:
        event = events.get(a["adverse_event_id"])
        found.append(("Attribution", f"{numbers.get(a['adverse_event_id'], '')} "
                      f"{event['ctcae_term'] if event else ''}: {a['agent__code']}", a))  # fmt: skip
    for r in casebook.labs:
        found.append(("Lab result", f"{r['test_code']} {_number(r['value'])} {r['unit']} at "
                      f"{_utc(r['collected_at'])}", r))  # fmt: skip
    rows = []
    for kind, description, row in found:
        if not row["entered_in_error"]:
            continue
        event = marked.get(str(row["id"]))
        rows.append([kind, description, row["entered_in_error_reason"],
                     event["actor"] if event else "", _utc(event["at"]) if event else ""])  # fmt: skip
    return rows


def _audit_value(value: str | None) -> str:
    # NULL is "no value" (a field set for the first time); an empty text is shown as such.
    if value is None:
        return ""
    return value if value != "" else "(empty)"


def _audit_rows(casebook: Casebook) -> list[list[str]]:
    return [
        [_utc(a["at"]), a["actor"], _label(Role, a["role"]), a["action"],
         f"{a['model'].rsplit('.', 1)[-1]} {a['object_repr']}", a["field"],
         _audit_value(a["old_value"]), _audit_value(a["new_value"]), a["reason"]]
        for a in casebook.audit
    ]  # fmt: skip


# Layout.

# Cells are padded by reportlab's default 6 points on each side.
_CELL_PADDING = 12


def data_table(
    rows: Sequence[Sequence[object]], header: Sequence[object], widths: Sequence[float]
) -> Table:
    """`pdf.table`'s look, for tens of thousands of cells (a subject's audit trail).

    The body cells are plain strings broken into lines here: reportlab draws a string cell
    literally (it is never parsed as markup, so it needs no escaping) and lays it out some
    twenty times faster than a paragraph.
    """
    cell = pdf.STYLES["cell"]
    font, size = cell.fontName, cell.fontSize
    data = [[pdf.paragraph(name, "head") for name in header]]
    data += [
        [pdf.cell_lines("" if text is None else str(text), width - _CELL_PADDING, font, size)
         for text, width in zip(row, widths, strict=True)]
        for row in rows
    ]  # fmt: skip
    result = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    result.setStyle(
        TableStyle(
            [
                *pdf.grid_style(),
                ("FONT", (0, 1), (-1, -1), font, size, cell.leading),
            ]
        )
    )
    return result


class _LongTable(Flowable):
    """A table of many rows, laid out a page at a time.

    Each page measures a chunk of rows a little longer than the previous page took, keeps
    what fits and leaves the rest to the next page, so the work is linear in the rows. The
    header row is repeated on every page, as with `pdf.table`.
    """

    def __init__(self, rows: Sequence[Sequence[object]], header: Sequence[object], widths,
                 chunk: int = FIRST_CHUNK_ROWS):  # fmt: skip
        super().__init__()
        self._rows, self._header, self._widths, self._chunk = rows, header, widths, chunk
        self._tables: dict[int, Table] = {}

    def wrap(self, availWidth, availHeight):  # reportlab's names
        # Claim more than the frame has, so that the frame asks for a split.
        return availWidth, availHeight + 1

    def _table(self, chunk: int) -> Table:
        # Kept: a frame too short for any row asks again on the next page.
        if chunk not in self._tables:
            self._tables[chunk] = data_table(self._rows[:chunk], self._header, self._widths)
        return self._tables[chunk]

    def split(self, availWidth, availHeight):  # reportlab's names
        chunk = self._chunk
        while True:
            table = self._table(chunk)
            parts = table.split(availWidth, availHeight)
            if parts != [table] or chunk >= len(self._rows):
                break
            chunk *= 2  # the whole chunk fits: the page can take more rows
        if not parts:
            return []
        taken = parts[0]._nrows - 1  # the rows besides the header
        if taken <= 0:
            return []
        rest = self._rows[taken:]
        if not rest:
            return [parts[0]]
        return [
            parts[0],
            long_table(rest, self._header, self._widths, chunk=taken + taken // 4 + 5),
        ]

    def draw(self):  # pragma: no cover - `wrap` makes every frame split the table
        raise AssertionError("A long table is always split.")


def long_table(
    rows: Sequence[Sequence[object]],
    header: Sequence[object],
    widths: Sequence[float],
    *,
    chunk: int = FIRST_CHUNK_ROWS,
) -> Flowable:
    """`data_table` for any number of rows, laid out in time linear in the rows."""
    if len(rows) <= LONG_TABLE_ROWS:
        return data_table(rows, header, widths)
    return _LongTable(rows, header, widths, chunk)


def _widths(orientation: str, *parts: float) -> list[float]:
    """Column widths as shares of the usable width of a page of `orientation` (the shares are
    millimetres on A4, where they add up to the usable width)."""
    total = sum(parts)
    usable = pdf.usable_width(orientation)
    return [usable * part / total for part in parts]


def _section(title: str, rows: list, header: Sequence[str], widths: list[float], empty: str):
    story: list[Flowable] = [pdf.heading(title, 2)]
    story.append(long_table(rows, header, widths) if rows else pdf.paragraph(empty))
    story.append(Spacer(1, 4 * mm))
    return story


def casebook_story(
    casebook: Casebook, *, generated_at: dt.datetime, generated_by: str
) -> list[Flowable]:
    """The flowables of the casebook: cover and header, then each domain, then the trail."""
    s = casebook.subject
    numbers = ae_numbers(casebook)
    portrait, landscape = pdf.PORTRAIT, pdf.LANDSCAPE
    story: list[Flowable] = [
        pdf.heading(f"{TITLE} {s['subject_code']}"),
        pdf.paragraph(f"{s['study__code']}: {s['study__title']}"),
        Spacer(1, 3 * mm),
        pdf.table(
            [
                ("Generated at (UTC)", _utc(generated_at)),
                ("Generated by", generated_by),
                ("Data hash (SHA-256)", casebook.data_hash),
                (
                    "Records",
                    f"{len(casebook.visits)} visits, {len(casebook.doses)} doses, "
                    f"{len(casebook.adverse_events)} adverse events, "
                    f"{len(casebook.labs)} lab results, "
                    f"{len(casebook.signatures)} signatures"
                    + (
                        f", {len(casebook.audit)} audit trail entries"
                        if casebook.audit_included
                        else "; audit trail not included for your role"
                    ),
                ),
            ],
            ("Document", ""),
            col_widths=_widths(portrait, 1, 3),
        ),
        pdf.paragraph(HASH_NOTE, "cell"),
        Spacer(1, 4 * mm),
    ]
    if s["entered_in_error"]:
        story.append(pdf.paragraph(f"This subject is {_in_error(s)}"))
    story += [
        pdf.heading("Subject", 2),
        pdf.table(_subject_rows(s), ("Item", "Value"), col_widths=_widths(portrait, 1, 3)),
        Spacer(1, 4 * mm),
    ]
    story += _section(
        "Visits", _visit_rows(casebook),
        ("Visit", "Kind", "Planned", "Window", "Status", "Date done", "Entered in error"),
        _widths(portrait, 18, 22, 20, 44, 30, 20, 26), "No visits recorded.",
    )  # fmt: skip
    story += _section(
        "Study drug administration", _dose_rows(casebook, numbers),
        ("Date", "Agent", "Cycle / day", "Visit", "Planned", "Given", "Unit",
         "Reason for a dose other than planned", "Entered in error"),
        _widths(portrait, 20, 24, 15, 14, 17, 13, 11, 38, 28), "No doses recorded.",
    )  # fmt: skip
    story += pdf.landscape_pages()
    story += _section(
        "Adverse events (CTCAE)", _ae_rows(casebook, numbers),
        ("#", "CTCAE term (MedDRA)", "Verbatim", "System organ class", "Grade", "Onset",
         "Resolved", "Serious (criteria)", "Outcome", "Attribution and action per agent",
         "DLT status", "Entered in error"),
        _widths(landscape, 14, 30, 26, 26, 14, 20, 20, 24, 22, 36, 17, 18),
        "No adverse events recorded.",
    )  # fmt: skip
    story += _section(
        "Lab results and CTCAE grades", _lab_rows(casebook),
        ("Collected at (UTC)", "Test", "Visit", "Value", "Unit", "LLN", "ULN", "CTCAE term",
         "Grade", "Entered in error"),
        _widths(landscape, 31, 40, 16, 16, 16, 14, 14, 50, 14, 56), "No lab results recorded.",
    )  # fmt: skip
    story += _section(
        "DLT assessments and investigator decisions", _dlt_rows(casebook, numbers),
        ("#", "Adverse event", "Flagged by the rules", "Status", "Decision", "Reason for the "
         "decision", "Decided by", "Decided at (UTC)", "Needs review"),
        _widths(landscape, 14, 40, 60, 22, 22, 40, 20, 31, 18), "No DLT assessments.",
    )  # fmt: skip
    story += _section(
        "Electronic signatures", _signature_rows(casebook, numbers),
        ("#", "Signed at (UTC)", "Signer", "Printed name", "Role", "Meaning", "Decision",
         "Hash of the data signed (SHA-256)"),
        _widths(landscape, 14, 31, 20, 30, 22, 60, 30, 60), "No signatures.",
    )  # fmt: skip
    story += _section(
        "Records marked entered in error", _marked_in_error_rows(casebook, numbers),
        ("Record", "Which", "Reason", "Marked by", "Marked at (UTC)"),
        _widths(landscape, 25, 80, 100, 31, 31), "No record of this subject is marked entered "
        "in error.",
    )  # fmt: skip
    if not casebook.audit_included:
        story.append(pdf.paragraph(AUDIT_NOT_INCLUDED + "."))
        return story
    story += _section(
        "Audit trail", _audit_rows(casebook),
        ("When (UTC)", "Who", "Role", "Action", "Record", "Field", "Old value", "New value",
         "Reason"),
        _widths(landscape, 30, 18, 25, 38, 34, 26, 32, 36, 28), "No audit trail entries.",
    )  # fmt: skip
    # Nothing follows the trail: its spacing, after a table that ends at the foot of a page,
    # would print a last page with nothing on it.
    story.pop()
    return story


def casebook_write(
    out: str | BinaryIO, casebook: Casebook, *, generated_at: dt.datetime, generated_by: str
) -> None:
    """Render the casebook PDF into `out` (a path or a binary file)."""
    s = casebook.subject
    info = pdf.DocumentInfo(
        title=f"{TITLE} {s['subject_code']}",
        study=s["study__code"],
        cutoff=f"{generated_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
        author=generated_by,
        subject=f"CRF data and audit trail of subject {s['subject_code']}",
    )
    pdf.build(out, casebook_story(casebook, generated_at=generated_at, generated_by=generated_by),
              info)  # fmt: skip


def casebook_filename(subject: Subject) -> str:
    """casebook-STUDY-SUBJECT.pdf, with anything but letters, digits, '.', '_', '-' replaced."""
    name = f"casebook-{subject.study.code}-{subject.subject_code}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".pdf"
