import json

import pytest

from aftersale.core.models import OutboxEvent
from aftersale.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db


def order_body(external_id="1001", **overrides):
    body = {
        "external_id": external_id,
        "number": f"#{external_id}",
        "placed_at": "2026-04-02T09:30:00+02:00",
        "email": f"Kim{external_id}@Example.org",
        "customer": {"external_id": f"c-{external_id}", "first_name": "Kim", "last_name": "Lee"},
        "shipping_address": {
            "line1": "Main St 5",
            "city": "Hamburg",
            "postal_code": "20095",
            "country": "DE",
        },
        "shipping_total": "4.95",
        "lines": [
            {
                "external_id": "1",
                "sku": "MUG",
                "title": "Mug",
                "unit_price": "12.50",
                "quantity": 2,
            },
        ],
    }
    body.update(overrides)
    return body


def test_post_creates_then_the_same_order_again_is_unchanged(api, store):
    first = api.post("/api/v1/orders", order_body())
    second = api.post("/api/v1/orders", order_body())

    assert first.status_code == 201
    assert first.json()["result"] == "created"
    order = first.json()["order"]
    assert order["total"] == "29.95"
    assert order["placed_at"] == "2026-04-02T07:30:00Z"
    assert order["customer"]["email"] == "kim1001@example.org"
    assert order["lines"][0]["id"].startswith("lin_")
    assert second.status_code == 200
    assert second.json()["result"] == "unchanged"
    assert second.json()["order"]["id"] == order["id"]
    assert Order.objects.filter(store=store).count() == 1
    assert OutboxEvent.objects.filter(name="order.created").count() == 1
    assert OutboxEvent.objects.filter(name="order.updated").count() == 0


def test_post_with_a_change_says_updated(api):
    api.post("/api/v1/orders", order_body())
    response = api.post("/api/v1/orders", order_body(note="leave at the door"))

    assert response.status_code == 200
    assert response.json()["result"] == "updated"
    assert response.json()["order"]["note"] == "leave at the door"


def test_get_by_public_or_external_id(api):
    created = api.post("/api/v1/orders", order_body()).json()["order"]

    assert api.get(f"/api/v1/orders/{created['id']}").json()["number"] == "#1001"
    assert api.get("/api/v1/orders/1001").json()["id"] == created["id"]
    assert api.get("/api/v1/orders/nope").status_code == 404


def test_patch_and_cancel(api):
    api.post("/api/v1/orders", order_body())
    patched = api.patch("/api/v1/orders/1001", {"tags": ["vip", "gift"]})
    cancelled = api.post("/api/v1/orders/1001/cancel", {"reason": "out of stock"})
    again = api.post("/api/v1/orders/1001/cancel", {"reason": "twice"})

    assert patched.json()["tags"] == ["gift", "vip"]
    assert cancelled.json()["status"] == "cancelled"
    assert again.json()["cancel_reason"] == "out of stock"
    assert OutboxEvent.objects.filter(name="order.cancelled").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": [{"title": "Mug", "unit_price": "1", "quantity": 0}]}, "lines.0.quantity"),
        ({"placed_at": "2026-04-02T09:30:00"}, "placed_at"),
        ({"currency": "EURO"}, "currency"),
        ({"colour": "red"}, "colour"),
        ({"shipping_address": {"country": "Germany"}}, "shipping_address.country"),
    ],
)
def test_a_wrong_field_is_422_naming_it_and_writes_nothing(api, store, change, field):
    response = api.post("/api/v1/orders", order_body(**change))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert not Order.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_discount_larger_than_the_line_is_422(api):
    body = order_body(lines=[{"title": "Mug", "unit_price": "5", "quantity": 1, "discount": "6"}])
    response = api.post("/api/v1/orders", body)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines.0.discount"
    assert not Order.objects.exists()


def test_malformed_json_is_400(api):
    response = api.post("/api/v1/orders", raw='{"external_id": ')
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_read_key_cannot_write(read_api):
    response = read_api.post("/api/v1/orders", order_body())
    assert response.status_code == 403
    assert not Order.objects.exists()


