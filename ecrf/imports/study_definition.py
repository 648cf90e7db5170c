"""Read and validate a study definition (JSON) into plain values, before anything is written.

Every problem is collected with the path of the key it concerns ("dose_levels[2].doses.IL2"),
so a data manager can fix a file in one pass.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..safety.dlt_rules import DltRuleSet, default_rules, rule_problems
from ..safety.dose_plan import DEFAULT_ABOVE_PLAN_PCT

SUPPORTED_CTCAE_VERSIONS = ("5.0",)
DESIGN_METHODS = ("3+3", "boin")
ATTRIBUTIONS = ("unrelated", "unlikely", "possible", "probable", "definite")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class StudyDefinitionError(ValueError):
    """The file cannot be loaded; `problems` lists each key and what is wrong with it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Study definition refused:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class AgentDef:
    code: str
    name: str
    unit: str
    first_day: int | None = None
    last_day: int | None = None


@dataclass(frozen=True)
class DoseLevelDef:
    level: int
    label: str
    doses: dict[str, Decimal]
    open_for_enrolment: bool = True


@dataclass(frozen=True)
class SiteDef:
    code: str
    name: str


@dataclass(frozen=True)
class ScheduledVisitDef:
    day: int
    window_before: int = 0
    window_after: int = 0


@dataclass(frozen=True)
class StudyDefinition:
    code: str
    title: str
    ctcae_version: str
    cycle_days: int
    design_method: str
    design_target: Decimal | None
    allow_deescalate: bool
    dlt_window_days: int
    dlt_min_attribution: str
    dlt_min_exposure_pct: int
    screening_days: int
    planned_cycles: int
    follow_up_days: int
    # Protocol: a dose missed or reduced for toxicity does not make a subject non-evaluable.
    dlt_underdosing_for_toxicity_evaluable: bool = True
    # The protocol's DLT definition (``dlt.rules``), or the default rule set when it states none.
    dlt_rules: DltRuleSet = field(default_factory=default_rules)
    dlt_rules_stated: bool = False
    # A dose above this percentage of the planned dose needs a confirmation and opens a query.
    dose_above_plan_pct: int = DEFAULT_ABOVE_PLAN_PCT
    agents: list[AgentDef] = field(default_factory=list)
    dose_levels: list[DoseLevelDef] = field(default_factory=list)
    sites: list[SiteDef] = field(default_factory=list)
    schedule: list[ScheduledVisitDef] = field(default_factory=list)


