"""Security: passwords, sign-in lockout, idle sessions, headers and CSP, second factor, no deletes.

Alice is a research nurse at site A, Bob an investigator at site A, Dana a data manager.
"""

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from uuid import uuid4

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.contrib.auth.password_validation import get_password_validators, validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ecrf import urls as ecrf_urls
from ecrf.auth.enrolment import two_factor_token_issue
from ecrf.services.audit import system_actor
from ecrf.views.two_factor import OPEN_BEFORE_VERIFICATION, WRONG_CODE
from trial import settings as production

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


# Passwords ------------------------------------------------------------------------------------


def test_production_hashes_passwords_with_argon2():
    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    hasher = Argon2PasswordHasher()
    encoded = hasher.encode(PASSWORD, hasher.salt())
    assert encoded.startswith("argon2$argon2id$")
    assert hasher.verify(PASSWORD, encoded)
    assert not hasher.verify("wrong password", encoded)


@pytest.mark.parametrize(
    "password", ["short pw 1", "password1234", "839201746528", "alice.nurse.2026"]
)
def test_production_refuses_weak_passwords(password):
    validators = get_password_validators(production.AUTH_PASSWORD_VALIDATORS)
    user = get_user_model()(username="alice.nurse.2026")
    with pytest.raises(ValidationError):
        validate_password(password, user=user, password_validators=validators)


def test_production_accepts_a_long_uncommon_password():
    validators = get_password_validators(production.AUTH_PASSWORD_VALIDATORS)
    validate_password("imatinib on days 1 to 14", password_validators=validators)


# Sign-in lockout (django-axes) ----------------------------------------------------------------


def _sign_in(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_five_failures_lock_the_user_out_even_with_the_right_password(client, alice):
    for attempt in range(1, 5):
        response = _sign_in(client, "alice", "wrong password")
        assert response.status_code == 200, attempt
        assert "Please enter a correct username and password" in response.text
    # The fifth failure locks the account at once.
    assert _sign_in(client, "alice", "wrong password").status_code == 429

    response = _sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert not _signed_in(client)
    text = " ".join(response.text.split())
    assert "Sign-in locked" in text
    assert "Too many failed sign-in attempts for <strong>alice</strong> (5 in a row)" in text
    assert "locked for 30 minutes, even with the right password" in text
    assert client.get(reverse("home")).status_code == 302


def test_a_lockout_is_for_one_user_name_from_every_address(client, alice, bob):
    # Keyed on the user name alone: behind a reverse proxy every client shares one address.
    for _ in range(5):
        _sign_in(client, "alice", "wrong password", address="10.0.0.1")
    assert _sign_in(client, "bob", PASSWORD, address="10.0.0.1").status_code == 302
    other = Client()
    assert _sign_in(other, "alice", PASSWORD, address="10.0.0.2").status_code == 429
    assert not _signed_in(other)


def test_the_lock_lifts_after_the_cool_off_period(client, alice):
    for _ in range(5):
        _sign_in(client, "alice", "wrong password")
    assert _sign_in(client, "alice", PASSWORD).status_code == 429
    # The attempts were made 31 minutes ago.
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=31))
    assert _sign_in(client, "alice", PASSWORD).status_code == 302
    assert _signed_in(client)


