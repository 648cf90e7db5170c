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


def test_a_production_deploy_check_is_clean():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DJANGO_SETTINGS_MODULE": "trial.settings",
            "DJANGO_SECRET_KEY": "k7#Jq2!vX9@mP4$wL8^nR3&tY6*zB1(cF5)hD0-gS2=eU7+iOaQ",
            "DJANGO_ALLOWED_HOSTS": "ecrf.example.org",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("raw", ["maybe", "2", "TRUEISH"])
def test_a_boolean_setting_refuses_an_unclear_value(monkeypatch, raw):
    monkeypatch.setenv("DJANGO_TEST_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_TEST_FLAG"):
        envbool("DJANGO_TEST_FLAG")


def test_an_integer_setting_refuses_text(monkeypatch):
    monkeypatch.setenv("DJANGO_TEST_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_TEST_NUMBER must be an integer"):
        envint("DJANGO_TEST_NUMBER", 3)