class _Reader:
    """Pulls typed values out of nested dicts, recording a problem instead of raising."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def get(self, obj: dict, key: str, path: str, *, required: bool = True, default=None):
        if key not in obj:
            if required:
                self.problem(_join(path, key), "is required")
            return default
        return obj[key]

    def text(self, obj: dict, key: str, path: str, *, required=True, default="", max_length=300):
        value = self.get(obj, key, path, required=required, default=default)
        if value is default and not required:
            return value
        if not isinstance(value, str) or not value.strip():
            self.problem(_join(path, key), "must be a non-empty text")
            return default
        if len(value) > max_length:
            self.problem(_join(path, key), f"must be at most {max_length} characters")
        return value.strip()

    def code(self, obj: dict, key: str, path: str) -> str:
        value = self.text(obj, key, path, max_length=40)
        if value and not CODE_PATTERN.match(value):
            self.problem(_join(path, key), "may contain only letters, digits, '-' and '_'")
        return value

    def integer(self, obj, key, path, *, default=None, minimum=None, maximum=None):
        value = self.get(obj, key, path, required=default is None, default=default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(_join(path, key), f"must be a whole number, not {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(_join(path, key), f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            self.problem(_join(path, key), f"must be at most {maximum}, not {value}")
        return value

    def boolean(self, obj, key, path, *, default: bool) -> bool:
        value = self.get(obj, key, path, required=False, default=default)
        if not isinstance(value, bool):
            self.problem(_join(path, key), f"must be true or false, not {value!r}")
            return default
        return value

    def dose(self, value: Any, path: str) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problem(path, f"must be a number, not {value!r}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(path, f"must be a finite number, not {value!r}")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.problem(path, f"must be a number, not {value!r}")
            return None
        if not number.is_finite():
            self.problem(path, f"must be a finite number, not {value!r}")
            return None
        if number < 0:
            self.problem(path, f"cannot be negative ({value})")
            return None
        return number

    def list_of_objects(self, obj, key, path, *, required=True) -> list[tuple[str, dict]]:
        value = self.get(obj, key, path, required=required, default=[])
        if not isinstance(value, list):
            self.problem(_join(path, key), "must be a list")
            return []
        items = []
        for index, item in enumerate(value):
            item_path = f"{_join(path, key)}[{index}]"
            if not isinstance(item, dict):
                self.problem(item_path, "must be an object")
                continue
            items.append((item_path, item))
        return items

    def unknown_keys(self, obj: dict, allowed: set[str], path: str) -> None:
        for key in sorted(set(obj) - allowed):
            self.problem(
                _join(path, key), f"is not a known key (known: {', '.join(sorted(allowed))})"
            )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


TOP_KEYS = {
    "code",
    "title",
    "ctcae_version",
    "cycle_days",
    "agents",
    "dose_levels",
    "design",
    "dlt",
    "dosing",
    "sites",
    "schedule",
    "screening_days",
    "planned_cycles",
    "follow_up_days",
}


def parse_study_definition(data: Any) -> StudyDefinition:
    """Validate a decoded study definition; raise StudyDefinitionError listing every problem."""
    r = _Reader()
    if not isinstance(data, dict):
        raise StudyDefinitionError(["(file): must be a JSON object"])
    r.unknown_keys(data, TOP_KEYS, "")

    code = r.code(data, "code", "")
    title = r.text(data, "title", "")
    ctcae_version = r.get(data, "ctcae_version", "", required=False, default="5.0")
    if ctcae_version not in SUPPORTED_CTCAE_VERSIONS:
        r.problem(
            "ctcae_version",
            f"must be one of {', '.join(SUPPORTED_CTCAE_VERSIONS)}, not {ctcae_version!r}",
        )
    cycle_days = r.integer(data, "cycle_days", "", default=21, minimum=1, maximum=365)
    screening_days = r.integer(data, "screening_days", "", default=28, minimum=0, maximum=365)
    planned_cycles = r.integer(data, "planned_cycles", "", default=2, minimum=1, maximum=50)
    follow_up_days = r.integer(data, "follow_up_days", "", default=30, minimum=1, maximum=3650)

    agents = []
    for path, item in r.list_of_objects(data, "agents", ""):
        r.unknown_keys(item, {"code", "name", "unit", "days"}, path)
        first_day = last_day = None
        days = item.get("days")
        if days is not None:
            if (
                not isinstance(days, list)
                or len(days) != 2
                or not all(isinstance(d, int) and not isinstance(d, bool) for d in days)
            ):
                r.problem(f"{path}.days", "must be [first day, last day], e.g. [1, 14]")
            elif days[0] > days[1] or days[1] < 1 or days[0] == 0:
                r.problem(f"{path}.days", f"{days} is not a valid range of cycle days")
            else:
                first_day, last_day = days
        agents.append(
            AgentDef(
                code=r.code(item, "code", path),
                name=r.text(item, "name", path, max_length=120),
                unit=r.text(item, "unit", path, max_length=20),
                first_day=first_day,
                last_day=last_day,
            )
        )
    if not agents and "agents" in data:
        r.problem("agents", "must list at least one agent")
    agent_codes = [a.code for a in agents]
    for duplicate in sorted({c for c in agent_codes if agent_codes.count(c) > 1}):
        r.problem("agents", f"agent code {duplicate!r} appears more than once")

    dose_levels = []
    for path, item in r.list_of_objects(data, "dose_levels", ""):
        r.unknown_keys(item, {"level", "label", "doses", "open_for_enrolment"}, path)
        level = r.integer(item, "level", path, minimum=-9, maximum=99)
        label = r.text(item, "label", path, max_length=120)
        doses_raw = r.get(item, "doses", path)
        doses: dict[str, Decimal] = {}
        if isinstance(doses_raw, dict):
            for agent_code, amount in doses_raw.items():
                dose_path = f"{path}.doses.{agent_code}"
                if agent_code not in agent_codes:
                    r.problem(dose_path, f"is not one of the agents ({', '.join(agent_codes)})")
                    continue
                value = r.dose(amount, dose_path)
                if value is not None:
                    doses[agent_code] = value
            for missing in [c for c in agent_codes if c not in doses_raw]:
                r.problem(f"{path}.doses.{missing}", "is required: every agent needs a dose")
        elif doses_raw is not None:
            r.problem(f"{path}.doses", "must be an object of agent code to dose")
        open_ = r.boolean(item, "open_for_enrolment", path, default=True)
        dose_levels.append(
            DoseLevelDef(level=level, label=label, doses=doses, open_for_enrolment=open_)
        )
    if not dose_levels and "dose_levels" in data:
        r.problem("dose_levels", "must list at least one dose level")
    levels = [d.level for d in dose_levels]
    for duplicate in sorted({lv for lv in levels if levels.count(lv) > 1 and lv is not None}):
        r.problem("dose_levels", f"level {duplicate} appears more than once")

    design = r.get(data, "design", "", required=False, default={"method": "3+3"})
    design_target = None
    allow_deescalate = True
    method = "3+3"
    if not isinstance(design, dict):
        r.problem("design", "must be an object")
    else:
        r.unknown_keys(design, {"method", "target", "allow_deescalate"}, "design")
        method = design.get("method")
        if method not in DESIGN_METHODS:
            r.problem(
                "design.method", f"must be one of {', '.join(DESIGN_METHODS)}, not {method!r}"
            )
        allow_deescalate = r.boolean(design, "allow_deescalate", "design", default=True)
        if method == "boin":
            if "target" not in design:
                r.problem("design.target", "is required for a BOIN design (e.g. 0.3)")
            else:
                target = r.dose(design["target"], "design.target")
                if target is not None and not (0 < target < 1):
                    r.problem("design.target", f"must be between 0 and 1, not {design['target']}")
                elif target is not None:
                    design_target = target
        elif "target" in design:
            r.problem("design.target", "applies only to a BOIN design")

    dlt = r.get(data, "dlt", "", required=False, default={})
    dlt_rules = None
    window_days, min_attribution, min_exposure_pct = 21, "possible", 75
    underdosing_evaluable = True
    if not isinstance(dlt, dict):
        r.problem("dlt", "must be an object")
    else:
        r.unknown_keys(
            dlt,
            {
                "window_days",
                "min_attribution",
                "min_exposure_pct",
                "underdosing_for_toxicity_evaluable",
                "rules",
            },
            "dlt",
        )
        window_days = r.integer(dlt, "window_days", "dlt", default=21, minimum=1, maximum=365)
        min_attribution = dlt.get("min_attribution", "possible")
        if min_attribution not in ATTRIBUTIONS:
            r.problem(
                "dlt.min_attribution",
                f"must be one of {', '.join(ATTRIBUTIONS)}, not {min_attribution!r}",
            )
        min_exposure_pct = r.integer(
            dlt, "min_exposure_pct", "dlt", default=75, minimum=0, maximum=100
        )
        underdosing_evaluable = r.boolean(
            dlt, "underdosing_for_toxicity_evaluable", "dlt", default=True
        )
        if "rules" in dlt:
            dlt_rules, problems = rule_problems(dlt["rules"], "dlt.rules")
            r.problems.extend(problems)

    dose_above_plan_pct = _dosing(r, data)

    sites = []
    for path, item in r.list_of_objects(data, "sites", "", required=False):
        r.unknown_keys(item, {"code", "name"}, path)
        sites.append(SiteDef(code=r.code(item, "code", path), name=r.text(item, "name", path)))
    site_codes = [s.code for s in sites]
    for duplicate in sorted({c for c in site_codes if site_codes.count(c) > 1}):
        r.problem("sites", f"site code {duplicate!r} appears more than once")

    schedule = []
    for path, item in r.list_of_objects(data, "schedule", "", required=False):
        r.unknown_keys(item, {"day", "window_before", "window_after"}, path)
        day = r.integer(item, "day", path, minimum=1, maximum=cycle_days or 365)
        schedule.append(
            ScheduledVisitDef(
                day=day,
                window_before=r.integer(
                    item, "window_before", path, default=0, minimum=0, maximum=30
                ),
                window_after=r.integer(
                    item, "window_after", path, default=0, minimum=0, maximum=30
                ),
            )
        )
    days = [v.day for v in schedule]
    for duplicate in sorted({d for d in days if days.count(d) > 1 and d is not None}):
        r.problem("schedule", f"day {duplicate} appears more than once")

    if r.problems:
        raise StudyDefinitionError(r.problems)
    return StudyDefinition(
        code=code,
        title=title,
        ctcae_version=ctcae_version,
        cycle_days=cycle_days,
        design_method=method,
        design_target=design_target,
        allow_deescalate=allow_deescalate,
        dlt_window_days=window_days,
        dlt_min_attribution=min_attribution,
        dlt_min_exposure_pct=min_exposure_pct,
        screening_days=screening_days,
        planned_cycles=planned_cycles,
        follow_up_days=follow_up_days,
        dlt_underdosing_for_toxicity_evaluable=underdosing_evaluable,
        dlt_rules=dlt_rules or default_rules(),
        dlt_rules_stated=dlt_rules is not None,
        dose_above_plan_pct=dose_above_plan_pct,
        agents=agents,
        dose_levels=dose_levels,
        sites=sites,
        schedule=schedule,
    )


def _dosing(r: _Reader, data: dict) -> int:
    """The ``dosing`` settings: ``above_plan_pct``, the percentage of the planned dose above
    which a dose given needs a confirmation (ecrf.safety.dose_plan); 100 flags any dose above
    the plan, 1000 is ten times it."""
    dosing = r.get(data, "dosing", "", required=False, default={})
    if not isinstance(dosing, dict):
        r.problem("dosing", "must be an object")
        return DEFAULT_ABOVE_PLAN_PCT
    r.unknown_keys(dosing, {"above_plan_pct"}, "dosing")
    return r.integer(
        dosing,
        "above_plan_pct",
        "dosing",
        default=DEFAULT_ABOVE_PLAN_PCT,
        minimum=100,
        maximum=1000,
    )


def read_study_definition(path: str | Path) -> StudyDefinition:
    """Read a JSON file and validate it; every error names the key and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StudyDefinitionError([f"(file): {path} does not exist"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyDefinitionError([f"(file): {path} cannot be read: {exc}"]) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StudyDefinitionError(
            [f"(file): not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from exc
    return parse_study_definition(data)
