"""The store-credit ledger: issue, redeem, expire, reverse; never negative; idempotent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from aftersale.core.models import OutboxEvent
from aftersale.core.services import Conflict, DomainError, NotFound
from aftersale.customers.models import Customer
from aftersale.returns.credit import (
    credit_expire_due,
    credit_issue,
    credit_lookup,
    credit_redeem,
    credit_reverse,
    issue_remaining,
    normalize_code,
)
from aftersale.returns.models import StoreCreditAccount, StoreCreditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(store):
    return Customer.objects.create(store=store, email="ana@example.com", first_name="Ana")


def _issue(store, customer, amount, key, **extra):
    return credit_issue(
        store=store,
        customer=customer,
        amount=Decimal(amount),
        currency="EUR",
        cause="goodwill",
        idempotency_key=key,
        **extra,
    )


def _state(account):
    account.refresh_from_db()
    return account.balance, list(account.entries.values_list("kind", "amount", "balance_after"))


def test_issue_opens_an_account_with_a_code(store, ana):
    result = _issue(store, ana, "25.00", "k1")

    account = result.entry.account
    assert result.created is True
    assert (account.customer, account.currency, account.balance) == (ana, "EUR", Decimal("25"))
    assert account.code.startswith("SC-") and len(account.code) == 22
    assert credit_lookup(store=store, code=account.code.lower().replace("-", " ")) == account
    event = OutboxEvent.objects.get(name="credit.issued")
    assert (event.payload["customer_id"], event.payload["amount"], event.payload["balance"]) == (
        ana.public_id,
        "25.00",
        "25.00",
    )


def test_the_same_key_moves_money_once(store, ana):
    first = _issue(store, ana, "25.00", "k1")
    again = _issue(store, ana, "25.00", "k1")

    assert (first.created, again.created, again.entry.pk) == (True, False, first.entry.pk)
    assert _state(first.entry.account)[0] == Decimal("25")
    assert OutboxEvent.objects.filter(name="credit.issued").count() == 1


def test_redeem_checks_balance_currency_and_code(store, ana):
    account = _issue(store, ana, "25.00", "k1").entry.account
    before = _state(account)

    with pytest.raises(DomainError) as too_much:
        credit_redeem(
            store=store,
            code=account.code,
            amount=Decimal("25.01"),
            currency="EUR",
            idempotency_key="r1",
        )
    with pytest.raises(DomainError) as currency:
        credit_redeem(
            store=store,
            code=account.code,
            amount=Decimal("5"),
            currency="BRL",
            idempotency_key="r1",
        )
    with pytest.raises(NotFound):
        credit_redeem(
            store=store,
            code="SC-0000-0000-0000-0000",
            amount=Decimal("5"),
            currency="EUR",
            idempotency_key="r1",
        )

    assert (too_much.value.field, too_much.value.message) == (
        "amount",
        "only €25.00 of store credit is left",
    )
    assert currency.value.field == "currency"
    assert _state(account) == before

    result = credit_redeem(
        store=store,
        code=account.code,
        amount=Decimal("20"),
        currency="eur",
        idempotency_key="r1",
        external_ref="checkout-9",
    )
    assert (result.entry.amount, result.entry.balance_after, result.entry.external_ref) == (
        Decimal("-20.00"),
        Decimal("5.00"),
        "checkout-9",
    )


def test_the_database_refuses_a_negative_balance(store, ana):
    account = _issue(store, ana, "5.00", "k1").entry.account

    with pytest.raises(IntegrityError), transaction.atomic():
        StoreCreditAccount.objects.filter(pk=account.pk).update(balance=Decimal("-0.01"))


def test_another_store_cannot_use_the_code(store, other_store, ana):
    account = _issue(store, ana, "5.00", "k1").entry.account
    with pytest.raises(NotFound):
        credit_lookup(store=other_store, code=account.code)


def test_expiry_takes_what_is_left_of_an_expired_issue(store, ana, time_machine):
    time_machine.move_to("2026-05-01T10:00:00Z", tick=False)
    old = _issue(store, ana, "30.00", "k1", expires_at=datetime(2026, 6, 1, tzinfo=UTC))
    _issue(store, ana, "10.00", "k2")
    account = old.entry.account
    # The oldest credit is spent first: 25 of the first issue.
    credit_redeem(
        store=store, code=account.code, amount=Decimal("25"), currency="EUR", idempotency_key="r1"
    )
    assert issue_remaining(account)[old.entry.pk] == Decimal("5.00")

    time_machine.move_to("2026-06-02T10:00:00Z", tick=False)
    written = credit_expire_due()
    again = credit_expire_due()

    assert (written, again) == (1, 0)
    balance, entries = _state(account)
    assert balance == Decimal("10.00")
    assert entries[-1] == ("expire", Decimal("-5.0000"), Decimal("10.0000"))
    assert OutboxEvent.objects.filter(name="credit.expired").count() == 1


def test_reverse_an_issue_and_a_redemption(store, ana):
    issued = _issue(store, ana, "30.00", "k1")
    account = issued.entry.account
    redeemed = credit_redeem(
        store=store, code=account.code, amount=Decimal("10"), currency="EUR", idempotency_key="r1"
    )

    credit_reverse(
        store=store, entry_ref=redeemed.entry.public_id, idempotency_key="rev1", cause="cancelled"
    )
    assert _state(account)[0] == Decimal("30.00")
    credit_reverse(
        store=store, entry_ref=issued.entry.public_id, idempotency_key="rev2", cause="mistake"
    )
    assert _state(account)[0] == Decimal("0.00")
    with pytest.raises(Conflict):
        credit_reverse(
            store=store, entry_ref=issued.entry.public_id, idempotency_key="rev3", cause="again"
        )
    assert StoreCreditEntry.objects.filter(kind="reverse").count() == 2


def test_codes_are_read_forgivingly():
    assert normalize_code("sc-abcd-efgh-jkmn-pqrs") == "SC-ABCD-EFGH-JKMN-PQRS"
    assert normalize_code("SCABCD EFGH JKMN PQRS") == "SC-ABCD-EFGH-JKMN-PQRS"
    assert normalize_code("SC-0O0O-1IL1-0000-0000") == "SC-0000-1111-0000-0000"


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_never_overdraw(store, ana):
    account = _issue(store, ana, "50.00", "k1").entry.account
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def redeem(n: int):
        try:
            barrier.wait()
            credit_redeem(
                store=store,
                code=account.code,
                amount=Decimal("20"),
                currency="EUR",
                idempotency_key=f"race-{n}",
            )
            outcomes.append("ok")
        except DomainError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["ok", "ok", "refused", "refused", "refused", "refused"]
    account.refresh_from_db()
    assert account.balance == Decimal("10.00")
    assert StoreCreditEntry.objects.filter(kind="redeem").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_redeems_once(store, ana):
    account = _issue(store, ana, "50.00", "k1").entry.account
    barrier = threading.Barrier(4)
    created: list[bool] = []

    def redeem():
        try:
            barrier.wait()
            result = credit_redeem(
                store=store,
                code=account.code,
                amount=Decimal("20"),
                currency="EUR",
                idempotency_key="same",
            )
            created.append(result.created)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(created) == [False, False, False, True]
    account.refresh_from_db()
    assert account.balance == Decimal("30.00")
