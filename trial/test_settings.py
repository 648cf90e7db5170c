"""Settings for the test suite: production settings with a throwaway secret key."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-never-used-in-production")

from .settings import *  # noqa: F403

# Tests do not serve over HTTPS; the production cookie and redirect settings stay as they are
# otherwise, so the suite runs what production runs.
SECURE_SSL_REDIRECT = False
# Argon2 is deliberately slow; the suite hashes passwords for many personas.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Static files come straight from the app folders: the suite does not run collectstatic.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The second factor is tested where it is switched on (tests/test_security.py); elsewhere the
# suite signs users in with force_login and no code, unless DJANGO_REQUIRE_2FA asks for it.
REQUIRE_TWO_FACTOR = envbool("DJANGO_REQUIRE_2FA", False)  # noqa: F405
