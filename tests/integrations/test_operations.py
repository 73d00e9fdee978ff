"""Retention, the periodic job, and the back-office list with its replay action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django_tasks_db.models import DBTaskResult

from aftersale.core import clock
from aftersale.core.services import store_member_add
from aftersale.core.tasks import periodic_jobs
from aftersale.integrations.models import InboundPayload
from aftersale.integrations.selectors import inbound_payloads_admin_url, inbound_payloads_for
from aftersale.integrations.tasks import purge_inbound_payloads

pytestmark = pytest.mark.django_db


def make_payload(store, delivery_id: str, status: str, age_days: int, **extra) -> InboundPayload:
    return InboundPayload.objects.create(
        store=store,
        platform="shopify",
        topic="orders/updated",
        delivery_id=delivery_id,
        body='{"id": 1}',
        status=status,
        received_at=clock.now() - timedelta(days=age_days),
        **extra,
    )


def test_retention_deletes_only_old_finished_payloads(store, settings):
    settings.AFTERSALE_INBOUND_RETENTION_DAYS = 30
    for status in ("processed", "ignored", "stale", "waiting", "failed", "received"):
        make_payload(store, f"old-{status}", status, age_days=31)
    make_payload(store, "recent-processed", "processed", age_days=29)

    deleted = purge_inbound_payloads.call()

    assert deleted == 3
    assert sorted(InboundPayload.objects.values_list("delivery_id", flat=True)) == [
        "old-failed",
        "old-received",
        "old-waiting",
        "recent-processed",
    ]


def test_retention_job_is_registered_to_run_periodically():
    spec = next(s for s in periodic_jobs() if s.name == "integrations.purge_inbound_payloads")
    assert spec.task is purge_inbound_payloads
    assert spec.every == timedelta(hours=1)


@pytest.fixture
def admin_client_for(client):
    def login(*, superuser: bool = False, member_of=None):
        user = get_user_model().objects.create_user(
            username="ops", password="pw", is_staff=True, is_superuser=superuser
        )
        if member_of is not None:
            store_member_add(store=member_of, username="ops")
        client.force_login(user)
        return client

    return login


def test_order_page_link_lists_the_orders_payloads(store, admin_client_for):
    mine = make_payload(store, "a", "processed", 0, object_ref="order:shopify:450789469")
    make_payload(store, "b", "processed", 0, object_ref="order:shopify:999")
    url = inbound_payloads_admin_url(object_ref="order:shopify:450789469")

    response = admin_client_for(superuser=True).get(url)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [mine]
    assert list(inbound_payloads_for(store=store, object_ref="order:shopify:450789469")) == [mine]


def test_admin_filters_search_and_pretty_body(store, admin_client_for):
    payload = make_payload(store, "find-me", "failed", 0, last_error="DomainError: nope")
    client = admin_client_for(superuser=True)

    listing = client.get(
        "/admin/integrations/inboundpayload/",
        {"status": "failed", "platform": "shopify", "topic": "orders/updated", "q": "find-me"},
    )
    detail = client.get(f"/admin/integrations/inboundpayload/{payload.pk}/change/")

    assert list(listing.context["cl"].result_list) == [payload]
    assert detail.status_code == 200
    assert '<pre style="white-space: pre-wrap">{\n  &quot;id&quot;: 1\n}</pre>' in detail.text


def test_staff_sees_only_their_stores_payloads(store, other_store, admin_client_for):
    make_payload(store, "mine", "processed", 0)
    theirs = make_payload(other_store, "theirs", "processed", 0)
    client = admin_client_for(member_of=store)
    permission_names = ["view_inboundpayload", "change_inboundpayload"]
    from django.contrib.auth.models import Permission

    client_user = get_user_model().objects.get(username="ops")
    client_user.user_permissions.set(Permission.objects.filter(codename__in=permission_names))

    listing = client.get("/admin/integrations/inboundpayload/")
    other = client.get(f"/admin/integrations/inboundpayload/{theirs.pk}/change/")

    assert [p.delivery_id for p in listing.context["cl"].result_list] == ["mine"]
    assert other.status_code == 302  # Django's admin answers a hidden object with a redirect


def test_replay_action_queues_the_selected_payloads(store, admin_client_for):
    one = make_payload(store, "one", "failed", 0)
    make_payload(store, "two", "processed", 0)
    client = admin_client_for(superuser=True)

    response = client.post(
        "/admin/integrations/inboundpayload/",
        {"action": "replay", "_selected_action": [one.pk]},
    )

    assert response.status_code == 302
    task = DBTaskResult.objects.get()
    assert task.args_kwargs == {"args": [], "kwargs": {"payload_id": one.pk, "force": True}}
    assert task.queue_name == "inbound"
