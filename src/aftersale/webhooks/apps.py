from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "aftersale.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"
