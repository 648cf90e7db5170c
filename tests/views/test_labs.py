"""The lab entry grid of a visit: prefilled units and ranges, one transaction, CTCAE grades.

The subject (female, site A) has C1D8 planned on 2026-03-09, a week after the first dose.
CTCAE v5.0 'Alanine aminotransferase increased' with ULN 40 U/L: grade 2 is >3.0-5.0 x ULN
(>120-200), grade 3 >5.0-20.0 x ULN (>200-800).
"""

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.urls import reverse

from ecrf.forms.base import OVERRIDE_REQUIRED, REASON_FOR_CHANGE_REQUIRED
from ecrf.models import AuditEvent, LabResult, ReferenceRange
from ecrf.services import ae_record

RANGE_START = dt.date(2026, 1, 1)


@pytest.fixture
def ranges(site_a):
    """Site A's ranges: sex-specific haemoglobin, ALT, neutrophils in 10^9/L only."""
    rows = [
        ("ALT", "U/L", "", None, "40"),
        ("AST", "U/L", "", None, "35"),
        ("HGB", "g/dL", "F", "12", "16"),
        ("HGB", "g/L", "F", "120", "160"),
        ("HGB", "g/dL", "M", "13.5", "17.5"),
        ("NEUT", "10^9/L", "", "1.5", "8"),
        ("PLAT", "10^9/L", "", "150", "400"),
    ]
    for test, unit, sex, lln, uln in rows:
        ReferenceRange.objects.create(
            site=site_a,
            test_code=test,
            unit=unit,
            sex=sex,
            lln=None if lln is None else Decimal(lln),
            uln=Decimal(uln),
            effective_from=RANGE_START,
        )


@pytest.fixture
def c1d8(subject):
    return subject.visits.get(label="C1D8")


def _url(visit, panel):
    return reverse("lab_grid", args=[visit.pk, panel])


def _posted(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    return str(value)


def _grid(client, visit, panel):
    """Open the grid and return what the browser would post back unchanged."""
    response = client.get(_url(visit, panel))
    assert response.status_code == 200
    data = {"override_reason": ""}
    for row in response.context["rows"]:
        for field in row:
            data[field.html_name] = _posted(field.value())
    return data


def _save(client, visit, panel, **values):
    """Post the grid with `values` (e.g. ALT_value="130" for ALT-value) typed in."""
    data = _grid(client, visit, panel)
    for key, value in values.items():
        test, _, name = key.partition("_")
        data[f"{test}-{name}" if test.isupper() else key] = str(value)
    return client.post(_url(visit, panel), data)


def _row(response, test):
    return next(row for row in response.context["rows"] if row.test == test)


def test_the_grid_prefills_units_and_ranges_from_the_sites_reference_range(
    client, alice, c1d8, ranges
):
    client.force_login(alice)
    response = client.get(_url(c1d8, "haematology"))
    assert [row.test for row in response.context["rows"]] == ["NEUT", "PLAT", "WBC", "LYM", "HGB"]
    initial = {row.test: row.initial for row in response.context["rows"]}
    # Neutrophils: the site's range is in 10^9/L, so that unit comes first.
    assert (initial["NEUT"]["unit"], initial["NEUT"]["lln"], initial["NEUT"]["uln"]) == (
        "10^9/L",
        "1.5",
        "8",
    )
    # Haemoglobin: the range for women, not the one for men.
    assert (initial["HGB"]["unit"], initial["HGB"]["lln"], initial["HGB"]["uln"]) == (
        "g/dL",
        "12",
        "16",
    )
    # Leukocytes: no site range, so the grader's first unit and no limits.
    assert (initial["WBC"]["unit"], initial["WBC"]["lln"], initial["WBC"]["uln"]) == (
        "/mm3",
        None,
        None,
    )
    page = response.content.decode()
    assert 'value="2026-03-09T08:00"' in page
    assert '<label for="id_HGB-value">Hemoglobin</label>' in page
    assert 'for="id_HGB-unit">Hemoglobin Unit</label>' in page
    assert f'data-draft-key="labs-{c1d8.pk}-haematology"' in page
    assert '<option value="cells/uL">cells/uL</option>' in page


def test_saving_alt_130_with_uln_40_shows_grade_2_after_saving(client, alice, c1d8, ranges):
    client.force_login(alice)
    response = _save(client, c1d8, "chemistry", ALT_value="130")
    assert response.status_code == 302
    assert response.url == _url(c1d8, "chemistry")
    result = LabResult.objects.get()
    assert (result.test_code, result.value, result.unit, result.uln, result.visit) == (
        "ALT",
        Decimal(130),
        "U/L",
        Decimal(40),
        c1d8,
    )
    assert result.collected_at == dt.datetime(2026, 3, 9, 8, tzinfo=dt.UTC)
    page = client.get(response.url)
    body = page.content.decode()
    assert "Chemistry saved: 1 recorded, 0 corrected." in body
    assert "Alanine aminotransferase increased grade 2" in body
    assert _row(page, "ALT").initial["value"] == "130"
    assert "has no adverse event" not in body


def test_a_grade_3_result_without_a_matching_adverse_event_shows_the_reconciliation_note(
    client, alice, subject, c1d8, ranges
):
    client.force_login(alice)
    assert _save(client, c1d8, "chemistry", ALT_value="250").status_code == 302
    page = client.get(_url(c1d8, "chemistry"))
    assert _row(page, "ALT").reconcile
    assert (
        "Grade 3 Alanine aminotransferase increased has no adverse event of that term within "
        "7 days" in page.content.decode()
    )

    ae_record(
        subject=subject,
        ctcae_term="Alanine aminotransferase increased",
        grade=3,
        onset_on=dt.date(2026, 3, 9),
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("possible", "none")),
        by=alice,
    )
    page = client.get(_url(c1d8, "chemistry"))
    assert not _row(page, "ALT").reconcile
    assert "has no adverse event" not in page.content.decode()


