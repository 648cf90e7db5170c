"""WSGI entry point (gunicorn trial.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial.settings")
application = get_wsgi_application()
