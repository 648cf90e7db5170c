from django.apps import AppConfig


class EcrfConfig(AppConfig):
    name = "ecrf"
    verbose_name = "Phase I eCRF"
    default_auto_field = "django.db.models.BigAutoField"