def test_an_impossible_haemoglobin_is_refused_and_nothing_of_the_grid_is_saved(
    client, alice, c1d8, ranges
):
    client.force_login(alice)
    response = _save(
        client,
        c1d8,
        "haematology",
        NEUT_value="2.1",
        PLAT_value="210",
        HGB_value="40",
        WBC_value="-1",
    )
    assert response.status_code == 200
    assert not LabResult.objects.exists()
    hgb, wbc = _row(response, "HGB"), _row(response, "WBC")
    assert hgb.errors["value"] == [
        "HGB 40 g/dL is impossible: a patient's value lies between 0 and 25 g/dL. "
        "Check the value and the unit."
    ]
    assert wbc.errors["value"] == ["WBC cannot be negative (-1 /mm3)."]
    assert not _row(response, "NEUT").errors
    body = response.content.decode()
    assert "Nothing was saved: correct the rows marked below, then save again." in body
    assert 'aria-describedby="HGB-value-error"' in body
    # What was typed stays in the grid.
    assert _row(response, "NEUT")["value"].value() == "2.1"


def test_a_row_the_service_refuses_rolls_back_the_rows_saved_before_it(client, alice, c1d8, ranges):
    client.force_login(alice)
    response = _save(
        client,
        c1d8,
        "haematology",
        NEUT_value="2.1",
        HGB_value="13",
        HGB_collected_at="2026-01-15T08:00",
    )
    assert response.status_code == 200
    assert "is before the informed consent date (2026-02-01)" in str(
        _row(response, "HGB").errors["collected_at"]
    )
    assert not LabResult.objects.exists()
    assert not AuditEvent.objects.filter(model="ecrf.LabResult").exists()


