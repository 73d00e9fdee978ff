from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "aftersale.messaging"
    label = "messaging"
    verbose_name = "Messages"

    def ready(self) -> None:
        from aftersale.core.tasks import register_poller
        from aftersale.messaging.sending import send_due_messages

        register_poller("messaging.send_due", send_due_messages)
