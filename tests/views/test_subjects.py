"""The home page and casebook: Alice and Bob see site A, Charlie (site B) sees none of it."""

import pytest
from django.urls import reverse


def test_an_anonymous_visitor_is_sent_to_sign_in(client, subject):
    for url in (reverse("home"), reverse("subject_detail", args=[subject.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_alice_sees_her_sites_subjects_and_not_site_b(client, alice, subject, subject_b):
    client.force_login(alice)
    page = client.get(reverse("subject_list")).content.decode()
    assert "A-001" in page and "B-001" not in page


def test_charlie_gets_404_for_a_site_a_casebook(client, charlie, subject):
    client.force_login(charlie)
    assert client.get(reverse("subject_detail", args=[subject.pk])).status_code == 404
    assert "A-001" not in client.get(reverse("subject_list")).content.decode()
    assert "A-001" not in client.get(reverse("home")).content.decode()


def test_bob_reads_the_casebook_of_his_site(client, bob, subject):
    client.force_login(bob)
    response = client.get(reverse("subject_detail", args=[subject.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "A-001" in body and "C1D8" in body and "IL-2 3 MIU/day" in body


def test_urls_carry_uuids_not_subject_ids(subject):
    url = reverse("subject_detail", args=[subject.pk])
    assert str(subject.pk) in url and "A-001" not in url


@pytest.mark.django_db
def test_the_login_page_serves_bootstrap_from_the_project(client):
    page = client.get(reverse("login")).content.decode()
    assert "/static/bootstrap/css/bootstrap.min.css" in page
    assert "cdn" not in page.lower()
    css = client.get("/static/bootstrap/css/bootstrap.min.css")
    try:
        assert css.status_code == 200
        assert b"Bootstrap" in b"".join(css.streaming_content)[:200]
    finally:
        css.close()
