"""From a signed POST to our orders, shipments, refunds and customers, through the worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django_tasks_db.models import DBTaskResult

from aftersale.core import clock
from aftersale.core.models import OutboxEvent
from aftersale.customers.models import Customer
from aftersale.integrations.models import InboundPayload
from aftersale.integrations.services import inbound_process, inbound_replay
from aftersale.orders.models import Order, Refund
from aftersale.tracking.models import Shipment, TrackingEvent
from tests.integrations.conftest import run_worker

worker_db = pytest.mark.django_db(transaction=True)


def order_lines(order: Order) -> list[tuple]:
    return [
        (line.external_id, line.sku, line.variant_title, line.unit_price, line.quantity, line.total)
        for line in order.lines.order_by("id")
    ]


@worker_db
def test_shopify_order_then_fulfillment_then_refund(post_shopify, raw_payload):
    assert post_shopify("orders/create", raw_payload("shopify_order.json")).status_code == 202
    run_worker()

    order = Order.objects.get(source="shopify", external_id="450789469")
    assert (order.number, order.currency, order.status, order.financial_status) == (
        "1001",
        "USD",
        "open",
        "authorized",
    )
    assert (order.subtotal, order.discount_total, order.shipping_total) == (
        Decimal("398.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert (order.tax_total, order.total) == (Decimal("11.94"), Decimal("409.94"))
    assert order.discount_codes == ["TENOFF"]
    assert order.placed_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert order_lines(order) == [
        ("466157049", "IPOD2008GREEN", "green", Decimal("199.00"), 1, Decimal("199.00")),
        ("518995019", "IPOD2008RED", "red", Decimal("199.00"), 1, Decimal("199.00")),
        ("703073504", "IPOD2008BLACK", "black", Decimal("199.00"), 1, Decimal("199.00")),
    ]
    customer = order.customer
    assert (customer.source, customer.external_id, customer.email, customer.full_name) == (
        "shopify",
        "207119551",
        "bob.norman@hostmail.com",
        "Bob Norman",
    )
    assert (order.shipping_address.city, order.shipping_address.country) == ("Louisville", "US")
    payload = InboundPayload.objects.get()
    assert (payload.status, payload.attempts, payload.last_error) == ("processed", 1, "")

    post_shopify("fulfillments/create", raw_payload("shopify_fulfillment.json"))
    run_worker()

    shipment = Shipment.objects.get(source="shopify", external_id="255858046")
    assert shipment.order == order
    assert (shipment.tracking_number, shipment.carrier, shipment.tracking_url) == (
        "1Z2345",
        "null-company",
        "http://www.google.com/search?q=1Z2345",
    )
    assert shipment.shipped_at == datetime(2013, 11, 1, 20, 6, 8, tzinfo=UTC)
    assert [(sl.order_line.external_id, sl.quantity) for sl in shipment.lines.all()] == [
        ("466157049", 1)
    ]
    order.refresh_from_db()
    assert order.fulfillment_status == "partial"

    event = json.loads(raw_payload("shopify_fulfillment_event.json"))
    event.update(fulfillment_id=255858046, order_id=450789469, status="in_transit")
    post_shopify("fulfillment_events/create", event)
    run_worker()

    shipment.refresh_from_db()
    assert shipment.status == "in_transit"
    assert list(TrackingEvent.objects.values_list("raw_status", "occurred_at")) == [
        ("in_transit", datetime(2021, 1, 25, 21, 32, 23, tzinfo=UTC))
    ]

    post_shopify("refunds/create", raw_payload("shopify_refund.json"))
    run_worker()

    refund = Refund.objects.get()
    assert (refund.order, refund.source, refund.external_id) == (order, "shopify", "509562969")
    assert (refund.amount, refund.currency, refund.note) == (
        Decimal("209.00"),
        "USD",
        "it broke during shipping",
    )
    assert sorted(
        (rl.order_line.external_id, rl.quantity, rl.restock) for rl in refund.lines.all()
    ) == [
        ("466157049", 1, True),
        ("703073504", 1, True),
    ]
    order.refresh_from_db()
    assert order.financial_status == "partially_refunded"
    assert set(InboundPayload.objects.values_list("status", flat=True)) == {"processed"}
    assert set(InboundPayload.objects.values_list("object_ref", flat=True)) == {
        "order:shopify:450789469"
    }


@worker_db
def test_fulfillment_before_its_order_waits_then_completes(post_shopify, raw_payload):
    post_shopify("fulfillments/create", raw_payload("shopify_fulfillment.json"))

    run_worker()

    payload = InboundPayload.objects.get()
    assert payload.status == "waiting"
    assert payload.attempts == 1
    assert payload.last_error == "NotReadyYet: shopify order 450789469 has not arrived yet"
    task = DBTaskResult.objects.get(task_path__endswith="process_inbound_payload")
    assert task.status == "READY"  # the worker retries it with backoff
    assert task.run_after > clock.now()
    assert Shipment.objects.count() == 0

    post_shopify("orders/create", raw_payload("shopify_order.json"))
    run_worker()

    payload.refresh_from_db()
    assert (payload.status, payload.attempts, payload.last_error) == ("processed", 2, "")
    shipment = Shipment.objects.get()
    assert shipment.tracking_number == "1Z2345"

    # The worker's own retry still comes due later; it finds the work done and changes nothing.
    DBTaskResult.objects.filter(status="READY").update(run_after=clock.now())
    run_worker()
    payload.refresh_from_db()
    assert (payload.status, payload.attempts) == ("processed", 2)
    assert Shipment.objects.count() == 1
    assert not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists()


@worker_db
def test_fulfillment_waiting_is_completed_by_the_workers_retry(post_shopify, raw_payload, payload):
    from aftersale.integrations.mapping_shopify import map_order
    from aftersale.orders.services import order_upsert

    post_shopify("fulfillments/create", raw_payload("shopify_fulfillment.json"))
    run_worker()
    # The order comes by another way (an import), so nothing wakes the waiting payload.
    order_upsert(
        store=InboundPayload.objects.get().store, data=map_order(payload("shopify_order.json"))
    )

    DBTaskResult.objects.filter(status="READY").update(run_after=clock.now())
    run_worker()

    assert InboundPayload.objects.get().status == "processed"
    assert Shipment.objects.get().tracking_number == "1Z2345"


@worker_db
def test_woocommerce_order_then_refund_then_delete(post_woo, raw_payload):
    body = json.loads(raw_payload("woocommerce_order.json"))
    post_woo("order.created", raw_payload("woocommerce_order.json"))
    run_worker()

    order = Order.objects.get(source="woocommerce", external_id="727")
    assert (order.number, order.currency, order.status, order.financial_status) == (
        "727",
        "USD",
        "open",
        "paid",
    )
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        Decimal("18.00"),
        Decimal("10.00"),
        Decimal("1.35"),
        Decimal("29.35"),
    )
    assert order.placed_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert order_lines(order) == [
        ("315", "", "", Decimal("3.00"), 2, Decimal("6.00")),
        ("316", "Bar3", "black / M Test", Decimal("12.00"), 1, Decimal("12.00")),
    ]
    assert (order.customer.email, order.customer.phone) == ("john.doe@example.com", "+15555555555")

    body.update(status="completed", refunds=[{"id": 730, "reason": "damaged", "total": "-5.00"}])
    post_woo("order.updated", body)
    post_woo("order.updated", body)  # a second delivery of the same state
    run_worker()

    refund = Refund.objects.get()
    assert (refund.external_id, refund.amount, refund.reason) == ("730", Decimal("5.00"), "damaged")
    order.refresh_from_db()
    assert (order.status, order.financial_status, order.fulfillment_status) == (
        "closed",
        "partially_refunded",
        "fulfilled",
    )

    post_woo("order.deleted", {"id": 727})
    run_worker()
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "deleted in WooCommerce")
    assert set(InboundPayload.objects.values_list("status", flat=True)) == {"processed"}


# -- the task called directly (no worker), on the ordinary test database ------------------------


def received(post, topic, body) -> InboundPayload:
    response = post(topic, body)
    assert response.status_code == 202, response.content
    return InboundPayload.objects.get(public_id=response.json()["id"])


@pytest.mark.django_db
def test_customer_webhooks(post_shopify, post_woo, payload):
    shopify_customer = payload("shopify_order.json")["customer"]
    shopify_customer.update(phone="+15025550123", tags="vip")
    inbound_process(payload_id=received(post_shopify, "customers/create", shopify_customer).pk)
    woo_customer = {"id": 25, "email": "jane@example.com", "first_name": "Jane", "last_name": "Roe"}
    inbound_process(payload_id=received(post_woo, "customer.created", woo_customer).pk)

    assert sorted(
        Customer.objects.values_list("source", "external_id", "email", "phone", "tags")
    ) == [
        ("shopify", "207119551", "bob.norman@hostmail.com", "+15025550123", ["vip"]),
        ("woocommerce", "25", "jane@example.com", "", []),
    ]


def order_version(raw_payload, updated_at: str, **changes) -> dict:
    body = json.loads(raw_payload("shopify_order.json"))
    body.update(updated_at=updated_at, **changes)
    return body


@pytest.mark.django_db
def test_replay_adds_nothing_and_never_goes_back_to_an_older_order(post_shopify, raw_payload):
    for topic, body in [
        ("orders/create", raw_payload("shopify_order.json")),
        ("fulfillments/create", raw_payload("shopify_fulfillment.json")),
        ("refunds/create", raw_payload("shopify_refund.json")),
        (
            "orders/updated",
            order_version(
                raw_payload, "2016-06-20T13:40:00-04:00", financial_status="partially_refunded"
            ),
        ),
    ]:
        assert inbound_process(payload_id=received(post_shopify, topic, body).pk) == "processed"
    events_before = OutboxEvent.objects.count()

    assert inbound_replay(payloads=InboundPayload.objects.all()) == 4
    replays = sorted(
        DBTaskResult.objects.filter(args_kwargs__kwargs__force=True),
        key=lambda task: task.args_kwargs["kwargs"]["payload_id"],
    )
    results = [task.task.call(**task.task_result.kwargs) for task in replays]

    assert results == ["stale", "processed", "processed", "processed"]
    order = Order.objects.get()
    assert order.financial_status == "partially_refunded"
    assert order.lines.count() == 3
    assert Shipment.objects.count() == 1
    assert Refund.objects.count() == 1
    assert Customer.objects.count() == 1
    assert OutboxEvent.objects.count() == events_before


@pytest.mark.django_db
def test_older_order_version_arriving_late_changes_nothing(post_shopify, raw_payload):
    newer = order_version(raw_payload, "2008-01-10T12:00:00-05:00", financial_status="paid")
    older = order_version(raw_payload, "2008-01-10T11:00:00-05:00", financial_status="authorized")
    inbound_process(payload_id=received(post_shopify, "orders/updated", newer).pk)
    late = received(post_shopify, "orders/updated", older)

    assert inbound_process(payload_id=late.pk) == "stale"

    assert Order.objects.get().financial_status == "paid"
    late.refresh_from_db()
    assert (late.status, late.attempts) == ("stale", 1)


@pytest.mark.django_db
def test_processed_payload_is_skipped_unless_replayed(post_shopify, raw_payload):
    payload = received(post_shopify, "orders/create", raw_payload("shopify_order.json"))
    assert inbound_process(payload_id=payload.pk) == "processed"
    assert inbound_process(payload_id=payload.pk) == "processed"
    payload.refresh_from_db()
    assert payload.attempts == 1


@pytest.mark.django_db
def test_payload_our_services_refuse_is_marked_failed_and_not_retried(post_shopify, raw_payload):
    inbound_process(
        payload_id=received(post_shopify, "orders/create", raw_payload("shopify_order.json")).pk
    )
    refund = json.loads(raw_payload("shopify_refund.json"))
    refund["transactions"][0]["amount"] = "5000.00"
    payload = received(post_shopify, "refunds/create", refund)

    assert inbound_process(payload_id=payload.pk) == "failed"  # returns: retrying cannot help

    payload.refresh_from_db()
    assert payload.status == "failed"
    assert payload.attempts == 1
    assert payload.last_error.startswith("DomainError: only ")
    assert payload.last_error.endswith("is left to refund")
    assert Refund.objects.count() == 0


@pytest.mark.django_db
def test_body_that_does_not_map_is_marked_failed(post_shopify):
    payload = received(post_shopify, "orders/create", {"id": 1, "line_items": []})
    assert inbound_process(payload_id=payload.pk) == "failed"
    payload.refresh_from_db()
    assert payload.status == "failed"
    assert "placed_at" in payload.last_error
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_refund_before_its_order_waits(post_shopify, raw_payload):
    from aftersale.integrations.services import NotReadyYet

    payload = received(post_shopify, "refunds/create", raw_payload("shopify_refund.json"))
    with pytest.raises(NotReadyYet):
        inbound_process(payload_id=payload.pk)
    payload.refresh_from_db()
    assert (payload.status, payload.attempts) == ("waiting", 1)
    assert Refund.objects.count() == 0
