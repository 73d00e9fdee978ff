from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "aftersale.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"

    def ready(self) -> None:
        from aftersale.core.events import subscribe
        from aftersale.webhooks.services import fan_out

        subscribe("*", name="webhooks.fan_out")(fan_out)
