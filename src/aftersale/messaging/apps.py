from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "aftersale.messaging"
    label = "messaging"
    verbose_name = "Messages"

    def ready(self) -> None:
        from aftersale.core.tasks import register_poller
        from aftersale.messaging.sending import send_due_messages

        register_poller("messaging.send_due", send_due_messages)

        from anymail.signals import tracking

        from aftersale.messaging.provider_events import on_tracking_event

        tracking.connect(on_tracking_event, dispatch_uid="aftersale.messaging.tracking")
