"""The merchant API: returns, transitions, refunds, store credit, rules; tenancy; 4xx bodies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aftersale.core.models import OutboxEvent
from aftersale.orders.models import Refund
from aftersale.returns.credit import credit_issue
from aftersale.returns.models import ReturnRequest, ReturnRuleSet, StoreCreditEntry
from aftersale.returns.services import return_request_create, rules_save
from tests.returns.test_services_fixtures import (  # noqa: F401  (fixtures by name)
    _at_now,
    _media,
    _shop,
    create_in,
)

pytestmark = pytest.mark.django_db


def _return(shop, key="key-00000001", review=False, **extra):
    if review:
        rules_save(store=shop.store, definition={"defaults": {"review": "review"}})
    return return_request_create(
        store=shop.store,
        order=shop.order,
        data=create_in([(shop.jacket, 1, "too_small")], key=key, **extra),
    ).request


def test_list_and_get(shop, api):
    ret = _return(shop)

    listed = api.get("/api/v1/returns", {"status": "approved"})
    got = api.get(f"/api/v1/returns/{ret.public_id}")

    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["items"]] == [ret.public_id]
    assert api.get("/api/v1/returns", {"status": "closed"}).json()["items"] == []
    body = got.json()
    assert (body["reference"], body["status"], body["total_amount"], body["currency"]) == (
        "#1001-R1",
        "approved",
        "120.00",
        "EUR",
    )
    assert body["lines"][0]["reason"] == "too_small"
    assert body["lines"][0]["reason_group"] == "fit"
    assert [t["to_status"] for t in body["transitions"]] == ["requested", "approved"]
    assert api.get("/api/v1/returns", {"reason": "fit"}).json()["items"][0]["id"] == ret.public_id


def test_approve_then_receive_then_confirm_refund(shop, api):
    ret = _return(shop, review=True)

    approved = api.post(f"/api/v1/returns/{ret.public_id}/approve", {"note": "ok"})
    received = api.post(f"/api/v1/returns/{ret.public_id}/receive", {})
    refunded = api.post(
        f"/api/v1/returns/{ret.public_id}/refund", {"external_id": "gid://refund/1"}
    )
    again = api.post(f"/api/v1/returns/{ret.public_id}/refund", {"external_id": "gid://refund/1"})

    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert received.json()["refund_state"] == "requested"
    assert refunded.status_code == 200
    assert refunded.json()["status"] == "closed"
    assert refunded.json()["refund_id"] == Refund.objects.get().public_id
    assert again.status_code == 200
    assert Refund.objects.count() == 1
    transitions = refunded.json()["transitions"]
    assert transitions[2]["actor"] == "platform"
    assert transitions[2]["actor_label"] == "API key tests"


def test_an_illegal_transition_answers_409_and_changes_nothing(shop, api):
    ret = _return(shop)
    events = OutboxEvent.objects.count()

    response = api.post(f"/api/v1/returns/{ret.public_id}/close", {})

    assert response.status_code == 409
    assert response.json() == {
        "detail": "a return that is approved cannot become closed",
        "code": "conflict",
    }
    assert ReturnRequest.objects.get().status == "approved"
    assert OutboxEvent.objects.count() == events


def test_reject_needs_a_reason(shop, api):
    ret = _return(shop, review=True)

    response = api.post(f"/api/v1/returns/{ret.public_id}/reject", {"reason": ""})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"
    assert ReturnRequest.objects.get().status == "requested"


def test_inspect_names_the_bad_line(shop, api):
    ret = _return(shop, shipping_method="in_store")
    rules_save(store=shop.store, definition={"defaults": {"refund_timing": "after_inspection"}})
    ReturnRequest.objects.filter(pk=ret.pk).update(refund_timing="after_inspection")
    api.post(f"/api/v1/returns/{ret.public_id}/receive", {})

    bad = api.post(
        f"/api/v1/returns/{ret.public_id}/inspect",
        {"lines": [{"line": "rln_nope", "condition": "new", "disposition": "restock"}]},
    )
    wrong = api.post(
        f"/api/v1/returns/{ret.public_id}/inspect",
        {"lines": [{"line": "x", "condition": "shiny", "disposition": "restock"}]},
    )
    line = ret.lines.get().public_id
    good = api.post(
        f"/api/v1/returns/{ret.public_id}/inspect",
        {"lines": [{"line": line, "condition": "new", "disposition": "resell"}], "notes": "ok"},
    )

    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "lines.0.line")
    assert (wrong.status_code, wrong.json()["errors"][0]["field"]) == (
        422,
        "lines.0.condition",
    )
    assert good.status_code == 200
    assert good.json()["status"] == "inspected"
    assert good.json()["lines"][0]["disposition"] == "resell"


def test_read_only_keys_cannot_write(shop, read_api):
    ret = _return(shop, review=True)

    response = read_api.post(f"/api/v1/returns/{ret.public_id}/approve", {})

    assert response.status_code == 403
    assert ReturnRequest.objects.get().status == "requested"


def test_another_store_gets_404_and_changes_nothing(shop, api, other_api, other_store):
    ret = _return(shop, review=True)
    account = credit_issue(
        store=shop.store,
        customer=shop.customer,
        amount=Decimal("20"),
        currency="EUR",
        cause="goodwill",
        idempotency_key="g1",
    ).entry.account
    rules_save(store=shop.store, definition={"defaults": {"window_days": 45}})
    events = OutboxEvent.objects.count()
    ref = ret.public_id

    calls = [
        other_api.get(f"/api/v1/returns/{ref}"),
        other_api.post(f"/api/v1/returns/{ref}/approve", {}),
        other_api.post(f"/api/v1/returns/{ref}/reject", {"reason": "no"}),
        other_api.post(f"/api/v1/returns/{ref}/receive", {}),
        other_api.post(
            f"/api/v1/returns/{ref}/inspect",
            {"lines": [{"line": "x", "condition": "new", "disposition": "restock"}]},
        ),
        other_api.post(f"/api/v1/returns/{ref}/cancel", {}),
        other_api.post(f"/api/v1/returns/{ref}/close", {}),
        other_api.post(f"/api/v1/returns/{ref}/refund", {"external_id": "x"}),
        other_api.post("/api/v1/store-credit/check", {"code": account.code}),
        other_api.post(
            "/api/v1/store-credit/redeem",
            {
                "code": account.code,
                "amount": "5",
                "currency": "EUR",
                "idempotency_key": "k-1234567",
            },
        ),
        other_api.get("/api/v1/store-credit/accounts", {"customer": shop.customer.public_id}),
    ]

    assert [c.status_code for c in calls] == [404] * len(calls)
    assert other_api.get("/api/v1/returns").json()["items"] == []
    assert other_api.get("/api/v1/return-rules").json()["version"] == 0
    ret.refresh_from_db()
    account.refresh_from_db()
    assert (ret.status, account.balance, OutboxEvent.objects.count()) == (
        "requested",
        Decimal("20.0000"),
        events,
    )
    assert ReturnRuleSet.objects.get().store == shop.store


def test_store_credit_check_and_idempotent_redeem(shop, api):
    account = credit_issue(
        store=shop.store,
        customer=shop.customer,
        amount=Decimal("20"),
        currency="EUR",
        cause="goodwill",
        idempotency_key="g1",
    ).entry.account
    redeem = {
        "code": account.code.lower(),
        "amount": "12.50",
        "currency": "EUR",
        "idempotency_key": "checkout-123",
        "external_ref": "order-77",
    }

    check = api.post("/api/v1/store-credit/check", {"code": account.code})
    first = api.post("/api/v1/store-credit/redeem", redeem)
    second = api.post("/api/v1/store-credit/redeem", redeem)
    too_much = api.post(
        "/api/v1/store-credit/redeem", {**redeem, "idempotency_key": "checkout-124"}
    )
    unknown = api.post("/api/v1/store-credit/check", {"code": "SC-0000-0000-0000-0000"})
    ledger = api.get("/api/v1/store-credit/accounts", {"customer": shop.customer.public_id})

    assert check.json() == {
        "account_id": account.public_id,
        "customer_id": shop.customer.public_id,
        "code_last4": account.code[-4:],
        "currency": "EUR",
        "balance": "20.00",
    }
    assert (first.status_code, first.json()["balance"], first.json()["created"]) == (
        201,
        "7.50",
        True,
    )
    assert (second.status_code, second.json()["balance"], second.json()["created"]) == (
        200,
        "7.50",
        False,
    )
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["field"] == "amount"
    assert unknown.status_code == 404
    assert [e["kind"] for e in ledger.json()[0]["entries"]] == ["issue", "redeem"]
    assert StoreCreditEntry.objects.filter(kind="redeem").count() == 1


def test_rules_get_put_and_bad_rules_name_the_field(shop, api):
    default = api.get("/api/v1/return-rules").json()
    bad_op = api.put(
        "/api/v1/return-rules",
        {
            "definition": {
                "rules": [
                    {
                        "id": "x",
                        "name": "x",
                        "conditions": [{"field": "price", "op": "contains", "value": 3}],
                        "actions": {"allow": False},
                    }
                ]
            }
        },
    )
    bad_field = api.put(
        "/api/v1/return-rules",
        {"definition": {"defaults": {"window_days": -1}}},
    )
    saved = api.put(
        "/api/v1/return-rules",
        {"definition": {"defaults": {"window_days": 60}}, "expected_version": None},
    )
    stale = api.put(
        "/api/v1/return-rules",
        {"definition": {"defaults": {"window_days": 14}}, "expected_version": 7},
    )

    assert default["version"] == 0
    assert [r["id"] for r in default["definition"]["rules"]][:2] == ["final-sale", "damaged-photos"]
    assert bad_op.status_code == 422
    assert bad_op.json()["errors"][0]["field"] == "rules.0.conditions.0"
    assert "op 'contains' does not apply to price" in bad_op.json()["detail"]
    assert bad_field.json()["errors"][0]["field"] == "defaults.window_days"
    assert saved.status_code == 200
    assert saved.json() == {"version": 1, "definition": {"defaults": {"window_days": 60}}}
    assert stale.status_code == 409
    assert ReturnRuleSet.objects.get().definition == {"defaults": {"window_days": 60}}


def test_backtest_a_draft_against_past_orders(shop, api):
    response = api.post(
        "/api/v1/return-rules/backtest",
        {
            "definition": {
                "defaults": {"window_days": 30},
                "rules": [
                    {
                        "id": "no-socks",
                        "name": "No socks",
                        "conditions": [{"field": "category", "op": "eq", "value": "socks"}],
                        "actions": {"allow": False, "deny_message": "Hygiene"},
                    }
                ],
            },
            "placed_from": "2026-10-15T00:00:00Z",
            "placed_to": "2026-11-10T00:00:00Z",
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["orders"], body["orders_eligible"], body["lines"], body["lines_eligible"]) == (
        1,
        1,
        3,
        2,
    )
    assert body["value_eligible"] == "135.00"
    assert body["denials"] == {"Hygiene": 1}
    assert body["rules_matched"] == {"no-socks": 1}
    assert ReturnRuleSet.objects.count() == 0
