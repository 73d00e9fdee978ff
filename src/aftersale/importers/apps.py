from django.apps import AppConfig


class ImportersConfig(AppConfig):
    name = "aftersale.importers"
    label = "importers"
    verbose_name = "Imports"
