from datetime import timedelta

from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "aftersale.tracking"
    label = "tracking"

    def ready(self) -> None:
        from aftersale.core.tasks import register_periodic
        from aftersale.tracking.tasks import scan_shipment_issues

        register_periodic(
            "tracking.scan_shipment_issues", timedelta(minutes=15), scan_shipment_issues
        )
