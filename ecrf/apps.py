from django.apps import AppConfig


class EcrfConfig(AppConfig):
    name = "ecrf"
    verbose_name = "Phase I eCRF"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After the admin's autodiscovery (django.contrib.admin comes first in INSTALLED_APPS):
        # the second-factor actions join whichever user admin is registered by then.
        from . import admin_users

        admin_users.register()
