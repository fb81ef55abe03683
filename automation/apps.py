from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = "Automation"
    default_auto_field = "django.db.models.BigAutoField"