def test_an_implausible_value_is_saved_only_with_an_override_reason(client, alice, c1d8, ranges):
    client.force_login(alice)
    response = _save(client, c1d8, "haematology", HGB_value="21")
    assert response.status_code == 200
    warning = (
        "HGB 21 g/dL is outside the plausible range 4 to 20 g/dL: check the value and the unit."
    )
    assert _row(response, "HGB").warning == warning
    assert response.context["grid"].errors["override_reason"] == [OVERRIDE_REQUIRED]
    assert f"Warning: {warning}" in response.content.decode()
    assert not LabResult.objects.exists()

    response = _save(
        client,
        c1d8,
        "haematology",
        HGB_value="21",
        override_reason="Confirmed by phone with the lab",
    )
    assert response.status_code == 302
    result = LabResult.objects.get()
    assert result.ctcae_term == "Hemoglobin increased"
    accepted = AuditEvent.objects.get(
        object_id=str(result.pk), action="ecrf.labresult.created", field="value"
    )
    assert accepted.reason == f"Warnings accepted ({warning}): Confirmed by phone with the lab"
    assert accepted.actor == "alice"


def test_correcting_a_saved_value_needs_a_reason_and_regrades(client, alice, c1d8, ranges):
    client.force_login(alice)
    assert _save(client, c1d8, "chemistry", ALT_value="130").status_code == 302
    result = LabResult.objects.get()
    assert result.ctcae_grade == 2

    response = _save(client, c1d8, "chemistry", ALT_value="250")
    assert _row(response, "ALT").errors["change_reason"] == [REASON_FOR_CHANGE_REQUIRED]
    result.refresh_from_db()
    assert result.value == Decimal(130)

    response = _save(
        client, c1d8, "chemistry", ALT_value="250", ALT_change_reason="Transcription error"
    )
    assert response.status_code == 302
    result.refresh_from_db()
    assert (result.value, result.ctcae_grade) == (Decimal(250), 3)
    row = AuditEvent.objects.get(object_id=str(result.pk), field="value", old_value="130")
    assert (row.new_value, row.reason) == ("250", "Transcription error")
    body = client.get(response.url).content.decode()
    assert "Chemistry saved: 0 recorded, 1 corrected." in body
    assert "Alanine aminotransferase increased grade 3" in body


def test_saved_rows_left_as_they_are_need_no_reason(client, alice, c1d8, ranges):
    client.force_login(alice)
    assert _save(client, c1d8, "chemistry", ALT_value="130").status_code == 302
    response = _save(client, c1d8, "chemistry", AST_value="30")
    assert response.status_code == 302
    assert LabResult.objects.count() == 2
    assert LabResult.objects.get(test_code="ALT").version == 1


def test_changing_the_unit_takes_that_units_range_when_the_limits_were_left_alone(
    client, alice, c1d8, ranges
):
    client.force_login(alice)
    response = _save(client, c1d8, "haematology", HGB_value="135", HGB_unit="g/L")
    assert response.status_code == 302
    result = LabResult.objects.get()
    assert (result.unit, result.lln, result.uln) == ("g/L", Decimal(120), Decimal(160))
    assert result.ctcae_grade == 0


def test_the_immune_panel_accepts_cd8_and_nk_cells(client, alice, c1d8):
    client.force_login(alice)
    data = _grid(client, c1d8, "immune")
    assert (data["CD8-unit"], data["NK-unit"]) == ("10^9/L", "10^9/L")
    response = _save(
        client,
        c1d8,
        "immune",
        CD4_value="450",
        CD4_lln="500",
        CD8_value="0.45",
        NK_value="180",
        NK_unit="cells/uL",
    )
    assert response.status_code == 302
    saved = {r.test_code: r for r in LabResult.objects.all()}
    assert (saved["CD8"].value, saved["CD8"].unit, saved["CD8"].ctcae_grade) == (
        Decimal("0.45"),
        "10^9/L",
        None,
    )
    assert (saved["NK"].value, saved["NK"].unit) == (Decimal(180), "cells/uL")
    assert (saved["CD4"].ctcae_term, saved["CD4"].ctcae_grade) == ("CD4 lymphocytes decreased", 2)
    assert "Not graded by CTCAE" in client.get(response.url).content.decode()


