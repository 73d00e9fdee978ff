from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "aftersale.customers"
    label = "customers"
