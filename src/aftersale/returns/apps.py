from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "aftersale.returns"
    label = "returns"
    verbose_name = "Returns"

    def ready(self) -> None:
        # kinds: the messages a return sends (portal side); subscriptions: what returns does when
        # other apps' events arrive (a return parcel's first scan, a platform's refund …).
        from aftersale.core.links import register_order_link
        from aftersale.returns import kinds, subscriptions  # noqa: F401
        from aftersale.returns.portal import tracking_page_link

        register_order_link(tracking_page_link)
