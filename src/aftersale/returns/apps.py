from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "aftersale.returns"
    label = "returns"
    verbose_name = "Returns"

    def ready(self) -> None:
        # kinds: the messages a return sends (portal side); subscriptions: what returns does when
        # other apps' events arrive (a return parcel's first scan, a platform's refund …).
        from aftersale.returns import kinds, subscriptions  # noqa: F401
