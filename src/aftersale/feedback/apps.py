from pathlib import Path

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "aftersale.feedback"
    label = "feedback"
    verbose_name = "Feedback"

    def ready(self) -> None:
        # kinds: the survey messages and the merchant's detractor alert (and the survey page behind
        # feedback_request); subscriptions: a detractor who orders again is recovered.
        from aftersale.feedback import kinds, subscriptions  # noqa: F401
        from aftersale.messaging.message_templates import register_default_templates

        register_default_templates(Path(__file__).resolve().parent / "message_defaults")
