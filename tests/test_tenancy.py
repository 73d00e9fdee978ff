"""Store B's key must never see or touch store A's objects: every route with an id is walked."""

import re

import pytest
from django.apps import apps
from django.test import Client

from aftersale.api import api as ninja_api

pytestmark = pytest.mark.django_db

# A valid body for each write route with a path parameter, so the request gets past validation
# and the 404 comes from the tenancy check, not from a 422.
BODIES = {
    ("patch", "/api/v1/orders/{ref}"): {"note": "hijack"},
    ("post", "/api/v1/orders/{ref}/cancel"): {"reason": "hijack"},
    ("post", "/api/v1/orders/{ref}/refunds"): {"amount": "1.00"},
    ("patch", "/api/v1/customers/{ref}"): {"first_name": "Mallory"},
    ("patch", "/api/v1/products/{ref}"): {"title": "hijack"},
    ("post", "/api/v1/products/{ref}/variants"): {"sku": "X-1", "price": "1"},
    ("patch", "/api/v1/webhook-endpoints/{ref}"): {"description": "hijack"},
    ("delete", "/api/v1/webhook-endpoints/{ref}"): {},
    ("post", "/api/v1/webhook-endpoints/{ref}/rotate-secret"): {},
    ("post", "/api/v1/webhook-endpoints/{ref}/enable"): {},
    ("post", "/api/v1/webhook-endpoints/{ref}/test"): {},
    ("post", "/api/v1/webhook-endpoints/{ref}/deliveries/{delivery_id}/replay"): {},
    ("post", "/api/v1/returns/{ref}/approve"): {"note": "hijack"},
    ("post", "/api/v1/returns/{ref}/reject"): {"reason": "hijack"},
    ("post", "/api/v1/returns/{ref}/receive"): {},
    ("post", "/api/v1/returns/{ref}/inspect"): {
        "lines": [{"line": "rln_x", "condition": "new", "disposition": "restock"}]
    },
    ("post", "/api/v1/returns/{ref}/cancel"): {},
    ("post", "/api/v1/returns/{ref}/close"): {},
    ("post", "/api/v1/returns/{ref}/refund"): {"external_id": "hijack"},
    ("put", "/api/v1/reviews/{ref}/reply"): {"text": "hijack"},
    ("post", "/api/v1/shipments/{ref}/events"): {
        "events": [{"occurred_at": "2026-05-03T09:00:00Z", "status": "exception"}]
    },
}


@pytest.fixture
def store_a_objects(api):
    """Objects of store A (the `api` fixture's store), by the router prefix that serves them."""
    order = api.post(
        "/api/v1/orders",
        {
            "external_id": "A-1",
            "placed_at": "2026-05-01T08:00:00Z",
            "email": "a@example.com",
            "lines": [{"external_id": "l", "title": "Tent", "unit_price": "100", "quantity": 1}],
        },
    ).json()["order"]
    shipment = api.post(
        "/api/v1/shipments",
        {
            "order": order["id"],
            "external_id": "S-1",
            "lines": [{"line": "l", "quantity": 1}],
        },
    ).json()["shipment"]
    product = api.post(
        "/api/v1/products",
        {
            "external_id": "P-1",
            "title": "Tent",
            "variants": [{"sku": "T", "price": "100"}],
        },
    ).json()["product"]
    endpoint = api.post(
        "/api/v1/webhook-endpoints",
        {
            "url": "https://hooks.example.com/a",
            "event_types": ["*"],
        },
    ).json()
    test_delivery = api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/test").json()
    return_request = _store_a_return(order["id"])
    review = _store_a_review(order["id"])
    return {
        "returns": return_request.public_id,
        "reviews": review.public_id,
        "webhook-endpoints": endpoint["id"],
        "delivery_id": test_delivery["id"],
        "orders": order["id"],
        "customers": order["customer"]["id"],
        "shipments": shipment["id"],
        "products": product["id"],
    }


def _store_a_return(order_id: str):
    """A return of store A's order (returns are created by the shopper's portal, not the API)."""
    from datetime import timedelta

    from aftersale.orders.models import Order
    from aftersale.returns.schemas import ReturnCreateIn
    from aftersale.returns.services import reasons_install_defaults, return_request_create

    order = Order.objects.get(public_id=order_id)
    reasons_install_defaults(store=order.store)
    line = order.lines.get()
    data = ReturnCreateIn(
        items=[{"line": line.public_id, "quantity": 1, "reason": "too_small"}],
        outcome="refund",
        idempotency_key="tenancy-walk",
    )
    asked = order.placed_at + timedelta(days=3)
    return return_request_create(store=order.store, order=order, data=data, now=asked).request


