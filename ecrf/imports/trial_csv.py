"""Importing a trial's subjects, doses, adverse events and labs from a folder of CSV files.

All or nothing: every row goes through the services (validation, CTCAE rules, audit trail), every
problem is reported as file:line:column: message, and any problem means nothing is written.

- subjects.csv: subject_id, site, dose_level, enrolled_on, first_dose_on, off_study_on,
  off_study_reason (the consent date is taken to be the enrolment date)
- doses.csv: subject_id, agent, date, planned_dose, given_dose, unit, optional reason and
  reason_category (adverse_event, patient_decision, logistics or other; a changed dose without
  it is "other") and confirm_above_plan (yes for a dose above the study's limit of the planned
  dose, which is refused without it and opens a data query) (given_dose 0 means missed)
- adverse_events.csv: subject_id, term, grade, onset_date, resolved_date, serious (Y/N),
  attribution (for every agent), optional attribution_<AGENT> overriding it per agent,
  serious_criteria and site_aware_at (the date and time the site became aware, "2026-03-14
  09:30" in the site's time zone; both required when serious is Y) and verbatim
- labs.csv: subject_id, test, value, unit, lln, uln, collected_on
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ..models import (
    ActionTaken,
    Attribution,
    DoseChangeReason,
    Study,
    Subject,
    SubjectStatus,
)
from ..services import (
    ae_record,
    dose_record,
    lab_record,
    subject_enrol,
    subject_screen,
)
from ..services.imports import RowBatch, rows_import
from ..services.studies import site_create
from ..services.subjects import subject_correct
from .rows import (
    ImportRefused,
    RowProblem,
    date,
    moment,
    number,
    read_csv,
    serious_criteria,
    text,
    whole_number,
    yes_no,
)

FILES = {
    "subjects.csv": ("subject_id", "site", "dose_level", "enrolled_on", "first_dose_on"),
    "doses.csv": ("subject_id", "agent", "date", "planned_dose", "given_dose", "unit"),
    "adverse_events.csv": ("subject_id", "term", "grade", "onset_date", "serious", "attribution"),
    "labs.csv": ("subject_id", "test", "value", "unit", "collected_on"),
}
NOT_STATED = "Not stated in the imported file"
COLUMNS = {
    "subject_code": "subject_id",
    "dose_level": "dose_level",
    "enrolled_on": "enrolled_on",
    "first_dose_on": "first_dose_on",
    "off_study_on": "off_study_on",
    "off_study_reason": "off_study_reason",
    "given_on": "date",
    "given_dose": "given_dose",
    "planned_dose": "planned_dose",
    "reason_category": "reason_category",
    "confirm_above_plan": "confirm_above_plan",
    "ctcae_term": "term",
    "grade": "grade",
    "onset_on": "onset_date",
    "resolved_on": "resolved_date",
    "verbatim": "verbatim",
    "site_aware_at": "site_aware_at",
    "test_code": "test",
    "value": "value",
    "unit": "unit",
    "lln": "lln",
    "uln": "uln",
    "assessments": "attribution",
}


@dataclass
class ImportSummary:
    written: dict[str, int] = field(default_factory=dict)
    sites_created: list[str] = field(default_factory=list)


class _Importer:
    def __init__(self, study: Study, by):
        self.study = study
        self.by = by
        self.agents = {a.code: a for a in study.agents.all()}
        self.levels = {str(level.level): level for level in study.dose_levels.all()}
        self.sites = {s.code: s for s in study.sites.all()}
        self.summary = ImportSummary()

    def subject(self, row: dict) -> Subject:
        code = text(row, "subject_id")
        found = self.study.subjects.select_related("study", "site").filter(subject_code=code)
        subject = found.first()
        if subject is None:
            raise RowProblem("subject_id", f"no subject {code!r} in {self.study.code}")
        return subject

    def write_subject(self, row: dict) -> None:
        site_code = text(row, "site")
        level = self.levels.get(text(row, "dose_level"))
        if level is None:
            raise RowProblem(
                "dose_level",
                f"{row['dose_level']!r} is not a dose level of {self.study.code} "
                f"({', '.join(self.levels)})",
            )
        enrolled_on = date(row, "enrolled_on", required=True)
        first_dose_on = date(row, "first_dose_on", required=False)
        off_study_on = date(row, "off_study_on", required=False)
        site = self.sites.get(site_code)
        if site is None:
            site = site_create(study=self.study, code=site_code, name=site_code, by=self.by)
            self.sites[site_code] = site
            self.summary.sites_created.append(site_code)
        subject = subject_screen(
            study=self.study,
            site=site,
            subject_code=text(row, "subject_id"),
            consent_on=enrolled_on,
            by=self.by,
        )
        subject = subject_enrol(
            subject=subject,
            dose_level=level,
            enrolled_on=enrolled_on,
            first_dose_on=first_dose_on,
            by=self.by,
        )
        if off_study_on is not None:
            subject_correct(
                subject=subject,
                changes={
                    "status": SubjectStatus.OFF_STUDY,
                    "off_study_on": off_study_on,
                    "off_study_reason": text(row, "off_study_reason", required=False),
                },
                reason="Imported: off study",
                by=self.by,
            )

    def write_dose(self, row: dict) -> None:
        subject = self.subject(row)
        agent = self.agents.get(text(row, "agent"))
        if agent is None:
            raise RowProblem("agent", f"{row['agent']!r} is not one of {', '.join(self.agents)}")
        unit = text(row, "unit")
        if unit != agent.unit:
            raise RowProblem("unit", f"{agent.code} is dosed in {agent.unit}, not {unit!r}")
        planned = number(row, "planned_dose", required=True)
        given = number(row, "given_dose", required=True)
        reason = text(row, "reason", required=False)
        if given != planned and not reason:
            reason = NOT_STATED
        category = text(row, "reason_category", required=False).lower()
        if category and category not in DoseChangeReason.values:
            raise RowProblem(
                "reason_category",
                f"{row['reason_category']!r} is not one of {', '.join(DoseChangeReason.values)}",
            )
        dose_record(
            subject=subject,
            agent=agent,
            given_on=date(row, "date", required=True),
            given_dose=given,
            planned_dose=planned,
            reason=reason,
            reason_category=category or (DoseChangeReason.OTHER if given != planned else ""),
            confirm_above_plan=yes_no(row, "confirm_above_plan"),
            by=self.by,
        )

    def write_adverse_event(self, row: dict) -> None:
        subject = self.subject(row)
        default = text(row, "attribution").lower()
        assessments = {}
        for code in self.agents:
            attribution = (row.get(f"attribution_{code}") or "").strip().lower() or default
            if attribution not in Attribution.values:
                column = f"attribution_{code}" if row.get(f"attribution_{code}") else "attribution"
                raise RowProblem(column, f"{attribution!r} is not one of "
                                 f"{', '.join(Attribution.values)}")  # fmt: skip
            assessments[code] = (attribution, ActionTaken.UNKNOWN)
        serious = text(row, "serious").upper()
        if serious not in ("Y", "N"):
            raise RowProblem("serious", f"{row['serious']!r} is not Y or N")
        criteria = serious_criteria(row)
        if serious == "Y" and not criteria:
            raise RowProblem("serious_criteria", "is required when serious is Y")
        if serious == "N" and criteria:
            raise RowProblem("serious_criteria", "must be empty when serious is N")
        site_aware_at = moment(row, "site_aware_at", required=False)
        if serious == "Y" and site_aware_at is None:
            raise RowProblem("site_aware_at", "is required when serious is Y")
        if serious == "N" and site_aware_at is not None:
            raise RowProblem("site_aware_at", "must be empty when serious is N")
        ae_record(
            subject=subject,
            ctcae_term=text(row, "term"),
            grade=whole_number(row, "grade"),
            onset_on=date(row, "onset_date", required=True),
            resolved_on=date(row, "resolved_date", required=False),
            verbatim=text(row, "verbatim", required=False),
            outcome="recovered" if row.get("resolved_date") else "not_recovered",
            serious_criteria=criteria,
            site_aware_at=site_aware_at,
            assessments=assessments,
            by=self.by,
        )

    def write_lab(self, row: dict) -> None:
        subject = self.subject(row)
        collected_on = date(row, "collected_on", required=True)
        lab_record(
            subject=subject,
            test_code=text(row, "test").upper(),
            value=number(row, "value", required=True),
            unit=text(row, "unit"),
            lln=number(row, "lln", required=False),
            uln=number(row, "uln", required=False),
            collected_at=dt.datetime.combine(collected_on, dt.time(0, 0), tzinfo=dt.UTC),
            by=self.by,
        )


def import_trial_csv(*, study: Study, folder: str | Path, by) -> ImportSummary:
    """Import whichever of the four files the folder holds; all of them, or nothing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportRefused([f"{folder}:0:folder: is not a folder"])
    present = [name for name in FILES if (folder / name).is_file()]
    if not present:
        raise ImportRefused([f"{folder}:0:folder: holds none of {', '.join(FILES)}"])
    problems: list[str] = []
    tables = {name: read_csv(folder / name, FILES[name], problems) for name in present}
    if problems:
        raise ImportRefused(problems)
    importer = _Importer(study, by)
    writers = {
        "subjects.csv": importer.write_subject,
        "doses.csv": importer.write_dose,
        "adverse_events.csv": importer.write_adverse_event,
        "labs.csv": importer.write_lab,
    }
    importer.summary.written = rows_import(
        batches=[
            RowBatch(label=name, rows=tables[name], write=writers[name], columns=COLUMNS)
            for name in present
        ]
    )
    return importer.summary