def test_batch_answers_each_order_and_a_bad_one_blocks_nothing(api, store):
    good = [order_body(str(n)) for n in range(5)]
    bad = order_body("bad", lines=[{"title": "X", "unit_price": "-1", "quantity": 1}])
    duplicate = order_body("0", note="second copy")
    response = api.post("/api/v1/orders/batch", {"orders": [*good[:2], bad, *good[2:], duplicate]})

    body = response.json()
    assert response.status_code == 200
    assert (body["created"], body["updated"], body["errors"]) == (5, 1, 1)
    assert body["results"][2] == {
        "index": 2,
        "external_id": "bad",
        "result": "error",
        "id": None,
        "error": {
            "detail": "lines.0.unit_price: Input should be greater than or equal to 0",
            "field": "lines.0.unit_price",
        },
    }
    assert body["results"][6]["result"] == "updated"
    assert Order.objects.filter(store=store).count() == 5
    assert not Order.objects.filter(external_id="bad").exists()
    assert OrderLine.objects.count() == 5
    assert OutboxEvent.objects.filter(name="order.created").count() == 5
    assert OutboxEvent.objects.filter(name="customer.created").count() == 5
    assert Order.objects.get(external_id="0").note == "second copy"


def test_batch_orders_of_one_customer_share_it(api, store):
    orders = [
        order_body(str(n), customer={"external_id": "same", "first_name": "Jo"}) for n in range(3)
    ]
    api.post("/api/v1/orders/batch", {"orders": orders})

    assert {o.customer.external_id for o in Order.objects.all()} == {"same"}
    assert OutboxEvent.objects.filter(name="customer.created").count() == 1


def test_batch_over_the_limit_is_422(api):
    response = api.post("/api/v1/orders/batch", {"orders": [{}] * 1001})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "orders"


def test_batch_of_new_orders_takes_few_queries(api, django_assert_max_num_queries):
    orders = [order_body(str(n)) for n in range(100)]
    with django_assert_max_num_queries(21):
        response = api.post("/api/v1/orders/batch", {"orders": orders})
    assert response.json()["created"] == 100


def test_list_walks_every_order_once_with_the_cursor(api, store):
    api.post("/api/v1/orders/batch", {"orders": [order_body(str(n)) for n in range(23)]})
    seen, cursor = [], None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/orders", params).json()
        seen += [o["external_id"] for o in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen, key=int) == [str(n) for n in range(23)]
    assert len(seen) == 23


def test_list_filters_and_bad_cursor(api):
    api.post("/api/v1/orders", order_body("1"))
    api.post("/api/v1/orders", order_body("2", status="cancelled"))

    assert [
        o["external_id"] for o in api.get("/api/v1/orders", {"status": "cancelled"}).json()["data"]
    ] == ["2"]
    bad = api.get("/api/v1/orders", {"cursor": "garbage!"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


def test_get_order_query_count_is_fixed(api, django_assert_num_queries):
    created = api.post("/api/v1/orders", order_body()).json()["order"]
    with django_assert_num_queries(6):
        api.get(f"/api/v1/orders/{created['id']}")


def test_refunds(api):
    order = api.post("/api/v1/orders", order_body()).json()["order"]
    line = order["lines"][0]["id"]
    first = api.post(
        "/api/v1/orders/1001/refunds",
        {"external_id": "r1", "lines": [{"line": line, "quantity": 1}]},
    )
    repeat = api.post(
        "/api/v1/orders/1001/refunds",
        {"external_id": "r1", "lines": [{"line": line, "quantity": 1}]},
    )
    too_much = api.post("/api/v1/orders/1001/refunds", {"amount": "100"})

    assert first.status_code == 201
    assert first.json()["refund"]["amount"] == "12.50"
    assert repeat.status_code == 200
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["field"] == "amount"
    assert (
        json.loads(api.get("/api/v1/orders/1001/refunds").content)[0]["id"]
        == (first.json()["refund"]["id"])
    )


def test_a_created_order_is_answered_as_get_shows_it(api):
    body = order_body(
        "2002",
        status="cancelled",
        billing_address={"line1": "Elbchaussee 1", "city": "Hamburg", "country": "de"},
        tags=["b", "a", "b"],
        discount_codes=["WELCOME"],
    )
    created = api.post("/api/v1/orders", body)

    assert created.status_code == 201
    order = created.json()["order"]
    assert order["placed_at"] == "2026-04-02T07:30:00Z"
    assert order["cancelled_at"].endswith("Z")
    assert order == api.get(f"/api/v1/orders/{order['id']}").json()


def test_a_new_order_takes_a_fixed_number_of_queries(api, django_assert_num_queries):
    api.get("/api/v1/ping")  # the key's store is cached and its last use recorded
    # key, BEGIN, order lookup, customer lookup, customer, address, order, catalog lookup,
    # lines, events, COMMIT
    with django_assert_num_queries(11):
        response = api.post("/api/v1/orders", order_body("3003"))
    assert response.status_code == 201
    assert [e.name for e in OutboxEvent.objects.order_by("id")] == [
        "customer.created",
        "order.created",
    ]
