from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "aftersale.integrations"
    label = "integrations"
    verbose_name = "Shop integrations"
