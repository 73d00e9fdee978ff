import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client

from aftersale.core.models import ApiKey, OutboxEvent, Store
from aftersale.customers.models import Customer
from aftersale.demo.generator import (
    DEMO_STORE_SLUG,
    SECOND_STORE_SLUG,
    demo_setup_access,
    seed_demo,
)
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment, TrackingEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    return seed_demo(customers=200, orders=600, seed=7, progress=False)


def test_seed_builds_two_separate_stores_with_history(seeded):
    demo = Store.objects.get(slug=DEMO_STORE_SLUG)
    second = Store.objects.get(slug=SECOND_STORE_SLUG)
    orders = Order.objects.filter(store=demo)

    assert (demo.currency, second.currency) == ("EUR", "BRL")
    assert Customer.objects.filter(store=demo).count() == 200
    generated = orders.filter(source="demo").exclude(external_id__startswith="exchange-")
    assert generated.count() == 600 + 3  # + the live orders
    # Exchanges of demo returns made replacement orders of their own.
    assert orders.filter(external_id__startswith="exchange-").exists()
    assert not Order.objects.filter(store=second, customer__store=demo).exists()
    assert not Order.objects.filter(store=second).exclude(currency="BRL").exists()
    repeaters = orders.values("customer").annotate(n=Count("id")).filter(n__gte=5).count()
    assert repeaters >= 5
    late = Shipment.objects.filter(store=demo, delivered_at__isnull=False).extra(
        where=["date(delivered_at) > promised_delivery_date"]
    )
    assert late.exists()
    assert Shipment.objects.filter(store=demo, status="exception").exists()
    assert TrackingEvent.objects.filter(shipment__store=demo).count() > 4 * 500
    assert orders.filter(channel="in_store").exists()
    assert orders.filter(status="cancelled").exists()
    # The historical seed fires no events; the few live changes do.
    assert 0 < OutboxEvent.objects.filter(store=demo).count() < 50


def test_seed_is_idempotent_and_deterministic(seeded):
    again = seed_demo(customers=200, orders=600, seed=7, progress=False)
    assert again.created == {}
    assert sorted(again.skipped) == sorted([DEMO_STORE_SLUG, SECOND_STORE_SLUG])
    totals = list(
        Order.objects.filter(store__slug=DEMO_STORE_SLUG, source="demo")
        .exclude(external_id__startswith="live")
        .order_by("external_id")
        .values_list("total", flat=True)[:50]
    )
    Store.objects.all().delete()
    seed_demo(customers=200, orders=600, seed=7, progress=False)
    assert totals == list(
        Order.objects.filter(store__slug=DEMO_STORE_SLUG, source="demo")
        .exclude(external_id__startswith="live")
        .order_by("external_id")
        .values_list("total", flat=True)[:50]
    )


def test_order_totals_add_up(seeded):
    for order in Order.objects.filter(store__slug=DEMO_STORE_SLUG).prefetch_related("lines")[:200]:
        lines = sum(line.total for line in order.lines.all())
        assert order.subtotal == lines
        assert order.total == order.subtotal - order.discount_total + order.shipping_total


def test_access_setup_is_idempotent_and_keeps_the_key(seeded):
    state = {}
    first = demo_setup_access(admin_password="pw-1", state=state)
    second = demo_setup_access(admin_password="pw-1", state=state)

    assert first["api_key"] == second["api_key"] == state["api_key"]
    assert ApiKey.objects.filter(store__slug=DEMO_STORE_SLUG).count() == 1
    assert any("delayed parcel" in line for line in first["highlights"])
    # Every link the demo prints opens (the shopper's tracking page and the back-office pages).
    admin = get_user_model().objects.get(username="admin")
    browser = Client()
    browser.force_login(admin)
    for line in first["highlights"]:
        for url in re.findall(r"http://127\.0\.0\.1:8000(/\S*)", line):
            assert browser.get(url).status_code == 200, line
    client = Client()
    response = client.get("/api/v1/ping", headers={"Authorization": f"Bearer {state['api_key']}"})
    assert response.json()["store"] == DEMO_STORE_SLUG


