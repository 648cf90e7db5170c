"""Settings come from the environment; production refuses to start without a secret key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from trial.settings import envbool, envint

ROOT = Path(__file__).resolve().parent.parent


def _manage(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "trial.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage({})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_is_off_unless_asked_for():
    script = "from django.conf import settings; print('DEBUG', settings.DEBUG)"
    result = _manage({"DJANGO_SECRET_KEY": "x" * 50}, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


def test_development_runs_without_any_variable_but_debug():
    result = _manage({"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


PRODUCTION = {
    "DJANGO_SECRET_KEY": "k7#Jq2!vX9@mP4$wL8^nR3&tY6*zB1(cF5)hD0-gS2=eU7+iOaQ",
    "DJANGO_ALLOWED_HOSTS": "ecrf.example.org",
    "DATABASE_URL": "postgres://ecrf@127.0.0.1:5432/ecrf",
}


def test_a_production_deploy_check_is_clean():
    # A subprocess: settings are read from the environment when they are imported.
    result = _manage(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    # The one silenced check is axes.W006 (the lock is keyed on the user name alone, on purpose:
    # tests/auth/test_sign_in_lock.py shows that rotating addresses or agents does not get round it).
    assert "System check identified no issues (1 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_a_deploy_check_without_https_settings_is_not_clean():
    result = _manage(
        {**PRODUCTION, "DJANGO_SECURE_COOKIES": "0", "DJANGO_HSTS_SECONDS": "0"},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "security.W012" in result.stderr


def _settings(env: dict[str, str], *names: str) -> list[str]:
    script = "from django.conf import settings; " + "; ".join(
        f"print('SETTING', repr(settings.{name}))" for name in names
    )
    result = _manage(env, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    return [
        line.removeprefix("SETTING ")
        for line in result.stdout.splitlines()
        if line.startswith("SETTING ")
    ]


def test_production_requires_a_second_factor_and_development_does_not():
    assert _settings(PRODUCTION, "REQUIRE_TWO_FACTOR") == ["True"]
    assert _settings({"DJANGO_DEBUG": "1"}, "REQUIRE_TWO_FACTOR") == ["False"]
    assert _settings({**PRODUCTION, "DJANGO_REQUIRE_2FA": "0"}, "REQUIRE_TWO_FACTOR") == ["False"]


def test_the_idle_session_length_and_the_lockout_come_from_the_environment():
    assert _settings(PRODUCTION, "SESSION_COOKIE_AGE", "AXES_FAILURE_LIMIT") == ["1800", "5"]
    env = {
        **PRODUCTION,
        "DJANGO_SESSION_COOKIE_AGE": "600",
        "DJANGO_LOGIN_FAILURE_LIMIT": "3",
        "DJANGO_LOGIN_COOLOFF_MINUTES": "60",
    }
    assert _settings(env, "SESSION_COOKIE_AGE", "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME") == [
        "600",
        "3",
        "datetime.timedelta(seconds=3600)",
    ]


def test_pooled_database_connections_are_health_checked_before_reuse():
    names = "DATABASES['default']['CONN_HEALTH_CHECKS']", "DATABASES['default']['CONN_MAX_AGE']"
    assert _settings(PRODUCTION, *names) == ["True", "60"]
    assert _settings({"DJANGO_DEBUG": "1"}, *names) == ["True", "60"]


def test_the_only_silenced_check_is_the_axes_user_name_lock_warning():
    assert _settings(PRODUCTION, "SILENCED_SYSTEM_CHECKS", "AXES_LOCKOUT_PARAMETERS") == [
        "['axes.W006']",
        "['username']",
    ]


def test_the_content_security_policy_applies_in_development_too():
    (policy,) = _settings(
        {"DJANGO_DEBUG": "1"}, "CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src']"
    )
    assert policy == "[\"'self'\"]"


@pytest.mark.parametrize("raw", ["maybe", "2", "TRUEISH"])
def test_a_boolean_setting_refuses_an_unclear_value(monkeypatch, raw):
    monkeypatch.setenv("DJANGO_TEST_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_TEST_FLAG"):
        envbool("DJANGO_TEST_FLAG")


def test_an_integer_setting_refuses_text(monkeypatch):
    monkeypatch.setenv("DJANGO_TEST_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_TEST_NUMBER must be an integer"):
        envint("DJANGO_TEST_NUMBER", 3)
