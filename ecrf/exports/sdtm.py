"""SDTM-style datasets (DM, EX, AE, LB) built from the long tables.

Variable names, and the controlled terms where CDISC has them (AEOUT, AEACN, AESER, LBNRIND),
follow the SDTM Implementation Guide; dates are ISO 8601 (--DTC are text: `2026-03-02`, or
`2026-03-02T08:15` for times, `1956` for a birth year). Choices made here:

- Records marked entered-in-error are left out of every SDTM dataset: they are not data. The long
  tables (`ecrf.exports.domains`) keep them, with the flag, so nothing disappears unseen. An agent
  assessment of an event is left out too when it, or its event, is entered in error.
- USUBJID is `STUDYID-SUBJID`. ARMCD/ARM are the subject's dose level (`DL1`, its label);
  screen failures are `SCRNFAIL`, subjects not yet enrolled `NOTASSGN`. ACTARMCD/ACTARM are the
  same: the model keeps the dose level a subject is treated at. RFSTDTC is the first dose date,
  RFENDTC and RFXENDTC the last date a dose was given, RFICDTC the consent date, DTHDTC the date
  of death of a fatal adverse event. AGE is not given: only the birth year is kept (BRTHDTC).
- EX has one record per agent and day; a missed dose has EXDOSE 0. EXADJ is the reason given
  when the dose differs from the planned dose.
- AETERM is the verbatim text (the CTCAE term when none was written), AEDECOD and AELLT the
  CTCAE term, AELLTCD its MedDRA code, AEBODSYS the SOC. With several study agents, AEREL is the
  strongest attribution over the agents (the one the DLT rules use) and AEACN is the action when
  it is the same for every agent, else MULTIPLE; the per-agent values are in the long table
  `adverse_event_agents`.
- LB keeps results in the units they were entered in: the standard result (LBSTRESN/LBSTRESU)
  is the original one. LBTOXGR/LBTOX are the computed CTCAE v5.0 grade and term.
- A text longer than 200 characters (200 bytes in UTF-8, what SAS transport v5 holds) is split
  the SDTM way (SDTMIG 3.4 section 4.5.3.3, text strings over 200 characters): the variable
  keeps the first part and each further part of at most 200 is a supplemental qualifier in
  SUPP-- (QNAM AETERM1, AETERM2 ...), linked by --SEQ. Parts break before a space when one is
  near, and the space starts the next part, so the parts put end to end give the text back
  (SAS drops trailing blanks, never leading ones). SUPP-- datasets exist only when needed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_string_dtype

SDTM_DOMAINS = ("DM", "EX", "AE", "LB")

# SDTMIG: "--TERM", "--TEST" and other text variables hold at most 200 characters.
TEXT_VALUE_MAX = 200
SUPP_COLUMNS = (
    "STUDYID",
    "RDOMAIN",
    "USUBJID",
    "IDVAR",
    "IDVARVAL",
    "QNAM",
    "QLABEL",
    "QVAL",
    "QORIG",
    "QEVAL",
)

# Variable labels (at most 40 characters, SAS transport v5).
LABELS = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "RFSTDTC": "Subject Reference Start Date/Time",
    "RFENDTC": "Subject Reference End Date/Time",
    "RFXSTDTC": "Date/Time of First Study Treatment",
    "RFXENDTC": "Date/Time of Last Study Treatment",
    "RFICDTC": "Date/Time of Informed Consent",
    "RFPENDTC": "Date/Time of End of Participation",
    "DTHDTC": "Date/Time of Death",
    "DTHFL": "Subject Death Flag",
    "SITEID": "Study Site Identifier",
    "BRTHDTC": "Date/Time of Birth",
    "SEX": "Sex",
    "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm",
    "ACTARMCD": "Actual Arm Code",
    "ACTARM": "Description of Actual Arm",
    "EXSEQ": "Sequence Number",
    "EXTRT": "Name of Treatment",
    "EXDOSE": "Dose",
    "EXDOSU": "Dose Units",
    "EXDOSFRQ": "Dosing Frequency per Interval",
    "EXADJ": "Reason for Dose Adjustment",
    "EXSTDTC": "Start Date/Time of Treatment",
    "EXENDTC": "End Date/Time of Treatment",
    "VISIT": "Visit Name",
    "AESEQ": "Sequence Number",
    "AETERM": "Reported Term for the Adverse Event",
    "AELLT": "Lowest Level Term",
    "AELLTCD": "Lowest Level Term Code",
    "AEDECOD": "Dictionary-Derived Term",
    "AEBODSYS": "Body System or Organ Class",
    "AETOXGR": "Standard Toxicity Grade",
    "AESER": "Serious Event",
    "AEACN": "Action Taken with Study Treatment",
    "AEREL": "Causality",
    "AEOUT": "Outcome of Adverse Event",
    "AESCONG": "Congenital Anomaly or Birth Defect",
    "AESDISAB": "Persist or Signif Disability/Incapacity",
    "AESDTH": "Results in Death",
    "AESHOSP": "Requires or Prolongs Hospitalization",
    "AESLIFE": "Is Life Threatening",
    "AESMIE": "Other Medically Important Serious Event",
    "AESTDTC": "Start Date/Time of Adverse Event",
    "AEENDTC": "End Date/Time of Adverse Event",
    "LBSEQ": "Sequence Number",
    "LBTESTCD": "Lab Test or Examination Short Name",
    "LBTEST": "Lab Test or Examination Name",
    "LBORRES": "Result or Finding in Original Units",
    "LBORRESU": "Original Units",
    "LBORNRLO": "Reference Range Lower Limit in Orig Unit",
    "LBORNRHI": "Reference Range Upper Limit in Orig Unit",
    "LBSTRESC": "Character Result/Finding in Std Format",
    "LBSTRESN": "Numeric Result/Finding in Standard Units",
    "LBSTRESU": "Standard Units",
    "LBSTNRLO": "Reference Range Lower Limit-Std Units",
    "LBSTNRHI": "Reference Range Upper Limit-Std Units",
    "LBNRIND": "Reference Range Indicator",
    "LBTOX": "Toxicity",
    "LBTOXGR": "Standard Toxicity Grade",
    "LBDTC": "Date/Time of Specimen Collection",
    "RDOMAIN": "Related Domain Abbreviation",
    "IDVAR": "Identifying Variable",
    "IDVARVAL": "Identifying Variable Value",
    "QNAM": "Qualifier Variable Name",
    "QLABEL": "Qualifier Variable Label",
    "QVAL": "Data Value",
    "QORIG": "Origin",
    "QEVAL": "Evaluator",
}

OUTCOMES = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}
ACTIONS = {
    "none": "DOSE NOT CHANGED",
    "reduced": "DOSE REDUCED",
    "interrupted": "DRUG INTERRUPTED",
    "withdrawn": "DRUG WITHDRAWN",
    "not_applicable": "NOT APPLICABLE",
    "unknown": "UNKNOWN",
}
RELATIONSHIPS = {
    "unrelated": "NOT RELATED",
    "unlikely": "UNLIKELY RELATED",
    "possible": "POSSIBLY RELATED",
    "probable": "PROBABLY RELATED",
    "definite": "DEFINITELY RELATED",
}
SERIOUSNESS = {
    "AESCONG": "sae_congenital_anomaly",
    "AESDISAB": "sae_disability",
    "AESDTH": "sae_death",
    "AESHOSP": "sae_hospitalisation",
    "AESLIFE": "sae_life_threatening",
    "AESMIE": "sae_important_medical_event",
}


def _valid(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["entered_in_error"].astype(bool)]


def _per_value(series: pd.Series, format_value) -> pd.Series:
    """format_value applied to each distinct value once (dates, units and limits repeat a lot);
    no value is an empty text."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    formatted = np.array([*map(format_value, uniques), ""], dtype=object)
    # Code -1 (no value) takes the last item, the empty text.
    return pd.Series(formatted[codes], index=series.index, dtype=object)


