from pathlib import Path

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "aftersale.reviews"
    label = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        # kinds: the review request page link and the merchant-reply message.
        from aftersale.messaging.message_templates import register_default_templates
        from aftersale.reviews import kinds  # noqa: F401

        register_default_templates(Path(__file__).parent / "message_defaults")
