from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "aftersale.feedback"
    label = "feedback"
    verbose_name = "Feedback"