def _store_a_review(order_id: str):
    """A store-level review of store A's order, as the CSV import writes them."""
    from aftersale.orders.models import Order
    from aftersale.reviews.models import Review

    order = Order.objects.get(public_id=order_id)
    return Review.objects.create(
        store=order.store, order=order, rating=4, text="Fine", source=Review.Source.CSV
    )


def snapshot() -> dict[str, int]:
    """Row counts of every model of ours: a denied request must change none of them."""
    counts = {}
    for model in apps.get_models():
        if model.__module__.startswith("aftersale."):
            counts[model._meta.label] = model.objects.count()
    return counts


def path_operations():
    """Every operation a store's key opens (the public ones, like a product's reviews for the
    review widget, take no key and are tested by their apps)."""
    for path, methods in ninja_api.get_openapi_schema()["paths"].items():
        for method, operation in methods.items():
            if operation.get("security"):
                yield method, path


def test_every_route_with_an_id_answers_404_to_another_stores_key(store_a_objects, other_api, api):
    walked = 0
    before = snapshot()
    for method, path in path_operations():
        params = re.findall(r"{(\w+)}", path)
        if not params:
            continue
        prefix = path.removeprefix("/api/v1/").split("/")[0]
        assert prefix in store_a_objects, f"add a store-A object for routes under /{prefix}"
        url = re.sub(r"{ref}", store_a_objects[prefix], path)
        for name in params[1:]:
            assert name in store_a_objects, f"{path}: add a store-A value for {{{name}}}"
            url = url.replace(f"{{{name}}}", store_a_objects[name])
        if method == "get":
            response = other_api.get(url)
        elif method == "delete":
            response = other_api.delete(url)
        else:
            body = BODIES.get((method, path))
            assert body is not None, f"add a valid body for {method.upper()} {path}"
            response = getattr(other_api, method)(url, body)
        assert response.status_code == 404, f"{method.upper()} {url}: {response.status_code}"
        walked += 1
    assert walked >= 10
    assert snapshot() == before


def test_lists_show_only_the_keys_store(store_a_objects, other_api):
    for prefix in ["orders", "customers", "shipments", "products"]:
        response = other_api.get(f"/api/v1/{prefix}")
        assert response.status_code == 200
        assert response.json()["data"] == [], prefix


def test_every_operation_documents_its_errors(client):
    schema = client.get("/api/v1/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            documented = set(operation["responses"])
            assert {"401", "422"} <= documented, f"{method} {path}: {sorted(documented)}"
            if method in {"post", "patch", "put", "delete"}:
                assert {"400", "403", "413"} <= documented, f"{method} {path}"
            if "{" in path:
                assert "404" in documented, f"{method} {path}"


@pytest.mark.django_db
def test_admin_store_filter_names_only_the_users_stores(store, other_store, django_user_model):
    from aftersale.core.models import StoreMember
    from aftersale.core.services import store_create

    third = store_create(slug="third", name="Third Shop", currency="EUR")
    user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    for s in (store, third):
        StoreMember.objects.create(store=s, user=user)
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(codename="view_order"))
    client = Client()
    client.force_login(user)

    page = client.get("/admin/orders/order/").content.decode()

    assert "Third Shop" in page
    assert other_store.name not in page
    shown = client.get(f"/admin/orders/order/?store__id__exact={other_store.pk}")
    assert other_store.name not in shown.content.decode()


@pytest.mark.django_db
def test_back_office_home_links_the_operations_pages(admin_client, store):
    page = admin_client.get("/admin/").content.decode()

    for url in (
        "/admin/tracking/watchlist/",
        "/admin/tracking/watchlist/lanes/",
        "/admin/flows/",
        "/admin/returns/desk/",
        "/admin/returns/desk/rules/",
        "/admin/returns/desk/reports/",
        "/admin/reviews/desk/",
        "/admin/feedback/desk/",
        "/admin/feedback/desk/cases/",
    ):
        assert f'href="{url}"' in page
        assert admin_client.get(url).status_code == 200
