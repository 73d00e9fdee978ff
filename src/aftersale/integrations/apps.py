from datetime import timedelta

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "aftersale.integrations"
    label = "integrations"
    verbose_name = "Shop integrations"

    def ready(self) -> None:
        from aftersale.core.tasks import register_periodic
        from aftersale.integrations.tasks import purge_inbound_payloads

        register_periodic(
            "integrations.purge_inbound_payloads", timedelta(hours=1), purge_inbound_payloads
        )