def _shared(series: pd.Series) -> pd.Series:
    """The column as Python objects, as `astype(object)` gives them, but each distinct text one
    object: a value repeated on every row (the study, a unit, a test code) is held once, not
    once a row."""
    if not isinstance(series.dtype, pd.StringDtype):
        return series.astype(object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    objects = np.array([*uniques.tolist(), series.dtype.na_value], dtype=object)
    # Code -1 (no value) takes the last item, the dtype's missing value.
    return pd.Series(objects[codes], index=series.index, dtype=object)


def _iso_date(series: pd.Series) -> pd.Series:
    """Dates as ISO 8601 text."""
    return _per_value(series, lambda day: day.isoformat())


def _text(series: pd.Series) -> pd.Series:
    return _per_value(series, str)


def _yes_no(series: pd.Series) -> pd.Series:
    return pd.Series(np.where(series.astype(bool), "Y", "N"), index=series.index, dtype=object)


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _number_text(series: pd.Series) -> pd.Series:
    """A number as the shortest text that reads back the same, without a trailing `.0`."""
    return _per_value(series, _number)


def _usubjid(frame: pd.DataFrame) -> pd.Series:
    return _shared(frame["study"].astype(str) + "-" + frame["subject_id"].astype(str))


def _sequence(frame: pd.DataFrame) -> pd.Series:
    """1, 2, 3... within each subject, in the frame's order."""
    return (frame.groupby("subject_id", sort=False).cumcount() + 1).astype(float)


def _start(frame: pd.DataFrame, domain: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": _shared(frame["study"]),
            "DOMAIN": domain,
            "USUBJID": _usubjid(frame),
        },
        index=frame.index,
    )


