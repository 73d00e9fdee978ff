"""The lifecycle: who moves a return where, what is refused, and how it is paid out."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from aftersale.core.models import OutboxEvent
from aftersale.core.services import Conflict, DomainError
from aftersale.orders.models import Order, Refund
from aftersale.returns.models import ReturnRequest, StoreCreditAccount
from aftersale.returns.services import (
    Actor,
    return_approve,
    return_cancel,
    return_close,
    return_inspect,
    return_label_record,
    return_receive,
    return_refund_confirm,
    return_reject,
    return_request_create,
    return_shipment_moved,
    rules_save,
)
from aftersale.tracking.models import Shipment
from aftersale.tracking.schemas import TrackingEventIn
from aftersale.tracking.services import tracking_events_add
from tests.returns.test_services_fixtures import (  # noqa: F401  (fixtures by name)
    _at_now,
    _media,
    _shop,
    create_in,
    run_events,
)

pytestmark = pytest.mark.django_db


def _create(shop, items=None, outcome="refund", key="key-00000001", **extra):
    items = items or [(shop.jacket, 1, "too_small")]
    return return_request_create(
        store=shop.store, order=shop.order, data=create_in(items, outcome, key=key, **extra)
    ).request


def _review_everything(shop, **defaults):
    rules_save(store=shop.store, definition={"defaults": {"review": "review", **defaults}})


def _history(ret):
    return list(ret.transitions.values_list("from_status", "to_status", "actor_kind"))


def _scan(shop, shipment, status, at):
    tracking_events_add(
        store=shop.store,
        shipment=shipment,
        events=[TrackingEventIn(occurred_at=at, status=status, raw_status=status)],
    )
    run_events()


def test_an_illegal_transition_is_refused_and_changes_nothing(shop):
    ret = _create(shop)  # approved by the rules
    snapshot = (ReturnRequest.objects.get(pk=ret.pk).updated_at, OutboxEvent.objects.count())

    with pytest.raises(Conflict) as caught:
        return_close(store=shop.store, ret=ret, actor=Actor.staff(None))

    assert caught.value.message == "a return that is approved cannot become closed"
    ret.refresh_from_db()
    assert ret.status == "approved"
    assert (ret.updated_at, OutboxEvent.objects.count()) == snapshot
    assert len(_history(ret)) == 2
    with pytest.raises(Conflict):
        return_reject(store=shop.store, ret=ret, actor=Actor.staff(None), reason="no")
    with pytest.raises(Conflict):
        return_inspect(
            store=shop.store,
            ret=ret,
            actor=Actor.staff(None),
            lines={ret.lines.get().public_id: ("new", "restock")},
        )
    ret.refresh_from_db()
    assert (ret.status, ret.rejection_reason, ret.lines.get().condition) == ("approved", "", "")


def test_review_then_reject(shop, django_user_model):
    _review_everything(shop)
    staff = django_user_model.objects.create_user("maria", is_staff=True)
    ret = _create(shop)
    assert ret.status == "requested"

    with pytest.raises(DomainError):
        return_reject(store=shop.store, ret=ret, actor=Actor.staff(staff), reason="  ")
    return_reject(store=shop.store, ret=ret, actor=Actor.staff(staff), reason="Worn outside")

    ret.refresh_from_db()
    assert (ret.status, ret.rejection_reason) == ("rejected", "Worn outside")
    last = ret.transitions.last()
    assert (last.actor_kind, last.actor_user, last.note) == ("staff", staff, "Worn outside")
    event = OutboxEvent.objects.filter(name="return.rejected").get()
    assert event.payload["reason"] == "Worn outside"


def test_refund_on_receipt_full_path_with_carrier_scans(shop, at_now):
    ret = _create(shop)
    label = return_label_record(
        store=shop.store,
        ret=ret,
        provider="fake",
        carrier="dhl",
        tracking_number="RET123456789DE",
        provider_ref="fake-1",
    )
    ret.refresh_from_db()
    assert ret.status == "label_issued"
    shipment = label.shipment
    assert (shipment.source, shipment.external_id, shipment.order) == (
        "returns",
        ret.public_id,
        shop.order,
    )

    _scan(shop, shipment, "in_transit", "2026-11-10T15:00:00Z")
    ret.refresh_from_db()
    assert (ret.status, ret.refund_state) == ("in_transit", "none")

    _scan(shop, shipment, "delivered", "2026-11-12T10:00:00Z")
    ret.refresh_from_db()
    assert (ret.status, ret.refund_state) == ("received", "requested")
    requested = OutboxEvent.objects.get(name="refund.requested")
    assert (requested.payload["id"], requested.payload["total_amount"]) == (
        ret.public_id,
        "120.00",
    )

    return_refund_confirm(store=shop.store, ret=ret, external_id="shopify-refund-1")

    ret.refresh_from_db()
    assert (ret.status, ret.refund_state) == ("closed", "confirmed")
    refund = Refund.objects.get()
    assert (refund.order, refund.amount, refund.external_id, ret.refund) == (
        shop.order,
        Decimal("120.0000"),
        "shopify-refund-1",
        refund,
    )
    assert [t[1] for t in _history(ret)] == [
        "requested",
        "approved",
        "label_issued",
        "in_transit",
        "received",
        "refunded",
        "closed",
    ]
    assert [t[2] for t in _history(ret)][3:5] == ["carrier", "carrier"]
    # The platform confirming twice records one refund.
    return_refund_confirm(store=shop.store, ret=ret, external_id="shopify-refund-1")
    assert Refund.objects.count() == 1
    # The handler run again (events are delivered at least once) changes nothing.
    run_events()
    before = (len(_history(ret)), OutboxEvent.objects.count())
    return_shipment_moved(store=shop.store, shipment=Shipment.objects.get(pk=shipment.pk))
    assert (len(_history(ret)), OutboxEvent.objects.count()) == before


def test_instant_refund_on_the_first_scan_then_closed_on_arrival(shop):
    rules_save(store=shop.store, definition={"defaults": {"refund_timing": "instant"}})
    ret = _create(shop)
    label = return_label_record(
        store=shop.store, ret=ret, provider="fake", carrier="dhl", tracking_number="RET1"
    )

    _scan(shop, label.shipment, "picked_up", "2026-11-10T15:00:00Z")
    ret.refresh_from_db()
    assert (ret.status, ret.refund_state) == ("in_transit", "requested")

    return_refund_confirm(store=shop.store, ret=ret, external_id="r-1")
    ret.refresh_from_db()
    assert ret.status == "refunded"

    _scan(shop, label.shipment, "delivered", "2026-11-12T10:00:00Z")
    ret.refresh_from_db()
    assert ret.status == "closed"
    assert ret.received_at is not None


def test_after_inspection_waits_for_the_inspection(shop, django_user_model):
    rules_save(store=shop.store, definition={"defaults": {"refund_timing": "after_inspection"}})
    staff = django_user_model.objects.create_user("lea", is_staff=True)
    ret = _create(shop, shipping_method="in_store")

    return_receive(store=shop.store, ret=ret, actor=Actor.staff(staff))
    ret.refresh_from_db()
    assert (ret.status, ret.refund_state) == ("received", "none")

    with pytest.raises(DomainError) as caught:
        return_inspect(store=shop.store, ret=ret, actor=Actor.staff(staff), lines={})
    assert caught.value.field == "lines"
    line = ret.lines.get()
    return_inspect(
        store=shop.store,
        ret=ret,
        actor=Actor.staff(staff),
        lines={line.public_id: ("like_new", "restock")},
        notes="tags still on",
    )
    ret.refresh_from_db()
    line.refresh_from_db()
    assert (ret.status, ret.refund_state, ret.staff_notes) == (
        "inspected",
        "requested",
        "tags still on",
    )
    assert (line.condition, line.disposition) == ("like_new", "restock")
    return_refund_confirm(store=shop.store, ret=ret, external_id="r-2")
    assert Refund.objects.get().lines.get().restock is True


def test_store_credit_is_issued_on_receipt(shop):
    ret = _create(shop, outcome="store_credit", shipping_method="in_store")

    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))

    ret.refresh_from_db()
    assert ret.status == "closed"
    account = StoreCreditAccount.objects.get()
    assert (account.customer, account.balance, account.currency) == (
        shop.customer,
        Decimal("132.0000"),
        "EUR",
    )
    entry = account.entries.get()
    assert (entry.kind, entry.return_request, entry.idempotency_key) == (
        "issue",
        ret,
        f"return:{ret.public_id}",
    )
    credited = OutboxEvent.objects.get(name="return.credited")
    assert credited.payload["credit"]["amount"] == "132.00"
    assert credited.payload["credit"]["code_last4"] == account.code[-4:]


def test_gift_return_credits_the_recipient(shop):
    ret = _create(
        shop,
        outcome="store_credit",
        shipping_method="in_store",
        gift=True,
        gift_recipient_email="Bea@Example.com",
        gift_recipient_name="Bea Lima",
    )

    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))

    account = StoreCreditAccount.objects.get()
    assert (account.customer.email, account.customer.first_name) == ("bea@example.com", "Bea")
    assert account.customer != shop.customer
    assert account.balance == Decimal("132.0000")


def test_exchange_creates_a_replacement_order_on_receipt(shop):
    ret = _create(
        shop,
        items=[(shop.jacket, 1, "too_small", {"exchange_variant": shop.jacket_xl.public_id})],
        outcome="exchange_same",
        shipping_method="in_store",
    )

    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))

    ret.refresh_from_db()
    assert ret.status == "closed"
    new = ret.exchange_order
    assert (new.external_id, new.source, new.number, new.total, new.financial_status) == (
        f"exchange-{ret.public_id}",
        "api",
        "1001-EX1",
        Decimal("0.0000"),
        "paid",
    )
    line = new.lines.get()
    assert (line.variant, line.quantity, line.unit_price) == (
        shop.jacket_xl,
        1,
        Decimal("120.0000"),
    )
    assert new.customer == shop.customer
    assert ret.exchange_order_external_id == new.external_id
    event = OutboxEvent.objects.get(name="return.exchanged")
    assert event.payload["exchange_order_id"] == new.public_id


def test_vip_exchange_ships_before_the_return_arrives(shop):
    shop.customer.tags = ["VIP"]
    shop.customer.save()
    ret = _create(
        shop,
        items=[(shop.jacket, 1, "too_small", {"exchange_variant": shop.jacket_xl.public_id})],
        outcome="exchange_same",
    )

    assert (ret.status, ret.ship_exchange_first) == ("exchanged", True)
    assert ret.exchange_order is not None
    assert Order.objects.count() == 2

    # The shopper still sends the old one back, with a tracked label.
    label = return_label_record(
        store=shop.store, ret=ret, provider="fake", carrier="dhl", tracking_number="RET9"
    )
    ret.refresh_from_db()
    assert ret.status == "exchanged"
    assert OutboxEvent.objects.filter(name="return.label_issued").count() == 1
    _scan(shop, label.shipment, "delivered", "2026-11-12T10:00:00Z")
    ret.refresh_from_db()
    assert (ret.status, ret.received_at is not None) == ("closed", True)
    assert Order.objects.count() == 2


def test_keep_the_item_refunds_without_a_parcel(shop):
    rules_save(
        store=shop.store,
        definition={
            "rules": [
                {
                    "id": "cheap",
                    "name": "Not worth shipping back",
                    "conditions": [{"field": "price", "op": "lte", "value": 10}],
                    "actions": {"keep_item": True},
                }
            ]
        },
    )

    kept = _create(shop, items=[(shop.socks, 1, "changed_mind")], outcome="keep_item")

    assert (kept.shipping_method, kept.status, kept.refund_state) == (
        "none",
        "approved",
        "requested",
    )
    assert kept.total_amount == Decimal("10.00")
    with pytest.raises(Conflict):
        return_label_record(store=shop.store, ret=kept, provider="fake")
    return_refund_confirm(store=shop.store, ret=kept, external_id="keep-1")
    kept.refresh_from_db()
    assert kept.status == "closed"
    assert [t[1] for t in _history(kept)] == ["requested", "approved", "refunded", "closed"]


def test_cancel_voids_the_label(shop):
    ret = _create(shop)
    label = return_label_record(store=shop.store, ret=ret, provider="pdf")
    assert label.shipment is None

    return_cancel(store=shop.store, ret=ret, actor=Actor.shopper())

    label.refresh_from_db()
    ret.refresh_from_db()
    assert (ret.status, label.voided_at is not None) == ("cancelled", True)
    with pytest.raises(Conflict):
        return_approve(store=shop.store, ret=ret, actor=Actor.staff(None))


def test_refund_confirm_for_a_credit_return_is_refused(shop):
    ret = _create(shop, outcome="store_credit")
    with pytest.raises(Conflict):
        return_refund_confirm(store=shop.store, ret=ret, external_id="x")
    assert Refund.objects.count() == 0


def test_refund_confirm_before_the_parcel_moved_is_refused(shop):
    ret = _create(shop)
    with pytest.raises(Conflict) as caught:
        return_refund_confirm(store=shop.store, ret=ret, external_id="x")
    assert caught.value.message == "the items have not been sent back yet"
    assert Refund.objects.count() == 0


def test_credit_from_returns_expires_when_the_rules_say_so(shop):
    rules_save(store=shop.store, definition={"credit_expiry_days": 365})
    ret = _create(shop, outcome="store_credit", shipping_method="in_store")

    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))

    entry = StoreCreditAccount.objects.get().entries.get()
    assert entry.expires_at == ret.requested_at + timedelta(days=365)


def test_an_upcharge_exchange_names_the_payment_link(shop):
    rules_save(
        store=shop.store,
        definition={"upcharge_payment_url": "https://acme.example/pay", "rules": []},
    )
    ret = _create(
        shop,
        items=[(shop.jacket, 1, "too_small", {"exchange_variant": shop.boots.public_id})],
        outcome="exchange_other",
        shipping_method="in_store",
    )

    return_receive(store=shop.store, ret=ret, actor=Actor.staff(None))

    ret.refresh_from_db()
    event = OutboxEvent.objects.get(name="return.exchanged")
    assert (ret.upcharge_amount, ret.exchange_order.financial_status) == (
        Decimal("30.00"),
        "pending",
    )
    assert ret.exchange_order.total == Decimal("30.0000")
    assert event.payload["upcharge_payment_url"] == "https://acme.example/pay"
    assert event.payload["upcharge_amount"] == "30.00"