def test_an_empty_grid_saves_nothing(client, alice, c1d8):
    client.force_login(alice)
    response = _save(client, c1d8, "haematology")
    assert response.status_code == 200
    assert "Nothing to save" in response.content.decode()
    assert not LabResult.objects.exists()


def test_an_unknown_panel_is_not_found(client, alice, c1d8):
    client.force_login(alice)
    assert client.get(_url(c1d8, "urinalysis")).status_code == 404


def test_charlie_of_site_b_gets_404_for_a_site_a_visit(client, charlie, c1d8):
    client.force_login(charlie)
    assert client.get(_url(c1d8, "haematology")).status_code == 404
    assert client.post(_url(c1d8, "haematology"), {"HGB-value": "13"}).status_code == 404
    assert not LabResult.objects.exists()


def test_a_monitor_reads_the_grid_but_gets_403_on_saving(client, study, site_a, alice, c1d8):
    from tests.factories import user_create

    monitor = user_create("mona", "monitor", study, site_a)
    client.force_login(alice)
    data = _grid(client, c1d8, "haematology")
    data["HGB-value"] = "13"
    client.force_login(monitor)
    response = client.get(_url(c1d8, "haematology"))
    assert response.status_code == 200
    assert "can read these results but not change them" in response.content.decode()
    assert client.post(_url(c1d8, "haematology"), data).status_code == 403
    assert not LabResult.objects.exists()


# Results that cannot be graded: saved without a grade, named with why, kept on the open items

WBC_NOT_GRADED = (
    "Leukocytes (WBC) was saved without a CTCAE grade: WBC needs lln: White blood cell "
    "decreased is graded against LLN. It stays on the subject's open items until it is graded."
)


def test_a_panel_with_one_test_lacking_limits_saves_every_result_and_names_the_ungraded_one(
    client, alice, c1d8, ranges
):
    """CTCAE v5.0 'White blood cell decreased' is graded against the LLN: a leukocyte count
    with no limits (site A has no WBC range) cannot be graded, the others can."""
    client.force_login(alice)
    response = _save(
        client,
        c1d8,
        "haematology",
        NEUT_value="0.8",
        PLAT_value="210",
        HGB_value="13",
        WBC_value="5000",
    )
    assert response.status_code == 302
    saved = {r.test_code: r for r in LabResult.objects.all()}
    assert set(saved) == {"NEUT", "PLAT", "HGB", "WBC"}
    assert (saved["NEUT"].ctcae_term, saved["NEUT"].ctcae_grade) == (
        "Neutrophil count decreased",
        3,
    )
    assert (saved["PLAT"].ctcae_grade, saved["HGB"].ctcae_grade) == (0, 0)
    wbc = saved["WBC"]
    assert (wbc.value, wbc.lln, wbc.uln, wbc.ctcae_version, wbc.ctcae_grade) == (
        Decimal(5000),
        None,
        None,
        "",
        None,
    )
    page = client.get(response.url)
    body = html.unescape(page.content.decode())
    assert "Haematology saved: 4 recorded, 0 corrected." in body
    assert WBC_NOT_GRADED in body
    assert _row(page, "WBC").grade_text == "Not graded"
    assert "Not graded: WBC needs lln" in body
    assert _row(page, "NEUT").not_graded is None


def _open_items(client, subject) -> tuple[str, str]:
    """The home page's open items and the casebook's, as the user sees them."""
    home = client.get(reverse("home")).content.decode()
    casebook = client.get(reverse("subject_detail", args=[subject.pk])).content.decode()
    return home.split('id="open-items"')[1].split("</table>")[0], casebook


