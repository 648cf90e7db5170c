"""The DLT report of a study as plain data (for JSON) and as text."""

from __future__ import annotations

from ..selectors.dlt import DltOverview, StudyRules


def dlt_rules_data(rules: StudyRules) -> dict:
    """The DLT definition a report used: its version (None: the default rule set, not yet
    recorded for the study) and each rule's id, outcome and text, in order."""
    version = rules.version
    return {
        "version": rules.number,
        "digest": rules.rules.digest,
        "recorded_at": version.created_at.isoformat() if version else None,
        "recorded_by": version.recorded_by if version else None,
        "reason": version.reason if version else None,
        "rules": [
            {"id": rule.id, "outcome": rule.outcome, "text": rule.text}
            for rule in rules.rules.rules
        ],
    }


def dlt_report_data(overview: DltOverview) -> dict:
    levels = [row.level for row in overview.levels]

    def level_of(index: int | None) -> int | None:
        # The designs number dose levels 1..n in escalation order; the study may number them
        # otherwise (-1, 1, 2...).
        return None if index is None else levels[index - 1]

    rec = overview.recommendation
    return {
        "study": overview.study.code,
        "cutoff": overview.cutoff.isoformat(),
        "dlt_rules": dlt_rules_data(overview.rules),
        "dose_levels": [
            {
                "level": row.level,
                "label": row.label,
                "treated": row.summary.treated,
                "evaluable": row.summary.evaluable,
                "dlts": row.summary.with_dlt,
                "replacements_needed": row.summary.replacements_needed,
            }
            for row in overview.levels
        ],
        "subjects": [
            {
                "subject_id": row.subject.subject_code,
                "dose_level": row.level,
                "window_end": row.window_end.isoformat() if row.window_end else None,
                "exposure_pct": row.exposure_pct,
                "evaluable": row.evaluability.evaluable,
                "evaluable_reason": row.evaluability.reason,
                "dlt": row.has_dlt,
                "dlt_events": [
                    {
                        "term": item.event.ctcae_term,
                        "grade": item.event.grade,
                        "onset_date": item.event.onset_on.isoformat(),
                        "status": item.status,
                        # The rule that flagged the event (None: declared by an investigator).
                        "rule": item.flag.rule if item.flag else None,
                        "reason": item.reason,
                    }
                    for item in row.events
                    if item.status != "not_dlt"
                ],
            }
            for row in overview.subjects
        ],
        "unreconciled_labs": [
            {
                "subject_id": lab.subject.subject_code,
                "test": lab.test,
                "term": lab.term,
                "grade": lab.grade,
                "collected_on": lab.collected_on.isoformat(),
                "days_pending": lab.days_pending,
            }
            for lab in overview.unreconciled_labs
        ],
        "provisional": overview.provisional,
        "pending": overview.pending,
        "recommendation": {
            "design": overview.study.design_method,
            "dose": level_of(rec.dose),
            "proceed": rec.proceed,
            "mtd": level_of(rec.mtd),
            "reason": rec.reason,
            # The advice as the dashboard shows it: "Provisional: ..." while anything is pending.
            "text": overview.advice,
        },
    }


def dlt_report_text(data: dict) -> str:
    rules = data["dlt_rules"]
    version = f"version {rules['version']}" if rules["version"] else "default rule set"
    lines = [
        f"DLT report {data['study']}, cutoff {data['cutoff']}, DLT rules {version}",
        "",
    ]
    lines.append(f"{'Dose level':<28}{'treated':>8}{'evaluable':>11}{'DLTs':>6}")
    for row in data["dose_levels"]:
        label = f"{row['level']} {row['label']}"
        lines.append(f"{label:<28}{row['treated']:>8}{row['evaluable']:>11}{row['dlts']:>6}")
    lines.append("")
    for subject in data["subjects"]:
        evaluable = "evaluable" if subject["evaluable"] else "not evaluable"
        lines.append(f"{subject['subject_id']} (DL{subject['dose_level']}): {evaluable}: "
                     f"{subject['evaluable_reason']}")  # fmt: skip
        exposure = ", ".join(f"{code} {pct:g}%" for code, pct in subject["exposure_pct"].items())
        lines.append(f"    window ends {subject['window_end']}; exposure: {exposure or 'none'}")
        for event in subject["dlt_events"]:
            lines.append(f"    {event['term']} grade {event['grade']} ({event['onset_date']}): "
                         f"{event['status']} [{event['rule'] or 'investigator'}]: "
                         f"{event['reason']}")  # fmt: skip
    if data["unreconciled_labs"]:
        lines += [
            "",
            "Unreconciled lab toxicity (grade 3 or more in the DLT window, no adverse event):",
        ]
        for lab in data["unreconciled_labs"]:
            lines.append(f"    {lab['subject_id']} {lab['test']} {lab['term']} grade {lab['grade']}, "
                         f"collected {lab['collected_on']}, pending {lab['days_pending']} days")  # fmt: skip
    rec = data["recommendation"]
    lines += ["", f"Recommendation ({rec['design']}): {rec['text']}"]
    for item in data["pending"]:
        kind = "potential DLT" if item["kind"] == "potential_dlt" else "unreconciled lab toxicity"
        lines.append(f"    pending: {item['subject_id']} {kind} {item['what']}, "
                     f"{item['days_pending']} days")  # fmt: skip
    return "\n".join(lines)