def test_back_office_pages_and_store_scoping(seeded):
    demo_setup_access(admin_password="pw-1", state={})
    demo = Store.objects.get(slug=DEMO_STORE_SLUG)
    second = Store.objects.get(slug=SECOND_STORE_SLUG)
    order = Order.objects.filter(store=demo, external_id="live-1").get()
    shipment = order.shipments.get()
    foreign = Order.objects.filter(store=second).first()

    admin = Client()
    assert admin.login(username="admin", password="pw-1")
    for url in [
        "/admin/orders/order/",
        "/admin/customers/customer/",
        "/admin/tracking/shipment/",
        "/admin/catalog/product/",
        "/admin/core/outboxevent/",
        "/admin/tracking/shipment/?late=late",
        f"/admin/tracking/shipment/{shipment.pk}/change/",
    ]:
        assert admin.get(url).status_code == 200, url
    page = admin.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert shipment.tracking_number in page
    assert "order.created" in page
    assert order.lines.first().sku in page

    support = Client()
    assert support.login(username="support", password="pw-1")
    listing = support.get("/admin/orders/order/?q=" + foreign.number).content.decode()
    assert foreign.public_id not in listing
    response = support.get(f"/admin/orders/order/{foreign.pk}/change/")
    assert response.status_code in {302, 404}
    assert support.get(f"/admin/orders/order/{order.pk}/change/").status_code == 200


def test_seed_gives_the_demo_store_a_message_history(seeded):
    from aftersale.messaging.models import LinkClick, Message, MessageTemplate, Suppression

    demo = Store.objects.get(slug=DEMO_STORE_SLUG)
    messages = Message.objects.filter(store=demo)
    statuses = set(messages.values_list("status", flat=True))

    assert {"sent", "suppressed", "bounced", "queued"} <= statuses
    assert messages.filter(kind="order_confirmation", status="sent").exists()
    assert messages.filter(status="suppressed", status_reason="no marketing consent").exists()
    assert messages.filter(status="queued", due_at__gt=demo.created_at).exists()
    assert not messages.filter(status="sent", subject="").exists()
    assert Suppression.objects.filter(store=demo, reason="hard_bounce").count() == 1
    assert LinkClick.objects.filter(store=demo).exists()
    assert MessageTemplate.objects.filter(store=demo, locale="de").count() >= 11
    # Every message has its log, and nothing leaks into the other store.
    assert not messages.filter(log__isnull=True).exists()
    assert not Message.objects.filter(store__slug=SECOND_STORE_SLUG, customer__store=demo).exists()


def test_demo_stores_start_with_the_built_in_flows(seeded):
    from aftersale.journeys.models import Flow

    demo = Store.objects.get(slug=DEMO_STORE_SLUG)
    keys = set(Flow.objects.filter(store=demo, active=True).values_list("key", flat=True))

    assert len(keys) >= 10
    assert Flow.objects.filter(store__slug=SECOND_STORE_SLUG).count() == len(keys)


def test_demo_flows_have_results_with_a_holdout(seeded):
    from aftersale.journeys.models import Enrolment, Flow, ScheduledStep
    from aftersale.journeys.results import default_period, flow_results
    from aftersale.messaging.models import Message

    demo = Store.objects.get(slug=DEMO_STORE_SLUG)
    review = Flow.objects.get(store=demo, key="review-request")
    enrolments = Enrolment.objects.filter(flow=review)

    assert review.current_version.number == 2  # the merchant tests against a holdout
    assert enrolments.filter(branch="holdout").exists()
    assert enrolments.filter(branch="A").count() > enrolments.filter(branch="holdout").count()
    assert not Message.objects.filter(
        idempotency_key__in=[f"flow:{e.public_id}:ask" for e in enrolments.filter(branch="holdout")]
    ).exists()
    # Requests still to come are waiting as steps the engine will run.
    assert ScheduledStep.objects.filter(enrolment__flow=review, status="pending").exists()
    results = flow_results(flow=review, period=default_period())
    assert results.entered > 0
    assert results.sent > 0
    assert results.holdout is not None


def test_demo_product_images_are_served(seeded):
    from aftersale.catalog.models import Product

    urls = set(
        Product.objects.filter(store__slug=DEMO_STORE_SLUG).values_list("image_url", flat=True)
    )
    assert urls
    for url in urls:
        assert url.startswith("http://127.0.0.1:8000/static/catalog/placeholders/")
        response = Client().get(url.removeprefix("http://127.0.0.1:8000"))
        assert response.status_code == 200, url
        assert b"<svg" in b"".join(response.streaming_content)