def test_an_ungraded_result_stays_on_the_open_items_until_its_limit_is_entered(
    client, alice, subject, c1d8, ranges
):
    client.force_login(alice)
    assert _save(client, c1d8, "haematology", WBC_value="5000").status_code == 302
    home, casebook = _open_items(client, subject)
    assert "1 lab result not graded" in home and "A-001" in home
    assert (
        "WBC 5000 /mm3: lab result not graded: WBC needs lln: White blood cell decreased is "
        "graded against LLN." in casebook
    )
    assert f'href="{_url(c1d8, "haematology")}">Correct it</a>' in casebook

    response = _save(
        client,
        c1d8,
        "haematology",
        WBC_lln="4000",
        WBC_uln="10000",
        WBC_change_reason="Limits from the lab report",
    )
    assert response.status_code == 302
    wbc = LabResult.objects.get(test_code="WBC")
    assert (wbc.lln, wbc.ctcae_version, wbc.ctcae_grade) == (Decimal(4000), "5.0", 0)
    assert "without a CTCAE grade" not in client.get(response.url).content.decode()
    home, casebook = _open_items(client, subject)
    assert "not graded" not in home and "No open items." in home
    assert "lab result not graded" not in casebook


def test_a_correction_that_removes_the_limit_a_grade_needs_saves_the_result_ungraded(
    client, alice, c1d8, ranges
):
    client.force_login(alice)
    assert _save(client, c1d8, "chemistry", ALT_value="130").status_code == 302
    response = _save(
        client, c1d8, "chemistry", ALT_uln="", ALT_change_reason="The report gives no range"
    )
    assert response.status_code == 302
    alt = LabResult.objects.get()
    assert (alt.uln, alt.ctcae_term, alt.ctcae_grade) == (None, "", None)
    assert "Alanine aminotransferase (ALT) was saved without a CTCAE grade: ALT needs uln" in (
        client.get(response.url).content.decode()
    )


def test_an_invalid_limit_still_refuses_the_whole_panel(client, alice, c1d8, ranges):
    """A negative LLN is wrong input, not a result that cannot be graded."""
    client.force_login(alice)
    response = _save(client, c1d8, "haematology", WBC_value="5000", HGB_value="13", WBC_lln="-1")
    assert response.status_code == 200
    assert _row(response, "WBC").errors["lln"] == ["WBC lln must not be negative, got -1.0."]
    assert not LabResult.objects.exists()


# A decimal comma


def test_a_decimal_comma_is_read_as_the_decimal_point_in_the_value_and_the_limits(
    client, alice, c1d8, ranges
):
    client.force_login(alice)
    response = _save(
        client, c1d8, "haematology", NEUT_value="4,1", NEUT_lln="1,8", HGB_value="0,95e1"
    )
    # "0,95e1" is not a plain decimal comma: refused, nothing saved.
    assert response.status_code == 200
    assert not LabResult.objects.exists()
    response = _save(client, c1d8, "haematology", NEUT_value="4,1", NEUT_lln="1,8")
    assert response.status_code == 302
    neut = LabResult.objects.get()
    assert (neut.value, neut.lln, neut.uln, neut.ctcae_grade) == (
        Decimal("4.1"),
        Decimal("1.8"),
        Decimal(8),
        0,
    )


def test_a_comma_that_may_separate_thousands_is_refused_with_both_readings(
    client, alice, c1d8, ranges
):
    """A platelet count typed "1,234" might be 1234 or 1.234 (x 10^9/L): never guessed."""
    client.force_login(alice)
    response = _save(client, c1d8, "haematology", PLAT_value="1,234", NEUT_value="2.1")
    assert response.status_code == 200
    assert _row(response, "PLAT").errors["value"] == [
        '"1,234" is ambiguous: the comma may separate thousands or decimals. Write 1234 or 1.234.'
    ]
    assert "Platelets, Value: &quot;1,234&quot; is ambiguous" in response.content.decode()
    response = _save(client, c1d8, "haematology", PLAT_value="1,234.5")
    assert "without thousands separators" in str(_row(response, "PLAT").errors["value"])
    assert not LabResult.objects.exists()
