"""Back-office pages render for staff, act through services, and stay inside the staff's stores."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Permission

from aftersale.core.services import store_member_add
from aftersale.returns.models import ReturnRequest, ReturnRuleSet
from aftersale.returns.services import (
    Actor,
    return_receive,
    return_request_create,
    rules_save,
)
from tests.returns.test_services_fixtures import (  # noqa: F401  (fixtures by name)
    _at_now,
    _media,
    _shop,
    create_in,
    png_photo,
)

pytestmark = pytest.mark.django_db
DESK = "/admin/returns/desk/"


@pytest.fixture
def staff(client, django_user_model, shop):
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    store_member_add(store=shop.store, username="ops")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="returns"))
    client.force_login(user)
    return client


@pytest.fixture
def outsider(django_user_model, other_store):
    from django.test import Client

    django_user_model.objects.create_user(username="brisa", password="pw", is_staff=True)
    store_member_add(store=other_store, username="brisa")
    client = Client()
    client.force_login(django_user_model.objects.get(username="brisa"))
    return client


def _review(shop, key="key-00000001", items=None, photos=None, **extra):
    rules_save(store=shop.store, definition={"defaults": {"review": "review"}})
    return return_request_create(
        store=shop.store,
        order=shop.order,
        data=create_in(items or [(shop.jacket, 1, "too_small")], key=key, **extra),
        photos=photos,
    ).request


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_queue_lists_returns_to_review_and_filters(staff, shop):
    ret = _review(shop, sender_postal_code="80331", sender_country="DE")

    page = staff.get(DESK)
    flagged = staff.get(DESK, {"fraud": "yes"})
    by_reason = staff.get(DESK, {"reason": "damaged"})
    by_product = staff.get(DESK, {"product": "trail"})
    by_value = staff.get(DESK, {"min_value": "500"})

    assert page.status_code == 200
    assert ret.reference in _text(page)
    assert "Waiting for review (1)" in _text(page)
    assert ret.reference in _text(flagged)  # mismatched address
    assert "No returns match." in _text(by_reason)
    assert ret.reference in _text(by_product)
    assert "No returns match." in _text(by_value)


def test_bulk_approve(staff, shop):
    first = _review(shop)
    second = return_request_create(
        store=shop.store,
        order=shop.order,
        data=create_in([(shop.socks, 1, "changed_mind")], key="key-00000002"),
    ).request

    response = staff.post(
        DESK, {"action": "approve", "ids": [first.public_id, second.public_id]}, follow=True
    )

    assert "2 return(s) approved." in _text(response)
    assert set(ReturnRequest.objects.values_list("status", flat=True)) == {"approved"}
    assert first.transitions.last().actor_label == "ops"


def test_detail_shows_fraud_signals_photos_and_acts(staff, shop):
    ret = _review(
        shop,
        items=[(shop.jacket, 1, "damaged")],
        photos={shop.jacket.public_id: [png_photo()]},
        sender_postal_code="80331",
    )
    photo = ret.lines.get().photos.get()

    page = staff.get(f"{DESK}{ret.public_id}/")
    image = staff.get(f"{DESK}photos/{photo.public_id}/")
    staff.post(f"{DESK}{ret.public_id}/", {"action": "approve"})
    staff.post(f"{DESK}{ret.public_id}/", {"action": "note", "note": "Called the shopper"})

    text = _text(page)
    assert page.status_code == 200
    assert "mismatched_address" in text
    assert "sent from 80331, but the order went to 10115 DE" in text
    assert f"{DESK}photos/{photo.public_id}/" in text
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content)[:4] == b"\x89PNG"
    ret.refresh_from_db()
    assert ret.status == "approved"
    assert "Called the shopper" in ret.staff_notes


def test_inspection_form_records_condition_and_disposition(staff, shop):
    rules_save(store=shop.store, definition={"defaults": {"refund_timing": "after_inspection"}})
    ret = return_request_create(
        store=shop.store,
        order=shop.order,
        data=create_in([(shop.jacket, 1, "too_small")], shipping_method="in_store"),
    ).request
    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))
    line = ret.lines.get()

    missing = staff.post(f"{DESK}{ret.public_id}/", {"action": "inspect"}, follow=True)
    done = staff.post(
        f"{DESK}{ret.public_id}/",
        {
            "action": "inspect",
            f"condition_{line.public_id}": "used",
            f"disposition_{line.public_id}": "refurbish",
            "notes": "small stain",
        },
        follow=True,
    )

    assert "Choose a condition and a disposition for every line" in _text(missing)
    assert done.status_code == 200
    line.refresh_from_db()
    ret.refresh_from_db()
    assert (line.condition, line.disposition, ret.status) == ("used", "refurbish", "inspected")


def test_rule_editor_tests_a_draft_then_saves_it(staff, shop):
    page = staff.get(f"{DESK}rules/")
    draft = {
        "defaults": {"window_days": 14},
        "rules": [
            {
                "id": "no-hats",
                "name": "No hats",
                "conditions": [{"field": "category", "op": "eq", "value": "hats"}],
                "actions": {"allow": False, "deny_message": "Hats are final"},
            }
        ],
    }

    tested = staff.post(
        f"{DESK}rules/",
        {
            "action": "test",
            "definition": json.dumps(draft),
            "placed_from": "2026-11-01",
            "placed_to": "2026-11-09",
            "version": "0",
        },
    )
    bad = staff.post(
        f"{DESK}rules/",
        {"action": "save", "definition": '{"defaults": {"window_days": "x"}}', "version": "0"},
    )
    broken = staff.post(f"{DESK}rules/", {"action": "test", "definition": "{nope"})
    saved = staff.post(
        f"{DESK}rules/",
        {"action": "save", "definition": json.dumps(draft), "version": "0"},
        follow=True,
    )

    assert page.status_code == 200
    assert "the built-in default rules" in _text(page)
    assert "final-sale" in _text(page)
    text = _text(tested)
    assert "Back-test: of 1 order placed 2026-11-01 – 2026-11-09" in text
    assert "Denied: Hats are final" in text
    assert 'Lines returnable</th><td class="rt-num">2 of 3 (3 units)' in text
    assert "defaults.window_days" in _text(bad)
    assert "not valid JSON" in _text(broken)
    assert "Rules saved (version 1)." in _text(saved)
    assert ReturnRuleSet.objects.get().definition == draft


def test_reports_render(staff, shop):
    ret = return_request_create(
        store=shop.store,
        order=shop.order,
        data=create_in([(shop.jacket, 1, "too_small")], "store_credit", shipping_method="in_store"),
    ).request
    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))

    page = staff.get(f"{DESK}reports/")

    text = _text(page)
    assert page.status_code == 200
    assert "Return rate by product" in text
    assert '<td>Trail Jacket</td><td class="rt-num">1</td><td class="rt-num">1</td>' in text
    assert '<td>EUR</td><td class="rt-num">0.00</td><td class="rt-num">132.00</td>' in text
    assert "too_small" in text


def test_admin_pages_render(staff, shop):
    ret = _review(shop)
    urls = [
        "/admin/returns/returnrequest/",
        f"/admin/returns/returnrequest/{ret.pk}/change/",
        "/admin/returns/returnreason/",
        "/admin/returns/storecreditaccount/",
    ]
    assert [staff.get(url).status_code for url in urls] == [200, 200, 200, 200]


def test_another_store_staff_gets_404_and_changes_nothing(outsider, shop):
    ret = _review(
        shop, items=[(shop.jacket, 1, "damaged")], photos={shop.jacket.public_id: [png_photo()]}
    )
    photo = ret.lines.get().photos.get()

    detail = outsider.get(f"{DESK}{ret.public_id}/")
    act = outsider.post(f"{DESK}{ret.public_id}/", {"action": "approve"})
    image = outsider.get(f"{DESK}photos/{photo.public_id}/")
    rules = outsider.get(f"{DESK}rules/", {"store": shop.store.slug})
    reports = outsider.get(f"{DESK}reports/", {"store": shop.store.slug})
    bulk = outsider.post(DESK, {"action": "approve", "ids": [ret.public_id]})
    queue = outsider.get(DESK)

    assert [detail.status_code, act.status_code, image.status_code] == [404, 404, 404]
    assert [rules.status_code, reports.status_code] == [404, 404]
    assert bulk.status_code == 302
    assert ret.reference not in _text(queue)
    ret.refresh_from_db()
    assert ret.status == "requested"


def test_anonymous_is_sent_to_login(client, shop):
    response = client.get(DESK)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
