"""A text over 200 characters is split the SDTM way instead of stopping the export (issue #22:
an AE verbatim of 201-300 characters, which the form allows, blocked the whole study's XPT):
AETERM keeps the first 200 characters and SUPPAE the rest (SDTMIG 3.4 section 4.5.3.3)."""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd
import pyreadstat
import pytest

from ecrf.exports import sdtm_frames, write_export
from ecrf.exports.sdtm import LABELS, SUPP_COLUMNS, split_long_texts, text_parts
from ecrf.services import ae_record

WORDS = ("Fatigue after the second infusion with chills, " * 7).strip()  # 328 characters


def _event(subject, alice, verbatim):
    return ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=1,
        verbatim=verbatim,
        onset_on=dt.date(2026, 3, 6),
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")),
        by=alice,
    )


def _joined(ae: pd.DataFrame, supp: pd.DataFrame, seq: float) -> str:
    """AETERM and its SUPPAE parts put end to end, in QNAM order."""
    row = ae[ae["AESEQ"] == seq].iloc[0]
    parts = supp[(supp["USUBJID"] == row["USUBJID"]) & (supp["IDVARVAL"] == f"{seq:g}")]
    return row["AETERM"] + "".join(parts.sort_values("QNAM")["QVAL"])


@pytest.mark.parametrize(
    "text",
    ["x" * 450, WORDS, "é" * 150, " ".join(["antidisestablishmentarianism"] * 20)],
)
def test_the_parts_hold_at_most_200_bytes_and_join_back_into_the_text(text):
    parts = text_parts(text)
    assert len(parts) > 1
    assert all(len(part.encode()) <= 200 for part in parts)
    assert "".join(parts) == text


def test_words_are_not_cut_when_a_space_is_near():
    parts = text_parts(WORDS)
    assert all(not part.endswith(" ") for part in parts)
    assert all(part.startswith(" ") for part in parts[1:])
    assert WORDS[len(parts[0])] == " "


def test_a_300_character_verbatim_exports_with_the_rest_in_suppae(study, subject, alice, tmp_path):
    verbatim = "v" * 300
    _event(subject, alice, verbatim)

    paths = write_export(study, ["sdtm", "xpt"], tmp_path)

    assert {p.name for p in paths} >= {"suppae.csv", "suppae.xpt", "ae.xpt"}
    ae, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    supp, meta = pyreadstat.read_xport(str(tmp_path / "suppae.xpt"))
    assert meta.table_name == "SUPPAE" and list(supp.columns) == list(SUPP_COLUMNS)
    assert meta.column_labels == [LABELS[column] for column in SUPP_COLUMNS]
    row = ae[ae["AETERM"].str.startswith("v")].iloc[0]
    assert len(row["AETERM"]) == 200
    assert supp.iloc[0].to_dict() == {
        "STUDYID": "TEST-IL2",
        "RDOMAIN": "AE",
        "USUBJID": row["USUBJID"],
        "IDVAR": "AESEQ",
        "IDVARVAL": f"{row['AESEQ']:g}",
        "QNAM": "AETERM1",
        "QLABEL": "Reported Term for the Adverse Event 1",
        "QVAL": "v" * 100,
        "QORIG": "CRF",
        "QEVAL": "",
    }
    assert _joined(ae, supp, row["AESEQ"]) == verbatim
    with (tmp_path / "suppae.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(r["QNAM"], r["QVAL"]) for r in rows] == [("AETERM1", "v" * 100)]


def test_a_worded_verbatim_reads_back_whole_from_the_xpt_files(study, subject, alice, tmp_path):
    _event(subject, alice, WORDS[:300].rstrip())

    write_export(study, "xpt", tmp_path)

    ae, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    supp, _ = pyreadstat.read_xport(str(tmp_path / "suppae.xpt"))
    seq = ae["AESEQ"].iloc[0]
    assert len(ae["AETERM"].iloc[0]) <= 200
    assert _joined(ae, supp, seq) == WORDS[:300].rstrip()


def test_no_supplemental_dataset_without_a_long_text(study, subject, alice):
    _event(subject, alice, "Tired")
    assert list(sdtm_frames(study)) == ["DM", "EX", "AE", "LB"]


def test_any_text_variable_over_200_is_split_and_the_name_fits_8_characters():
    frame = pd.DataFrame(
        {
            "STUDYID": ["S"],
            "DOMAIN": ["AE"],
            "USUBJID": ["S-1"],
            "AESEQ": [1.0],
            "AEBODSYS": ["b" * 450],
        }
    )
    cut, supp = split_long_texts("AE", frame)
    assert cut["AEBODSYS"].tolist() == ["b" * 200]
    assert supp["QNAM"].tolist() == ["AEBODSY1", "AEBODSY2"]
    assert all(len(label) <= 40 for label in supp["QLABEL"])
    assert cut["AEBODSYS"].iloc[0] + "".join(supp["QVAL"]) == "b" * 450
