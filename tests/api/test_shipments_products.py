import pytest

from aftersale.core.models import OutboxEvent
from aftersale.tracking.models import Shipment, TrackingEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(api):
    body = {
        "external_id": "7001",
        "placed_at": "2026-05-01T08:00:00Z",
        "email": "zoe@example.com",
        "lines": [
            {
                "external_id": "a",
                "sku": "TENT",
                "title": "Tent",
                "unit_price": "250",
                "quantity": 1,
            },
            {"external_id": "b", "sku": "LAMP", "title": "Lamp", "unit_price": "30", "quantity": 2},
        ],
    }
    return api.post("/api/v1/orders", body).json()["order"]


def shipment_body(order, **overrides):
    body = {
        "order": order["id"],
        "external_id": "f-1",
        "carrier": "DHL",
        "tracking_number": "JJD000390007827340",
        "shipped_at": "2026-05-02T10:00:00Z",
        "promised_delivery_date": "2026-05-05",
        "lines": [{"line": order["lines"][0]["id"], "quantity": 1}],
        "events": [
            {
                "occurred_at": "2026-05-02T10:00:00Z",
                "status": "picked_up",
                "raw_status": "PU",
                "location": "Leipzig",
            }
        ],
    }
    body.update(overrides)
    return body


def test_create_shipment_then_add_events_with_repeats_ignored(api, order):
    created = api.post("/api/v1/shipments", shipment_body(order))
    again = api.post("/api/v1/shipments", shipment_body(order))
    shipment_id = created.json()["shipment"]["id"]
    scans = {
        "events": [
            {"occurred_at": "2026-05-04T09:00:00Z", "status": "delivered", "raw_status": "DL"},
            {"occurred_at": "2026-05-03T09:00:00Z", "status": "in_transit", "raw_status": "IT"},
        ]
    }
    first = api.post(f"/api/v1/shipments/{shipment_id}/events", scans)
    repeat = api.post(f"/api/v1/shipments/{shipment_id}/events", scans)

    assert created.status_code == 201
    assert created.json()["shipment"]["lines"] == [
        {"line_id": order["lines"][0]["id"], "quantity": 1}
    ]
    assert again.status_code == 200
    assert again.json()["result"] == "unchanged"
    assert first.json()["added"] == 2
    assert repeat.json()["added"] == 0
    assert repeat.json()["shipment"]["status"] == "delivered"
    assert [e["raw_status"] for e in repeat.json()["shipment"]["events"]] == ["PU", "IT", "DL"]
    assert api.get("/api/v1/orders/7001").json()["fulfillment_status"] == "partial"
    assert api.get("/api/v1/shipments", {"status": "delivered"}).json()["data"][0]["id"] == (
        shipment_id
    )


def test_shipment_of_more_than_was_ordered_is_422_and_writes_nothing(api, order):
    body = shipment_body(order, lines=[{"line": order["lines"][1]["id"], "quantity": 3}])
    response = api.post("/api/v1/shipments", body)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines.0.quantity"
    assert not Shipment.objects.exists()
    assert not TrackingEvent.objects.exists()
    assert not OutboxEvent.objects.filter(name__startswith="shipment.").exists()


def test_shipment_for_an_unknown_order_names_the_field(api):
    response = api.post("/api/v1/shipments", {"order": "ord_nope", "carrier": "UPS"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "order"


def test_products_with_variants(api):
    body = {
        "external_id": "p1",
        "title": "Trail shoe",
        "category": "shoes",
        "tags": ["running", "trail"],
        "variants": [
            {"external_id": "v1", "sku": "TS-42", "title": "42", "price": "89.9"},
            {"external_id": "v2", "sku": "TS-43", "title": "43", "price": "89.9"},
        ],
    }
    created = api.post("/api/v1/products", body)
    unchanged = api.post("/api/v1/products", body)
    variant = api.post(
        "/api/v1/products/p1/variants",
        {"external_id": "v3", "sku": "TS-44", "title": "44", "price": "92"},
    )
    patched = api.patch("/api/v1/products/p1", {"final_sale": True})

    assert created.status_code == 201
    assert [v["price"] for v in created.json()["product"]["variants"]] == ["89.90", "89.90"]
    assert unchanged.json()["result"] == "unchanged"
    assert variant.status_code == 201
    assert [v["sku"] for v in variant.json()["variants"]] == ["TS-42", "TS-43", "TS-44"]
    assert patched.json()["final_sale"] is True


def test_an_order_line_links_to_the_catalog_by_sku(api):
    api.post("/api/v1/products", {"title": "Cap", "variants": [{"sku": "CAP-1", "price": "20"}]})
    order = api.post(
        "/api/v1/orders",
        {
            "external_id": "9",
            "placed_at": "2026-05-01T08:00:00Z",
            "lines": [{"sku": "CAP-1", "title": "Cap", "unit_price": "20", "quantity": 1}],
        },
    ).json()["order"]
    assert order["lines"][0]["variant_id"].startswith("var_")
    assert order["lines"][0]["product_id"].startswith("prd_")


def test_customers_upsert_patch_and_list(api):
    created = api.post(
        "/api/v1/customers",
        {"email": "Ana@Example.com", "first_name": "Ana", "phone": "+55 11 91234-5678"},
    )
    same = api.post("/api/v1/customers", {"email": "ana@example.com", "last_name": "Souza"})
    patched = api.patch(
        f"/api/v1/customers/{created.json()['customer']['id']}",
        {"accepts_marketing": True, "marketing_consent_source": "checkout"},
    )
    bad = api.patch(
        f"/api/v1/customers/{created.json()['customer']['id']}", {"time_zone": "Mars/Olympus"}
    )

    assert created.status_code == 201
    assert created.json()["customer"]["phone"] == "+5511912345678"
    assert same.status_code == 200
    assert same.json()["customer"]["last_name"] == "Souza"
    assert patched.json()["accepts_marketing"] is True
    assert patched.json()["marketing_consent_source"] == "checkout"
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "time_zone"
    listed = api.get("/api/v1/customers", {"email": "ANA@example.com"}).json()["data"]
    assert [c["id"] for c in listed] == [created.json()["customer"]["id"]]
