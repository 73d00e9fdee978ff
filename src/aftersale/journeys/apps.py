from datetime import timedelta

from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "aftersale.journeys"
    label = "journeys"
    verbose_name = "Journeys"

    def ready(self) -> None:
        from aftersale.core.events import subscribe
        from aftersale.core.tasks import register_periodic, register_poller
        from aftersale.journeys.definition import discover_triggers
        from aftersale.journeys.fields import discover_fields
        from aftersale.journeys.runner import run_due_steps
        from aftersale.journeys.services import handle_event
        from aftersale.journeys.tasks import run_scheduled_triggers

        discover_fields()
        added = discover_triggers()
        patterns = {"order.*", "shipment.*", "refund.*", "customer.*"}
        patterns.update(f"{name.split('.', 1)[0]}.*" for name in added)
        for pattern in sorted(patterns):
            subscribe(pattern, name="journeys.handle_event")(handle_event)
        register_poller("journeys.run_due", run_due_steps)
        register_periodic("journeys.scheduled_triggers", timedelta(hours=1), run_scheduled_triggers)
