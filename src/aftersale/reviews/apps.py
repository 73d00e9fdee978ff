from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "aftersale.reviews"
    label = "reviews"
    verbose_name = "Reviews"
