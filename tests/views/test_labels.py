"""Words the pages show: a DLT status by its label, the automatic checks as the "Edit check",
the subject's sex never preselected, and the site's icon."""

import datetime as dt
from decimal import Decimal

from django.urls import reverse

from ecrf.models import DataQuery, DltAssessment
from ecrf.services import ae_record, lab_record
from tests.factories import POSSIBLY_IL2


def test_the_dashboard_names_a_ruled_out_dlt_ruled_out(client, subject, alice, bob):
    from ecrf.services.dlt import dlt_decide

    nausea = ae_record(subject=subject, ctcae_term="Nausea", grade=3,
                       onset_on=dt.date(2026, 3, 13), assessments=POSSIBLY_IL2, by=alice)  # fmt: skip
    dlt_decide(
        assessment=DltAssessment.objects.get(adverse_event=nausea), decision="ruled_out",
        reason="Resolved with antiemetics", by=bob, password="correct horse battery",
    )  # fmt: skip
    client.force_login(bob)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "Nausea G3: Ruled out" in page
    assert "Ruledout" not in page


def test_an_automatic_query_is_raised_by_the_edit_check(client, subject, alice, monitor):
    lab_record(subject=subject, test_code="ALT", value=Decimal(250), unit="U/L", uln=Decimal(40),
               collected_at=dt.datetime(2026, 3, 9, 8, tzinfo=dt.UTC), by=alice)  # fmt: skip
    query = DataQuery.objects.get(subject=subject)
    assert query.cause  # automatic
    client.force_login(monitor)
    detail = client.get(reverse("query_detail", args=[query.pk])).content.decode()
    assert "<strong>Edit check</strong>" in detail
    assert "command:" not in detail
    listing = client.get(reverse("query_list")).content.decode()
    assert "Edit check" in listing


def test_the_screening_form_preselects_no_sex(client, alice, study):
    client.force_login(alice)
    url = reverse("subject_register", args=[study.pk])
    page = client.get(url).content.decode()
    sex = page.split('name="sex"')[1].split("</select>")[0]
    assert '<option value="" selected>Choose the sex</option>' in sex
    assert sex.count("selected") == 1
    response = client.post(url, {"site": study.sites.get(code="A").pk, "consent_on": "2026-10-01"})
    assert "Choose the subject&#x27;s sex" in response.content.decode()


def test_every_page_names_the_site_icon(client, alice):
    client.force_login(alice)
    page = client.get(reverse("home")).content.decode()
    assert '<link rel="icon" href="/static/ecrf/favicon.svg"' in page
    icon = client.get("/static/ecrf/favicon.svg")
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
    icon.close()