def test_a_successful_sign_in_clears_the_failures(client, alice):
    for _ in range(4):
        _sign_in(client, "alice", "wrong password")
    assert _sign_in(client, "alice", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        _sign_in(client, "alice", "wrong password")
    assert _sign_in(client, "alice", PASSWORD).status_code == 302


def test_the_lockout_settings_are_the_documented_ones():
    assert settings.AXES_ENABLED is True
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 30 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


# Idle sessions --------------------------------------------------------------------------------


def test_sessions_last_30_minutes_from_the_last_request(client, alice):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    response = _sign_in(client, "alice", PASSWORD)
    assert int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == 30 * 60

    # Ten seconds are left; a request starts the 30 minutes again.
    session = Session.objects.get(session_key=client.session.session_key)
    session.expire_date = timezone.now() + dt.timedelta(seconds=10)
    session.save(update_fields=["expire_date"])
    assert client.get(reverse("home")).status_code == 200
    session.refresh_from_db()
    left = session.expire_date - timezone.now()
    assert dt.timedelta(minutes=29) < left <= dt.timedelta(minutes=30)


def test_a_session_idle_for_30_minutes_is_over(client, alice):
    _sign_in(client, "alice", PASSWORD)
    assert client.get(reverse("home")).status_code == 200
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get(reverse("subject_list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# Headers and Content Security Policy ----------------------------------------------------------


class ScriptTags(HTMLParser):
    """Collect the attributes of every <script> element of a page."""

    def __init__(self):
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs))


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def _pages(subject, visit, data_manager_client, nurse_client, investigator_client):
    yield Client(), reverse("login")
    for url in (
        reverse("home"),
        reverse("subject_list"),
        reverse("subject_detail", args=[subject.pk]),
        reverse("dose_create", args=[subject.pk]),
        reverse("ae_create", args=[subject.pk]),
        reverse("lab_grid", args=[visit.pk, "haematology"]),
        reverse("visit_edit", args=[visit.pk]),
    ):
        yield nurse_client, url
    yield investigator_client, reverse("dlt_dashboard")
    yield data_manager_client, reverse("admin:index")
    yield data_manager_client, reverse("admin:ecrf_subject_changelist")
    yield data_manager_client, reverse("admin:ecrf_subject_change", args=[subject.pk])


def test_every_page_sends_the_security_headers_and_runs_no_inline_script(
    alice, bob, data_manager, subject
):
    nurse, investigator, manager = Client(), Client(), Client()
    nurse.force_login(alice)
    investigator.force_login(bob)
    manager.force_login(data_manager)
    visit = subject.visits.get(label="C1D8")
    for client, url in _pages(subject, visit, manager, nurse, investigator):
        response = client.get(url)
        assert response.status_code == 200, url
        policy = _policy(response)
        assert policy["script-src"] == ["'self'"], url
        assert policy["default-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"], url
        assert policy["frame-ancestors"] == ["'none'"], url
        assert "'unsafe-inline'" not in response["Content-Security-Policy"].replace(
            "style-src-attr 'unsafe-inline'", ""
        ), url
        assert "'unsafe-eval'" not in response["Content-Security-Policy"], url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url

        parser = ScriptTags()
        parser.feed(response.text)
        assert parser.scripts, url
        for script in parser.scripts:
            # Data for the scripts travels in json_script blocks, which browsers never run.
            assert script.get("src") or script.get("type") == "application/json", (url, script)


def test_pages_over_https_send_strict_transport_security(client):
    response = client.get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    assert settings.SESSION_COOKIE_HTTPONLY and settings.CSRF_COOKIE_HTTPONLY


def _template_files():
    dirs = [ROOT / "templates", *(ROOT / "ecrf").glob("**/templates")]
    return sorted(path for folder in dirs for path in folder.glob("**/*.html"))


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_holds_an_inline_script_or_event_handler():
    templates = _template_files()
    assert len(templates) > 10
    for path in templates:
        text = path.read_text()
        assert not INLINE_SCRIPT.search(text), f"inline <script> in {path.relative_to(ROOT)}"
        assert not INLINE_HANDLER.search(text), f"inline on...= handler in {path.relative_to(ROOT)}"


def test_the_template_scan_finds_an_inline_script():
    assert INLINE_SCRIPT.search("{% block scripts %}<script>alert(1)</script>{% endblock %}")
    assert INLINE_SCRIPT.search('<script type="module">run()</script>')
    assert not INLINE_SCRIPT.search("<script src=\"{% static 'ecrf/tabs.js' %}\"></script>")
    assert INLINE_HANDLER.search('<button onclick="go()">')


# Second factor (django-otp) -------------------------------------------------------------------


def _every_ecrf_url() -> list[str]:
    """One URL for every named route of the eCRF, with made-up ids: the gate runs before lookup."""
    samples = {
        "UUIDConverter": uuid4,
        "StringConverter": lambda: "haematology",
        "SlugConverter": lambda: "haematology",
        "IntConverter": lambda: 1,
        "PathConverter": lambda: "x",
    }
    urls = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                if pattern.name in OPEN_BEFORE_VERIFICATION:
                    continue
                converters = pattern.pattern.converters
                kwargs = {name: samples[type(conv).__name__]() for name, conv in converters.items()}
                urls.append(reverse(pattern.name, kwargs=kwargs))

    walk(ecrf_urls.urlpatterns)
    return urls


@pytest.fixture
def two_factor_required(settings):
    settings.REQUIRE_TWO_FACTOR = True


def _verification_redirect(response) -> bool:
    return response.status_code == 302 and response.url.startswith(f"{reverse('two_factor')}?next=")


def test_an_unverified_investigator_reaches_no_page(two_factor_required, client, bob, subject):
    client.force_login(bob)
    urls = [*_every_ecrf_url(), reverse("admin:index")]
    assert len(urls) > 10
    for url in urls:
        assert _verification_redirect(client.get(url)), url
    # Nor can anything be sent.
    response = client.post(reverse("cycle_delay", args=[subject.pk]), {"reason": "x"})
    assert _verification_redirect(response)


def test_an_unverified_data_manager_reaches_no_admin_page(
    two_factor_required, client, data_manager
):
    client.force_login(data_manager)
    for url in (reverse("admin:index"), reverse("admin:ecrf_subject_changelist"), "/"):
        assert _verification_redirect(client.get(url)), url


def test_a_nurse_needs_no_second_factor(two_factor_required, client, alice):
    client.force_login(alice)
    assert client.get(reverse("home")).status_code == 200


def test_the_second_factor_is_off_in_the_test_settings(client, bob):
    assert settings.REQUIRE_TWO_FACTOR is False
    client.force_login(bob)
    assert client.get(reverse("home")).status_code == 200


def test_an_investigator_enrols_an_authenticator_app_on_first_use(two_factor_required, client, bob):
    client.force_login(bob)
    home = reverse("subject_list")
    response = client.get(home)
    assert _verification_redirect(response)
    # The page first asks for the enrolment token an administrator issued (no key without it).
    assert "otpauth://" not in client.get(response.url).text
    issued = two_factor_token_issue(user=bob, by=system_actor("test"))
    page = client.post(response.url, {"enrolment_token": issued.token, "next": home}, follow=True)
    device = TOTPDevice.objects.get(user=bob)
    assert not device.confirmed
    secret = page.context["secret"]
    assert secret and secret in page.text
    assert "otpauth://totp/Phase%20I%20eCRF%3Abob?secret=" + secret in page.text
    # Opening the page again shows the same key until the app is confirmed.
    assert client.get(response.url).context["secret"] == secret

    response = client.post(
        reverse("two_factor"), {"token": f"{totp(device.bin_key):06d}", "next": home}
    )
    assert response.status_code == 302
    assert response.url == home
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(home).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302  # not staff: admin login


def _wrong_token(device: TOTPDevice) -> str:
    valid = {totp(device.bin_key, drift=drift) for drift in range(-2, 3)}
    return next(f"{n:06d}" for n in range(1000000) if n not in valid)


@pytest.fixture
def bobs_app(bob):
    return TOTPDevice.objects.create(user=bob, name="Authenticator app", confirmed=True)


def test_a_correct_code_lets_the_investigator_in(two_factor_required, client, bob, bobs_app):
    client.force_login(bob)
    page = client.get(reverse("two_factor"))
    assert "Enter your code" in page.text
    assert b"otpauth://" not in page.content
    assert bobs_app.key not in page.text
    response = client.post(
        reverse("two_factor"),
        {"token": f"{totp(bobs_app.bin_key):06d}", "next": reverse("dlt_dashboard")},
    )
    assert response.url == reverse("dlt_dashboard")
    for url in (reverse("home"), reverse("subject_list"), reverse("dlt_dashboard")):
        assert client.get(url).status_code == 200, url


def test_a_wrong_code_is_refused(two_factor_required, client, bob, bobs_app):
    client.force_login(bob)
    response = client.post(reverse("two_factor"), {"token": _wrong_token(bobs_app)})
    assert response.status_code == 200
    assert WRONG_CODE in response.text
    assert _verification_redirect(client.get(reverse("home")))
    response = client.post(reverse("two_factor"), {"token": "12ab"})
    assert "Enter the 6 digits the app shows." in response.text


def test_the_code_page_sends_nobody_to_another_site(two_factor_required, client, bob, bobs_app):
    client.force_login(bob)
    response = client.post(
        reverse("two_factor"),
        {"token": f"{totp(bobs_app.bin_key):06d}", "next": "https://evil.example/"},
    )
    assert response.url == reverse("home")


# The admin deletes nothing --------------------------------------------------------------------


def test_the_admin_cannot_delete_any_clinical_or_audit_record(db):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    request = RequestFactory().get("/admin/")
    request.user = root
    client = Client()
    client.force_login(root)
    ecrf_admins = {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "ecrf"
    }
    assert len(ecrf_admins) >= 15
    for model, model_admin in ecrf_admins.items():
        name = model.__name__
        assert not model_admin.has_delete_permission(request), name
        assert "delete_selected" not in model_admin.get_actions(request), name
        for inline in model_admin.get_inline_instances(request):
            assert not inline.can_delete, (name, type(inline).__name__)
        url = reverse(f"admin:ecrf_{model._meta.model_name}_delete", args=["1"])
        assert client.post(url, {"post": "yes"}).status_code == 403, name