def dm_frame(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    subjects = _valid(domains["subjects"])
    doses = _valid(domains["doses"])
    given = doses[doses["given_dose"] > 0]
    exposure = given.groupby("subject_id")["given_on"].agg(["min", "max"])
    events = _valid(domains["adverse_events"])
    deaths = events.dropna(subset=["death_on"]).groupby("subject_id")["death_on"].min()
    code = subjects["subject_id"]
    arm_code = ("DL" + subjects["dose_level"].astype(str)).where(
        subjects["dose_level"].notna(), "NOTASSGN"
    )
    arm_code = arm_code.where(subjects["status"] != "screen_failed", "SCRNFAIL")
    arm = subjects["dose_level_label"].where(subjects["dose_level"].notna(), "Not Assigned")
    arm = arm.where(subjects["status"] != "screen_failed", "Screen Failure")
    frame = _start(subjects, "DM")
    frame["SUBJID"] = code.astype(object)
    frame["RFSTDTC"] = _iso_date(subjects["first_dose_on"])
    frame["RFENDTC"] = _iso_date(code.map(exposure["max"]))
    frame["RFXSTDTC"] = _iso_date(code.map(exposure["min"]))
    frame["RFXENDTC"] = frame["RFENDTC"]
    frame["RFICDTC"] = _iso_date(subjects["consent_on"])
    frame["RFPENDTC"] = _iso_date(subjects["off_study_on"])
    frame["DTHDTC"] = _iso_date(code.map(deaths))
    frame["DTHFL"] = frame["DTHDTC"].where(frame["DTHDTC"] == "", "Y")
    frame["SITEID"] = subjects["site"].astype(object)
    frame["BRTHDTC"] = _text(subjects["birth_year"].astype(object))
    frame["SEX"] = subjects["sex"].astype(object)
    frame["ARMCD"] = arm_code.astype(object)
    frame["ARM"] = _text(arm)
    frame["ACTARMCD"] = frame["ARMCD"]
    frame["ACTARM"] = frame["ARM"]
    return frame.reset_index(drop=True)


def ex_frame(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    doses = _valid(domains["doses"])
    frame = _start(doses, "EX")
    frame["EXSEQ"] = _sequence(doses)
    frame["EXTRT"] = _shared(doses["agent_name"])
    frame["EXDOSE"] = doses["given_dose"].astype(float)
    frame["EXDOSU"] = _shared(doses["unit"])
    frame["EXDOSFRQ"] = "QD"
    frame["EXADJ"] = _text(doses["reason"].where(doses["dose_change"] != "as_planned", ""))
    frame["EXSTDTC"] = _iso_date(doses["given_on"])
    frame["EXENDTC"] = frame["EXSTDTC"]
    frame["VISIT"] = _text(doses["visit"])
    return frame.reset_index(drop=True)


def ae_frame(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    events = _valid(domains["adverse_events"])
    agents = domains["adverse_event_agents"]
    agents = agents[
        ~agents["entered_in_error"].astype(bool)
        & ~agents["adverse_event_entered_in_error"].astype(bool)
    ]
    per_event = agents.groupby("adverse_event_id")["action_taken"].agg(["nunique", "first"])
    actions = per_event["first"].where(per_event["nunique"] == 1, "multiple")
    verbatim = events["verbatim"].where(events["verbatim"].fillna("") != "", events["ctcae_term"])
    frame = _start(events, "AE")
    frame["AESEQ"] = _sequence(events)
    frame["AETERM"] = _text(verbatim)
    frame["AELLT"] = _shared(events["ctcae_term"])
    frame["AELLTCD"] = _text(events["meddra_code"])
    frame["AEDECOD"] = frame["AELLT"]
    frame["AEBODSYS"] = _text(events["soc"])
    frame["AETOXGR"] = _shared(events["grade"].astype(str))
    frame["AESER"] = _yes_no(events["serious"])
    action = events["record_id"].map(actions).map({**ACTIONS, "multiple": "MULTIPLE"})
    frame["AEACN"] = _text(action)
    frame["AEREL"] = _text(events["worst_attribution"].map(RELATIONSHIPS))
    frame["AEOUT"] = _text(events["outcome"].map(OUTCOMES))
    for variable, column in SERIOUSNESS.items():
        frame[variable] = _yes_no(events[column])
    frame["AESTDTC"] = _iso_date(events["onset_on"])
    frame["AEENDTC"] = _iso_date(events["resolved_on"])
    return frame.reset_index(drop=True)


def ln_indicator(value: pd.Series, low: pd.Series, high: pd.Series) -> pd.Series:
    indicator = pd.Series("", index=value.index, dtype=object)
    known = low.notna() | high.notna()
    indicator[known] = "NORMAL"
    indicator[low.notna() & (value < low)] = "LOW"
    indicator[high.notna() & (value > high)] = "HIGH"
    return indicator


def lb_frame(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    labs = _valid(domains["labs"])
    value = labs["value"].astype(float)
    frame = _start(labs, "LB")
    frame["LBSEQ"] = _sequence(labs)
    frame["LBTESTCD"] = _shared(labs["test_code"])
    frame["LBTEST"] = _text(labs["test_code_label"])
    frame["LBORRES"] = _number_text(value)
    frame["LBORRESU"] = _shared(labs["unit"])
    frame["LBORNRLO"] = _number_text(labs["lln"])
    frame["LBORNRHI"] = _number_text(labs["uln"])
    frame["LBSTRESC"] = frame["LBORRES"]
    frame["LBSTRESN"] = value
    frame["LBSTRESU"] = frame["LBORRESU"]
    frame["LBSTNRLO"] = labs["lln"].astype(float)
    frame["LBSTNRHI"] = labs["uln"].astype(float)
    frame["LBNRIND"] = ln_indicator(value, labs["lln"], labs["uln"])
    frame["LBTOX"] = _text(labs["ctcae_term"])
    frame["LBTOXGR"] = _text(labs["ctcae_grade"].astype(object))
    frame["LBDTC"] = _per_value(labs["collected_at"], lambda time: time.strftime("%Y-%m-%dT%H:%M"))
    frame["VISIT"] = _text(labs["visit"])
    return frame.reset_index(drop=True)


def text_parts(text: str, limit: int = TEXT_VALUE_MAX) -> list[str]:
    """`text` cut into parts of at most `limit` UTF-8 bytes that join back into it.

    A part ends before the last space that fits when that space lies in the part's second
    half (a word is not cut), else at the limit; the space begins the next part.
    """
    parts = []
    while len(text.encode()) > limit:
        fits = len(text.encode()[:limit].decode("utf-8", errors="ignore"))
        space = text.rfind(" ", 1, fits + 1)
        cut = space if space > fits // 2 else fits
        parts.append(text[:cut])
        text = text[cut:]
    return [*parts, text]


def _qualifier_name(variable: str, number: int) -> str:
    """AETERM1, AETERM2 ...: at most 8 characters, the variable name shortened if need be."""
    suffix = str(number)
    return variable[: 8 - len(suffix)] + suffix


def _qualifier_label(variable: str, number: int) -> str:
    suffix = f" {number}"
    return LABELS.get(variable, variable)[: 40 - len(suffix)] + suffix


def _too_long(series: pd.Series) -> np.ndarray:
    """Which texts of a column need more than TEXT_VALUE_MAX bytes; each distinct value is
    looked at once (values repeat a lot)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    long = np.array(
        [
            isinstance(value, str) and len(value.encode()) > TEXT_VALUE_MAX
            for value in uniques.tolist()
        ]
        + [False],
        dtype=bool,
    )
    # Code -1 (no value) takes the last item, False.
    return long[codes]


def split_long_texts(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the dataset with every text cut to its first part, its SUPP-- rows for the rest)."""
    sequence = f"{name}SEQ" if f"{name}SEQ" in frame.columns else ""
    frame = frame.copy()
    rows = []
    for variable in frame.columns:
        if not is_string_dtype(frame[variable].dtype):
            continue
        long = _too_long(frame[variable])
        for index in frame.index[long]:
            first, *rest = text_parts(frame.at[index, variable])
            frame.at[index, variable] = first
            for number, part in enumerate(rest, start=1):
                rows.append(
                    {
                        "STUDYID": frame.at[index, "STUDYID"],
                        "RDOMAIN": name,
                        "USUBJID": frame.at[index, "USUBJID"],
                        "IDVAR": sequence,
                        "IDVARVAL": _number(frame.at[index, sequence]) if sequence else "",
                        "QNAM": _qualifier_name(variable, number),
                        "QLABEL": _qualifier_label(variable, number),
                        "QVAL": part,
                        "QORIG": "CRF",
                        "QEVAL": "",
                    }
                )
    return frame, pd.DataFrame(rows, columns=list(SUPP_COLUMNS), dtype=object)


def sdtm_from_domains(domains: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """DM, EX, AE and LB, then a SUPP-- dataset for each that has texts over 200 characters."""
    datasets = {
        "DM": dm_frame(domains),
        "EX": ex_frame(domains),
        "AE": ae_frame(domains),
        "LB": lb_frame(domains),
    }
    supplements = {}
    for name, frame in datasets.items():
        datasets[name], supplement = split_long_texts(name, frame)
        if len(supplement):
            supplements[f"SUPP{name}"] = supplement
    return {**datasets, **supplements}
