"""Settings for the eCRF, read from environment variables.

DEBUG is off unless DJANGO_DEBUG asks for it. Without DEBUG the application refuses to start
unless DJANGO_SECRET_KEY is set.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import xstatic.pkg.bootstrap
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable; refuse values that are not clearly yes or no."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}"
    )


def envint(name: str, default: int) -> int:
    """Read an integer environment variable; refuse values that are not integers."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from exc


def envlist(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated environment variable."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = envbool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (for example to the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), "
            "or set DJANGO_DEBUG=1 for local development."
        )
    # Development only: DEBUG is on, so this key never protects production data.
    SECRET_KEY = "development-only-key-not-for-production"  # noqa: S105

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_tasks",
    # The database backend's table; installed with the RQ backend too, so that the migrations
    # are the same whichever backend runs.
    "django_tasks_db",
    "ecrf",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the parameters: a NUL in them is a 400, not a database error.
    "ecrf.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Cache-Control: no-store on every response to a signed-in user (ecrf/auth/middleware.py).
    "ecrf.auth.middleware.NoStoreForSignedInUsersMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "ecrf.views.two_factor.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "trial.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "trial.wsgi.application"

# A pooled connection is checked before a request reuses it, so that after a database restart
# the first request on each worker reconnects instead of failing on the dead connection.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=envint("DJANGO_DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks every sign-in first and refuses it while the user name is locked out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    ("bootstrap", xstatic.pkg.bootstrap.BASE_DIR),
    BASE_DIR / "static",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Background jobs (ecrf/tasks.py): the safety summary, the casebook PDF and the exports. By default
# the database backend: `manage.py db_worker` runs them and no other server is needed. With
# REDIS_URL set, the RQ backend: `manage.py rqworker --job-class django_tasks_rq.Job default`
# runs them, on this machine or another one that reaches the same database and Redis.
REDIS_URL = os.environ.get("REDIS_URL", "")
# The queue the report jobs go to; the workers take "default" unless told another.
REPORT_JOB_QUEUE = os.environ.get("DJANGO_REPORT_JOB_QUEUE", "default")
# The tasks are declared on "default" (ecrf/tasks.py), so it is always a valid queue.
TASK_QUEUES = sorted({"default", REPORT_JOB_QUEUE})
if REDIS_URL:
    INSTALLED_APPS.insert(INSTALLED_APPS.index("ecrf"), "django_rq")
    RQ_QUEUES = {queue: {"URL": REDIS_URL} for queue in TASK_QUEUES}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": TASK_QUEUES}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": TASK_QUEUES}}
# The files the jobs write: a private directory, never served as static files; only the job's
# download view reads it, for the user who asked. A file is kept REPORT_FILE_HOURS, then
# `manage.py report_jobs_sweep` removes it.
REPORTS_DIR = Path(os.environ.get("DJANGO_REPORTS_DIR", BASE_DIR / "var" / "reports"))
REPORT_FILE_HOURS = envint("DJANGO_REPORT_FILE_HOURS", 24)
# A running job renews its lease every third of this; a job whose lease ran out has lost its
# worker (killed, machine gone) and is shown failed.
REPORT_JOB_LEASE_SECONDS = envint("DJANGO_REPORT_JOB_LEASE_SECONDS", 60)

# Bootstrap calls the error alert "danger".
MESSAGE_TAGS = {40: "danger"}

# Widgets render through Jinja2 (ecrf/forms/renderer.py); crispy-forms lays the fields out with
# the project's lighter field template (templates/bootstrap5/field.html).
FORM_RENDERER = "ecrf.forms.renderer.FormRenderer"
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Sessions end after 30 minutes without a request; every request starts the 30 minutes again.
SESSION_COOKIE_AGE = envint("DJANGO_SESSION_COOKIE_AGE", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("DJANGO_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (django-csp), in every environment: scripts come only from the
# application's own static files, never inline. Bootstrap's stylesheet draws its form controls
# with data: SVG images. Style attributes stay allowed (style-src-attr) because a few tables set
# column widths with them; <style> elements and foreign stylesheets do not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Sign-in throttling (django-axes): after DJANGO_LOGIN_FAILURE_LIMIT failed attempts for one user
# name, from any address, that user name is refused for the cool-off period, even with the right
# password. Keyed on the user name alone: behind a reverse proxy every client has the proxy's
# address, so a lock on the address would let anyone lock everyone out. Wrong passwords typed to
# sign data or to change the password count too (ecrf/auth/lockout.py). A successful sign-in
# clears the count.
AXES_FAILURE_LIMIT = envint("DJANGO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("DJANGO_LOGIN_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 warns that without the address, rotating user agents or cookies gets round the lock.
# Not so here: the count is summed over every attempt for the user name, whatever the agent
# (tests/auth/test_sign_in_lock.py rotates agents and addresses and is still locked out).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Lockouts are still logged as warnings; the per-request and start-up lines are not.
AXES_VERBOSE = False

# Second factor (django-otp, TOTP) for investigators, data managers, staff and superusers: on by
# default in production, off by default with DEBUG. See ecrf/views/two_factor.py. First enrolment
# needs a one-time token an administrator issues, valid DJANGO_2FA_ENROLMENT_HOURS.
REQUIRE_TWO_FACTOR = envbool("DJANGO_REQUIRE_2FA", not DEBUG)
OTP_TOTP_ISSUER = os.environ.get("DJANGO_OTP_ISSUER", "Phase I eCRF")
TWO_FACTOR_ENROLMENT_HOURS = envint("DJANGO_2FA_ENROLMENT_HOURS", 72)
# The admin never shows a device's key or QR code: a key is seen once, by its owner, at enrolment.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # Failed sign-ins and lockouts are warnings; every successful sign-in need not be logged.
    "loggers": {"axes": {"level": os.environ.get("DJANGO_AXES_LOG_LEVEL", "WARNING")}},
}
